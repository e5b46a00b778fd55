"""Kedro-Viz of the training pipeline, run as a child process that stops with us."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from modelyard.config import Settings
from modelyard.errors import ConfigError

log = logging.getLogger(__name__)

PIPELINE = "training"
STOP_GRACE_SECONDS = 10.0
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


def viz_argv(settings: Settings, pipeline: str = PIPELINE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kedro",
        "viz",
        "run",
        "--host",
        settings.host,
        "--port",
        str(settings.viz_port),
        "--no-browser",
        "--pipeline",
        pipeline,
    ]


def viz_env(base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_viz(settings: Settings, project_root: Path, base_env: dict[str, str]) -> int:
    """Run Kedro-Viz until it exits or we get SIGTERM/SIGINT; returns its exit code."""
    if settings.viz_port > MAX_VIZ_PORT:
        raise ConfigError(
            f"MODELYARD_VIZ_PORT={settings.viz_port}: Kedro-Viz only serves on ports up to "
            f"{MAX_VIZ_PORT}"
        )
    argv = viz_argv(settings)
    log.info("starting Kedro-Viz on %s (%s)", settings.viz_base_url, " ".join(argv[2:]))
    # Its own process group: `kedro viz run` serves from a child process of its own,
    # and stopping the group stops both.
    child = subprocess.Popen(argv, cwd=project_root, env=viz_env(base_env), start_new_session=True)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping Kedro-Viz", signal.Signals(signum).name)
        stopping.set()
        _signal_group(child, signal.SIGTERM)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
        if not stopping.is_set():
            log.error("Kedro-Viz exited with code %d", code)
            _signal_group(child, signal.SIGTERM)  # its server process may outlive it
            return code or 1
        if not _group_gone(child.pid, STOP_GRACE_SECONDS):
            log.warning("Kedro-Viz did not stop within %.0f s; killing it", STOP_GRACE_SECONDS)
            _signal_group(child, signal.SIGKILL)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            _signal_group(child, signal.SIGKILL)
            child.wait()


def _group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no process is left in the group (the server outlives its launcher)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _signal_group(child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, sig)
