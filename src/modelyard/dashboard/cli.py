"""``modelyard ui`` (the dashboard) and ``modelyard viz`` (Kedro-Viz of the training pipeline)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from modelyard.boundary import cli_errors
from modelyard.config import get_settings
from modelyard.extras import require_extras
from modelyard.logs import configure_logging


def ui(
    port: int | None = typer.Option(None, help="Port to serve on (default: MODELYARD_UI_PORT)."),
) -> None:
    """Serve the web dashboard: live predictions, quality, drift, models, services, pipeline."""
    with cli_errors():
        require_extras("ui")
        settings = get_settings(**({"ui_port": port} if port is not None else {}))
        from modelyard.dashboard.server import serve

        configure_logging("ui", settings.log_level)
        # one line per request and refresh would drown the service's own events
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        serve(settings)


def viz(
    port: int | None = typer.Option(None, help="Port to serve on (default: MODELYARD_VIZ_PORT)."),
) -> None:
    """Start Kedro-Viz for the training pipeline (needs the `viz` extra)."""
    from modelyard.dashboard.viz import find_project_root, run_viz

    with cli_errors():
        require_extras("viz")
        settings = get_settings(**({"viz_port": port} if port is not None else {}))
        configure_logging("viz", settings.log_level)
        root = find_project_root(Path.cwd())
        code = run_viz(settings, root)
    raise typer.Exit(code)
