"""Recording a batch run in MLflow: its model version and counts, in ``<model>-batch``.

A batch run is an MLflow run in its own experiment, by default the model's name with
``-batch``: params say which model version scored what into where; metrics are rows in,
rows scored, rows rejected, duration and rows per second; the tag ``modelyard.kind`` is
``batch``. It is written over MLflow's REST API (four requests), as the registry is read:
importing the mlflow package would take longer than scoring a large file, and a batch
command pays it on every run. A server that cannot take the run is a warning: the output is
written already, and the counts are in the log.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from modelyard.batch.summary import BatchSummary
from modelyard.config import masked_url
from modelyard.registry import REFUSED, access_refused, rest_client
from modelyard.training.tracking import TrackingTarget

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

EXPERIMENT_SUFFIX = "-batch"
KIND_TAG = "modelyard.kind"


class _RefusedError(Exception):
    """MLflow answered a request with an error."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def experiment_for(summary: BatchSummary, experiment: str | None = None) -> str:
    return experiment or f"{summary.model_name}{EXPERIMENT_SUFFIX}"


def record_batch_run(
    target: TrackingTarget, summary: BatchSummary, experiment: str | None = None
) -> str | None:
    """Log ``summary`` as a finished MLflow run; its id, or None (with a warning) when the
    tracking server cannot take it."""
    import httpx

    name = experiment_for(summary, experiment)
    if not target.tracking_uri.startswith(("http://", "https://")):
        log.warning(
            "the batch run was not recorded: MLFLOW_TRACKING_URI is not an MLflow server (%s)",
            masked_url(target.tracking_uri),
        )
        return None
    base = target.tracking_uri.rstrip("/") + "/api/2.0/mlflow/"
    try:
        with rest_client(
            base, float(target.http_timeout), target.http_retries, target.credentials
        ) as client:
            experiment_id = _experiment_id(client, name)
            run_id = _log_run(client, experiment_id, summary)
    except (httpx.HTTPError, _RefusedError) as exc:
        if isinstance(exc, _RefusedError) and exc.status in REFUSED:
            refused = access_refused(
                target.tracking_uri, exc.status, "record the batch run", target.credentials
            )
            log.warning("the batch run was not recorded: %s", refused)
            return None
        log.warning(
            "the batch run was not recorded in MLflow at %s: %s",
            masked_url(target.tracking_uri),
            exc,
        )
        return None
    log.info(
        "recorded the batch run %s in experiment %r: %s",
        run_id,
        name,
        target.run_url(experiment_id, run_id),
    )
    return run_id


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.request(method, path, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        message = body.get("message") if isinstance(body, dict) else None
        raise _RefusedError(
            f"{path} answered {response.status_code}: {message or response.text[:200]}",
            response.status_code,
        )
    return body if isinstance(body, dict) else {}


def _experiment_id(client: httpx.Client, name: str) -> str:
    """The experiment's id, created if it does not exist yet."""
    response = client.get("experiments/get-by-name", params={"experiment_name": name})
    if response.status_code == 200:
        return str(response.json()["experiment"]["experiment_id"])
    try:
        return str(
            _call(client, "POST", "experiments/create", json={"name": name})["experiment_id"]
        )
    except _RefusedError:
        # created meanwhile by another run: it exists now
        found = _call(client, "GET", "experiments/get-by-name", params={"experiment_name": name})
        return str(found["experiment"]["experiment_id"])


def _log_run(client: httpx.Client, experiment_id: str, summary: BatchSummary) -> str:
    now = int(time.time() * 1000)
    started = now - int(summary.seconds * 1000)
    created = _call(
        client,
        "POST",
        "runs/create",
        json={
            "experiment_id": experiment_id,
            "start_time": started,
            "run_name": f"batch-{summary.model_name}-{summary.model_version}",
            "tags": [{"key": KIND_TAG, "value": "batch"}],
        },
    )
    run_id = str(created["run"]["info"]["run_id"])
    _call(
        client,
        "POST",
        "runs/log-batch",
        json={
            "run_id": run_id,
            "params": [{"key": k, "value": v[:6000]} for k, v in summary.params().items()],
            "metrics": [
                {"key": k, "value": v, "timestamp": now, "step": 0}
                for k, v in summary.metrics().items()
            ],
            "tags": [{"key": "modelyard.clean", "value": str(summary.clean).lower()}],
        },
    )
    _call(
        client,
        "POST",
        "runs/update",
        json={"run_id": run_id, "status": "FINISHED", "end_time": now},
    )
    return run_id
