"""The MLflow tracking server command line and environment, built from the settings."""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from modelyard.config import Settings

_LOCAL_SCHEMES = ("sqlite:", "file:")
AUTH_APP = "basic-auth"
# What a user the admin creates may do before being granted more: read every experiment and
# model (the MLflow UI, a dashboard), change nothing. modelyard's services log in as the admin.
AUTH_DEFAULT_PERMISSION = "READ"


def mlflow_server_argv(settings: Settings, *, access_log: bool = True) -> list[str]:
    """``mlflow server`` with the artifact store, served artifacts, allowed hosts and its
    Prometheus metrics on ``/metrics`` (``--expose-prometheus``); with MODELYARD_MLFLOW_AUTH,
    behind MLflow's basic-auth app (``--app-name basic-auth``, see :func:`write_auth_config`).

    The backend store URI is not here: it may hold a database password, which any user
    could read on a command line; :func:`mlflow_server_env` passes it.
    ``access_log=False`` drops uvicorn's line per request: the services poll the registry,
    and on a console those lines would outnumber everything else.
    """
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    quiet = [] if access_log else ["--uvicorn-opts", "--no-access-log"]
    auth = ["--app-name", AUTH_APP] if settings.mlflow_auth else []
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
        *auth,
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
    """The server's environment: its stores' secrets, its login, telemetry off, no job runner.

    The backend store URI (``mlflow server`` reads MLFLOW_BACKEND_STORE_URI) and an s3://
    artifact destination's endpoint and credentials, which boto3 reads under their standard
    names, come from the settings, so a ``.env`` file can hold them too.
    MLflow's job runner (huey consumers for its GenAI features, which modelyard does not
    use) is seven more processes, about 2 GB, CPU at idle and a slow shutdown. The
    basic-auth app needs a key for its CSRF tokens (the sign-up form's only): a new one per
    start does, as every worker process of the server inherits the same.
    """
    env = dict(base)
    env["MLFLOW_BACKEND_STORE_URI"] = settings.backend_store_uri
    if settings.mlflow_s3_endpoint_url:  # boto3 refuses an empty endpoint
        env["MLFLOW_S3_ENDPOINT_URL"] = settings.mlflow_s3_endpoint_url
    if settings.aws_access_key_id is not None:
        env["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    if settings.aws_secret_access_key is not None:
        env["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key.get_secret_value()
    if settings.mlflow_auth:
        env.update(auth_env(settings))
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_urlsafe(32))
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    # MLflow's own use of a deprecated Starlette module: nothing its users can act on
    env.setdefault("PYTHONWARNINGS", "ignore:starlette.middleware.wsgi is deprecated")
    return env


def prepare_local_stores(settings: Settings) -> None:
    """Create the folders a local (SQLite / file) store needs; remote stores need nothing."""
    settings.home.mkdir(parents=True, exist_ok=True)
    _local_store_folder(settings.backend_store_uri)
    destination = settings.artifacts_destination
    if "://" not in destination or destination.startswith("file://"):
        Path(destination.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def auth_config_path(settings: Settings) -> Path:
    return settings.home.resolve() / "mlflow-auth.ini"


def auth_config_text(settings: Settings) -> str:
    """The basic-auth app's configuration (``MLFLOW_AUTH_CONFIG_PATH``).

    The admin's password is not in it: MLflow reads it from MLFLOW_AUTH_ADMIN_PASSWORD
    (:func:`auth_env`). The user database URI may hold a database password. ``%`` is
    doubled: MLflow reads the file with configparser's interpolation.
    """
    username = settings.mlflow_tracking_username or ""
    lines = {
        "default_permission": AUTH_DEFAULT_PERMISSION,
        "database_uri": settings.mlflow_auth_db_uri,
        "admin_username": username,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    body = "".join(f"{key} = {value.replace('%', '%%')}\n" for key, value in lines.items())
    return f"[mlflow]\n{body}"


def write_auth_config(settings: Settings) -> Path:
    """Write the basic-auth app's configuration into MODELYARD_HOME, readable by its owner
    only, and create the folder of a SQLite user database."""
    path = auth_config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # a file an older run left with other modes
    path.write_text(auth_config_text(settings), encoding="utf-8")
    _local_store_folder(settings.mlflow_auth_db_uri)
    return path


def _local_store_folder(uri: str) -> None:
    """Create the folder of a SQLite (or file) store; a database server needs none."""
    if uri.startswith(_LOCAL_SCHEMES):
        Path(uri.split(":///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)


def auth_env(settings: Settings) -> dict[str, str]:
    """The basic-auth app's variables: its configuration and the admin's login.

    MLflow creates the admin with this password on the first start against an empty user
    database and keeps it afterwards (change it with MLflow's update-password API).
    """
    credentials = settings.mlflow_credentials
    assert credentials is not None  # the settings refuse MODELYARD_MLFLOW_AUTH without them
    username, password = credentials.basic
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_config_path(settings)),
        "MLFLOW_AUTH_ADMIN_USERNAME": username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
    }
