"""Training: the Kedro ``training`` pipeline, and the ``train``/``promote``/``rollback`` commands.

Importing this package is cheap; Kedro, scikit-learn and MLflow load when training runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelyard.training.result import TrainResult

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = ["TrainResult", "train"]


def train(
    settings: Settings, params: Mapping[str, Any] | None = None, pipeline: str = "training"
) -> TrainResult:
    """Train, evaluate, log to MLflow and register one model version.

    ``params`` are overrides merged over ``conf/base/parameters_training*.yml``, e.g.
    ``{"model": {"estimator": "random_forest"}}``; ``pipeline`` is ``training`` (tabular
    data) or ``training_images`` (an image folder: ``{"images": {"path": DIR}}``).
    """
    from modelyard.training.run import train as run_training

    return run_training(settings, params, pipeline)
