"""Training image classifiers: the Kedro ``training_images`` pipeline and its parts.

An image folder (``<root>/<class_name>/*.png|jpg|jpeg``) is loaded through the one
preprocessing function serving uses (:class:`modelyard.inputs.image.ImagePreprocessing`),
split, fitted by the configured estimator, exported to ONNX and checked against the native
model, evaluated, logged to MLflow and registered under the tabular models' promotion policy.

Importing this package is cheap; scikit-learn, MLflow and Kedro load when training runs.
"""

from __future__ import annotations

PIPELINE = "training_images"
