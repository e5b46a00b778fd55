"""``modelyard serve``: the prediction API on uvicorn."""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer

from modelyard.bindings import FOLDER_PREFIXES, Binding, parse_binding
from modelyard.boundary import cli_errors
from modelyard.config import Settings, get_settings
from modelyard.errors import ConfigError
from modelyard.logs import configure_logging


def folder_named(text: str, settings: Settings) -> Binding:
    """The binding ``--model`` names; a folder given without a name (and no
    MODELYARD_MODEL_NAME set) is served under the folder's own name."""
    binding = settings.model_binding
    source = binding.source
    if (
        source is not None
        and source.kind == "folder"
        and text.strip().startswith(FOLDER_PREFIXES)
        and "model_name" not in settings.model_fields_set
    ):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source.uri).name).strip("-.") or "model"
        return Binding(name, binding.ref)
    return binding


def serve(
    host: str | None = typer.Option(None, help="Bind address (default: MODELYARD_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: MODELYARD_API_PORT)."),
    workers: int | None = typer.Option(
        None, min=1, help="Server processes (default: MODELYARD_API_WORKERS)."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Serve only this model, [NAME@]REF: a version or alias, models:/NAME/3, "
        "models:/NAME@ALIAS, runs:/RUN_ID/PATH, a run id, m-ID, or an MLflow model folder "
        "(./path: no tracking server needed). Default: MODELYARD_MODELS / MODELYARD_MODEL_REF.",
    ),
) -> None:
    """Serve predictions over HTTP (own API, MLflow scoring, Open Inference V2, KServe V1)."""
    import uvicorn

    with cli_errors():
        if model is not None:
            try:
                parse_binding(model, "model")
            except ValueError as exc:
                raise ConfigError(f"--model: {exc}") from None
            settings = get_settings(model_ref=model, models="")
            # the server processes read their settings from the environment; every bound
            # endpoint serves this model
            binding = str(folder_named(model, settings))
            for variable in ("MODEL_REF", "V1_MODEL", "V2_MODEL"):
                os.environ[f"MODELYARD_{variable}"] = binding
            os.environ["MODELYARD_MODELS"] = ""
        if host is not None:
            # the server processes judge admin access by the address they are bound to
            os.environ["MODELYARD_HOST"] = host
        settings = get_settings()
        configure_logging("api", settings.log_level)
        uvicorn.run(
            "modelyard.serving.asgi:app",
            factory=True,
            host=settings.host,
            port=port or settings.api_port,
            workers=workers or settings.api_workers,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
            # a worker busy importing the model stack must not be taken for a hung one
            timeout_worker_healthcheck=60,
            lifespan="on",
        )
