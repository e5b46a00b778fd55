"""Kedro-Viz of the training pipeline, served from this process."""

from __future__ import annotations

import logging
import signal
import warnings
from pathlib import Path
from types import FrameType

from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.logs import configure_logging

log = logging.getLogger(__name__)

PIPELINE = "training"
MAX_VIZ_PORT = 49151
"""Kedro-Viz refuses ports in the ephemeral range."""


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with a Kedro ``pyproject.toml``."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text(encoding="utf-8"):
            return folder
    raise ConfigError(
        f"no Kedro project (pyproject.toml with [tool.kedro]) at or above {start}: "
        "run `modelyard viz` from the modelyard repository"
    )


def run_viz(settings: Settings, project_root: Path) -> int:
    """Serve Kedro-Viz until SIGTERM or SIGINT; returns the exit code.

    Kedro-Viz's own ``kedro viz run`` is three processes (its CLI, a spawned server and a
    resource tracker), asks PyPI for a newer release and moves to another port when the
    one asked for is taken; its server function, called here, is one process on the port
    it is given.
    """
    if settings.viz_port > MAX_VIZ_PORT:
        raise ConfigError(
            f"MODELYARD_VIZ_PORT={settings.viz_port}: Kedro-Viz only serves on ports up to "
            f"{MAX_VIZ_PORT}"
        )
    from kedro.framework.startup import bootstrap_project
    from kedro_viz.server import run_server

    def stop(signum: int, _frame: FrameType | None) -> None:
        # while the pipeline loads; once serving, uvicorn stops first, then calls this again
        log.info("received %s; Kedro-Viz stopped", signal.Signals(signum).name)
        raise SystemExit(0)

    # deprecations inside Kedro-Viz and Kedro (OmegaConf's API), nothing a user can act on
    warnings.filterwarnings("ignore", message=r"ORJSONResponse is deprecated")
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        metadata = bootstrap_project(project_root)
        # importing Kedro's project module applied conf/logging.yml (the training's): take
        # the process's logging back
        configure_logging("viz", settings.log_level)
        # uvicorn's four lines at start and stop, and one per request, say nothing more
        for name in ("uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
        log.info("Kedro-Viz of the %s pipeline on %s", PIPELINE, settings.viz_ui_url)
        run_server(
            host=settings.host,
            port=settings.viz_port,
            pipeline_name=PIPELINE,
            project_path=str(project_root),
            package_name=metadata.package_name,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
