"""The MLflow tracking server command line, built from the settings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from modelyard.config import Settings

_LOCAL_SCHEMES = ("sqlite:", "file:")


def mlflow_server_argv(settings: Settings) -> list[str]:
    """``mlflow server`` with the configured stores, served artifacts and allowed hosts."""
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    return [
        mlflow_bin,
        "server",
        "--backend-store-uri",
        settings.backend_store_uri,
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
    ]


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
