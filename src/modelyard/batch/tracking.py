"""Recording a batch run in MLflow: its model version and counts, in ``<model>-batch``.

A run is logged through :func:`~modelyard.training.tracking.training_run` (the same server
set-up and error translation as training runs) into its own experiment, by default the
model's name with ``-batch``: params say which model version scored what into where; metrics
are rows in, rows scored, rows rejected, duration and rows per second.
"""

from __future__ import annotations

import logging

from modelyard.batch.summary import BatchSummary
from modelyard.errors import RegistryError
from modelyard.training.tracking import TrackingTarget

log = logging.getLogger(__name__)

EXPERIMENT_SUFFIX = "-batch"


def experiment_for(summary: BatchSummary, experiment: str | None = None) -> str:
    return experiment or f"{summary.model_name}{EXPERIMENT_SUFFIX}"


def record_batch_run(
    target: TrackingTarget, summary: BatchSummary, experiment: str | None = None
) -> str | None:
    """Log ``summary`` as an MLflow run; its id, or None (with a warning) when MLflow
    cannot take it: the output is written already, and the run's counts are in the log."""
    import mlflow

    name = experiment_for(summary, experiment)
    from modelyard.training.tracking import training_run

    try:
        with training_run(target, name) as record:
            mlflow.log_params(summary.params())
            mlflow.log_metrics(summary.metrics())
            mlflow.set_tags({"modelyard.kind": "batch", "modelyard.clean": str(summary.clean)})
    except RegistryError as exc:
        log.warning("the batch run was not recorded in MLflow: %s", exc)
        return None
    return record.run_id
