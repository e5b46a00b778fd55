"""The ``inference`` pipeline's nodes, which ``modelyard score`` runs in the same order.

load the model → plan the run (every check before work) → score → record in MLflow.
:func:`plan_run` is pure given the file system; :func:`load_model` reads the registry,
:func:`score` writes the output (or the predictions table) and :func:`record_run` the
MLflow run. The settings (MLflow, the model cache, the database) are the run's: those
``modelyard score`` read, or under ``kedro run`` the environment's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.batch.plan import DEFAULT_TOP_K, BatchRequest, Plan, plan_batch
from modelyard.batch.summary import BatchSummary
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel
from modelyard.training.tracking import TrackingTarget

log = logging.getLogger(__name__)

PARAMETERS = (
    "model",
    "input",
    "output",
    "rejects",
    "keys",
    "chunk_rows",
    "top_k",
    "overwrite",
    "experiment",
)


def request_from_params(params: Mapping[str, Any], default_chunk_rows: int) -> BatchRequest:
    """The ``inference`` parameters as a request; a ConfigError naming a bad one."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ConfigError(f"unknown inference parameter {'inference.' + unknown[0]!r}")
    source = params.get("input")
    if not source:
        raise ConfigError(
            "inference.input: name a CSV or Parquet file, an image folder or database"
        )
    keys = params.get("keys")
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if keys is not None and not isinstance(keys, list | tuple):
        raise ConfigError(f"inference.keys: a list of column names, got {keys!r}")
    return BatchRequest(
        input=str(source),
        output=_path(params.get("output")),
        rejects=_path(params.get("rejects")),
        keys=None if keys is None else tuple(str(k) for k in keys),
        chunk_rows=int(params.get("chunk_rows") or default_chunk_rows),
        top_k=int(params.get("top_k") or DEFAULT_TOP_K),
        overwrite=bool(params.get("overwrite", False)),
    )


def _path(value: Any) -> Path | None:
    return Path(str(value)) if value else None


def load_model(params: Mapping[str, Any]) -> LoadedModel:
    """The model ``inference.model`` names (null: MODELYARD_MODEL_REF), loaded."""
    from modelyard.batch.models import load_batch_model
    from modelyard.training.hooks import run_settings

    model = load_batch_model(run_settings(), params.get("model"))
    log.info("scoring with %s version %s (%s)", model.name, model.version, model.info.resolved)
    return model


def plan_run(model: LoadedModel, params: Mapping[str, Any]) -> Plan:
    """Check the request against the model and the files before any work."""
    from modelyard.training.hooks import run_settings

    return plan_batch(model, request_from_params(params, run_settings().batch_chunk_rows))


def score(model: LoadedModel, plan: Plan) -> BatchSummary:
    """Score everything the plan names; one log line with the counts."""
    from modelyard.batch.job import run_plan
    from modelyard.training.hooks import run_settings

    summary = run_plan(model, plan, run_settings())
    log.info("%s", summary.describe())
    return summary


def record_run(
    tracking: TrackingTarget, summary: BatchSummary, experiment: str | None = None
) -> str | None:
    """Record the run in MLflow (experiment ``<model>-batch`` unless named); its run id."""
    from modelyard.batch.tracking import record_batch_run

    return record_batch_run(tracking, summary, experiment)
