"""The MLflow tracking server command line and environment, built from the settings."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from modelyard.config import Settings

_LOCAL_SCHEMES = ("sqlite:", "file:")


def mlflow_server_argv(settings: Settings, *, access_log: bool = True) -> list[str]:
    """``mlflow server`` with the artifact store, served artifacts, allowed hosts and its
    Prometheus metrics on ``/metrics`` (``--expose-prometheus``).

    The backend store URI is not here: it may hold a database password, which any user
    could read on a command line; :func:`mlflow_server_env` passes it.
    ``access_log=False`` drops uvicorn's line per request: the services poll the registry,
    and on a console those lines would outnumber everything else.
    """
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    quiet = [] if access_log else ["--uvicorn-opts", "--no-access-log"]
    return [
        mlflow_bin,
        "server",
        "--artifacts-destination",
        settings.artifacts_destination,
        "--serve-artifacts",
        "--host",
        settings.host,
        "--port",
        str(settings.mlflow_port),
        "--workers",
        str(settings.mlflow_workers),
        "--allowed-hosts",
        settings.mlflow_allowed_hosts,
        "--expose-prometheus",
        str(metrics_dir(settings)),
        *quiet,
    ]


def metrics_dir(settings: Settings) -> Path:
    """Where the server's Prometheus exporter keeps its per-process metric files."""
    return settings.home.resolve() / "mlflow-metrics"


def reset_metrics_dir(settings: Settings) -> None:
    """Start the server's metrics afresh: files a previous server left would add up with ours."""
    folder = metrics_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def mlflow_server_env(base: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """The server's environment: its stores' secrets, telemetry off, no job runner.

    The backend store URI (``mlflow server`` reads MLFLOW_BACKEND_STORE_URI) and an s3://
    artifact destination's endpoint and credentials, which boto3 reads under their standard
    names, come from the settings, so a ``.env`` file can hold them too.
    MLflow's job runner (huey consumers for its GenAI features, which modelyard does not
    use) is seven more processes, about 2 GB, CPU at idle and a slow shutdown.
    """
    env = dict(base)
    env["MLFLOW_BACKEND_STORE_URI"] = settings.backend_store_uri
    if settings.mlflow_s3_endpoint_url:  # boto3 refuses an empty endpoint
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.mlflow_s3_endpoint_url
    if settings.aws_access_key_id is not None:
        env["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    if settings.aws_secret_access_key is not None:
        env["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key.get_secret_value()
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    # MLflow's own use of a deprecated Starlette module: nothing its users can act on
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated")
    return env


def prepare_local_stores(settings: Settings) -> None:
    """Create the folders a local (SQLite / file) store needs; remote stores need nothing."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.backend_store_uri.startswith(_LOCAL_SCHEMES):
        Path(settings.backend_store_uri.split(":///", 1)[-1]).parent.mkdir(
            parents=True, exist_ok=True
        )
    destination = settings.artifacts_destination
    if "://" not in destination or destination.startswith("file://"):
        Path(destination.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
