"""Data and model folders for the batch-scoring tests (no MLflow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris_frame() -> Any:
    """The 150 iris rows: ``id`` (``0000``...), the four features, ``species``."""
    import pandas as pd
    from sklearn.datasets import load_iris

    data = load_iris()
    frame = pd.DataFrame(np.asarray(data.data), columns=list(IRIS))
    frame.insert(0, "id", [f"{i:04d}" for i in range(len(frame))])
    frame["species"] = np.asarray(data.target_names)[data.target]
    return frame


def prepared_iris_folder(folder: Path) -> Path:
    """A LogisticRegression on iris saved as an MLflow model folder, with the prepared
    folder training adds (meta.json and the ONNX graph)."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from modelyard.inference.prepare import sklearn_prepared, write_prepared
    from modelyard.inputs.tabular import FeatureSchema

    frame = iris_frame()
    x = frame[list(IRIS)].to_numpy(dtype=np.float64)
    model = LogisticRegression(max_iter=500).fit(x, frame["species"].to_numpy())
    example = [dict(zip(IRIS, map(float, row), strict=True)) for row in x[:5]]
    folder.rmdir()  # MLflow creates it
    mlflow.sklearn.save_model(model, str(folder), serialization_format="pickle")
    meta, onnx = sklearn_prepared(model, FeatureSchema(IRIS), example)
    assert onnx is not None
    write_prepared(folder, meta, onnx)
    return folder


def prepared_digits_folder(folder: Path) -> Path:
    """Version 1 of the serving tests' ``digits`` classifier (16x16 greyscale) as a model
    folder: its prepared folder, which is all a server loads, and an ``MLmodel`` file that
    marks the folder as a model."""
    from serving_models import digits_prepared

    from modelyard.inference.prepare import write_prepared

    (folder / "MLmodel").write_text("flavors:\n  onnx: {}\nmodel_uuid: digits-1\n")
    write_prepared(folder, *digits_prepared("1"))
    return folder
