"""The ``training_images`` pipeline: only wiring; the work is in :mod:`.nodes`.

Parameters: ``images`` (the folder), ``image_model`` (estimator, preprocessing,
hyperparameters) from ``conf/base/parameters_training_images.yml``; ``split``, ``tracking``
and ``promotion`` are the tabular pipeline's. Registration is the tabular pipeline's node.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from modelyard.training import nodes as tabular
from modelyard.training.images import identity, nodes


def create_pipeline() -> Pipeline:
    return pipeline(
        [
            node(nodes.load_images, ["params:images", "params:image_model"], "images", name="load"),
            node(identity.identify, ["images", "params:split"], "data_identity", name="identify"),
            node(
                nodes.choose_target,
                ["tracking", "params:images", "params:tracking"],
                "model_target",
                name="choose_model_name",
            ),
            node(
                nodes.split_images,
                ["images", "params:split"],
                ["train_images", "test_images"],
                name="split",
            ),
            node(
                nodes.fit_model,
                ["train_images", "test_images", "params:image_model"],
                "fitted_model",
                name="fit",
            ),
            node(
                nodes.evaluate_model,
                ["fitted_model", "test_images"],
                ["metrics", "confusion", "misclassified"],
                name="evaluate",
            ),
            node(tabular.plot_confusion_matrix, "confusion", "confusion_png", name="plot"),
            node(
                nodes.plot_misclassified,
                ["test_images", "misclassified"],
                "misclassified_png",
                name="plot_misclassified",
            ),
            node(
                nodes.log_training_run,
                {
                    "tracking": "model_target",
                    "fitted": "fitted_model",
                    "loaded": "images",
                    "train": "train_images",
                    "test": "test_images",
                    "metrics": "metrics",
                    "confusion_png": "confusion_png",
                    "misclassified_png": "misclassified_png",
                    "images": "params:images",
                    "split": "params:split",
                    "image_model": "params:image_model",
                    "experiment": "params:tracking.experiment",
                },
                "mlflow_run",
                name="log_to_mlflow",
            ),
            node(
                tabular.register_model,
                {
                    "tracking": "model_target",
                    "run": "mlflow_run",
                    "metrics": "metrics",
                    "data_identity": "data_identity",
                    "model_params": "params:image_model",
                    "promotion": "params:promotion",
                },
                "training_result",
                name="register",
            ),
        ]
    )
