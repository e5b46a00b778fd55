"""The ``training`` pipeline: only wiring; the work is in :mod:`modelyard.training.nodes`.

``tracking`` (where to log and register) is not a parameter: the project's hook puts it in
the catalog from :class:`modelyard.config.Settings`; ``choose_model_name`` then picks the
registered model name for the data set (:mod:`modelyard.training.naming`).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from modelyard.training import identity, nodes
from modelyard.training import retraining as retraining_mod

TARGET = "params:data.target"


def create_retraining_pipeline() -> Pipeline:
    """``training`` on the original data and the database's labelled observations,
    registering a challenger only (:mod:`modelyard.training.retraining`)."""
    return create_pipeline(retraining=True)


def create_pipeline(retraining: bool = False) -> Pipeline:
    load = [node(nodes.load_dataset, "params:data", "raw_data", name="load")]
    data, promotion = "params:data", "params:promotion"
    if retraining:
        load = [
            node(nodes.load_dataset, "params:data", "original_data", name="load"),
            node(
                retraining_mod.add_observations,
                ["original_data", "params:data", "params:retrain"],
                ["raw_data", "retrain_data"],
                name="add_observations",
            ),
            node(
                retraining_mod.challenger_only,
                "params:promotion",
                "challenger_promotion",
                name="challenger_only",
            ),
        ]
        data, promotion = "retrain_data", "challenger_promotion"
    return pipeline(
        [
            *load,
            node(
                nodes.validate_dataset,
                ["raw_data", "params:data", "params:model"],
                ["dataset", "feature_names"],
                name="validate",
            ),
            node(
                identity.identify,
                ["dataset", "feature_names", TARGET, "params:data", "params:split"],
                "data_identity",
                name="identify",
            ),
            node(
                nodes.choose_target,
                ["tracking", "params:data", "params:tracking"],
                "model_target",
                name="choose_model_name",
            ),
            node(
                nodes.split_dataset,
                ["dataset", TARGET, "params:split"],
                ["train_set", "test_set"],
                name="split",
            ),
            node(
                nodes.fit_model,
                ["train_set", "feature_names", TARGET, "params:model"],
                "fitted_model",
                name="fit",
            ),
            node(
                nodes.evaluate_model,
                ["fitted_model", "test_set", "feature_names", TARGET, "params:model"],
                ["metrics", "confusion"],
                name="evaluate",
            ),
            node(nodes.plot_confusion_matrix, "confusion", "confusion_png", name="plot"),
            node(
                nodes.profile_training_data,
                ["train_set", "feature_names", TARGET],
                "training_profile",
                name="profile",
            ),
            node(
                nodes.log_training_run,
                {
                    "tracking": "model_target",
                    "model": "fitted_model",
                    "train": "train_set",
                    "test": "test_set",
                    "features": "feature_names",
                    "metrics": "metrics",
                    "confusion_png": "confusion_png",
                    "profile": "training_profile",
                    "data": data,
                    "split": "params:split",
                    "model_params": "params:model",
                    "experiment": "params:tracking.experiment",
                },
                "mlflow_run",
                name="log_to_mlflow",
            ),
            node(
                nodes.register_model,
                {
                    "tracking": "model_target",
                    "run": "mlflow_run",
                    "metrics": "metrics",
                    "data_identity": "data_identity",
                    "model_params": "params:model",
                    "promotion": promotion,
                },
                "training_result",
                name="register",
            ),
        ]
    )
