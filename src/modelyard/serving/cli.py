"""``modelyard serve``: the prediction API on uvicorn."""

from __future__ import annotations

import typer

from modelyard.boundary import cli_errors
from modelyard.config import get_settings
from modelyard.logs import configure_logging


def serve(
    host: str | None = typer.Option(None, help="Bind address (default: MODELYARD_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: MODELYARD_API_PORT)."),
    workers: int | None = typer.Option(
        None, min=1, help="Server processes (default: MODELYARD_API_WORKERS)."
    ),
) -> None:
    """Serve predictions over HTTP (own API, MLflow scoring, Open Inference V2, KServe V1)."""
    import uvicorn

    with cli_errors():
        settings = get_settings()
        configure_logging("api", settings.log_level)
        uvicorn.run(
            "modelyard.serving.asgi:app",
            factory=True,
            host=host or settings.host,
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
