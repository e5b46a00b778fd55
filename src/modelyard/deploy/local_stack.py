"""``modelyard up``: the whole local stack as child processes, in dependency order.

MLflow first (unless ``MLFLOW_TRACKING_URI`` points at a server of its own), then the
demo's two models when no champion exists yet, the database migrations, and the
long-running services, each waited on until healthy. Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from modelyard.config import Settings
from modelyard.deploy.mlflow_server import prepare_local_stores
from modelyard.deploy.supervisor import StartupError, Supervisor
from modelyard.errors import ModelyardError
from modelyard.extras import check_services
from modelyard.registry import Registry

log = logging.getLogger(__name__)

DEMO_ESTIMATORS = ("logistic_regression", "random_forest")


@dataclass(frozen=True)
class StackOptions:
    mlflow: bool = True
    train: bool = True
    stream: bool = True
    ui: bool = True
    viz: bool = True
    startup_timeout: float = 180.0


def _module_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelyard", *args]


def child_env(settings: Settings) -> dict[str, str]:
    """The environment every child gets: ours, the venv first on PATH, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    env["PYTHONUNBUFFERED"] = "1"
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    env["MODELYARD_HOME"] = str(settings.home.resolve())
    return env


def _runs_own_mlflow(settings: Settings) -> bool:
    own = {f"http://{h}:{settings.mlflow_port}" for h in (settings.client_host, "localhost")}
    return settings.tracking_uri.rstrip("/") in own


def urls(settings: Settings, options: StackOptions) -> dict[str, str]:
    out = {
        "MLflow": settings.mlflow_ui_url,
        "API": f"{settings.api_base_url}/docs",
    }
    if settings.worker_metrics_port:
        out["Worker metrics"] = settings.worker_metrics_endpoint
    if options.ui:
        out["Dashboard"] = f"http://{settings.client_host}:{settings.ui_port}/"
    if options.viz:
        out["Kedro-Viz"] = settings.viz_base_url
    return out


def run_stack(settings: Settings, options: StackOptions, supervisor: Supervisor) -> int:
    """Start everything, wait for a stop request or a crash; return the exit code."""
    # before anything starts: does each service it will start have its extra?
    own_mlflow = options.mlflow and _runs_own_mlflow(settings)
    starts = {"mlflow": own_mlflow, "train": options.train, "db": True, "worker": True}
    starts |= {"stream": options.stream, "ui": options.ui, "viz": options.viz}
    check_services(name for name, on in starts.items() if on)

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping the stack", signal.Signals(signum).name)
        supervisor.stopping.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _start(settings, options, supervisor)
        supervisor._echo("up", "the stack is ready:")
        for name, url in urls(settings, options).items():
            supervisor._echo("up", f"  {name:<15} {url}")
        supervisor._echo("up", "press Ctrl-C to stop")
        while not supervisor.stopping.wait(0.5):
            crashed = supervisor.first_exited()
            if crashed is not None:
                supervisor._echo(
                    "up",
                    f"{crashed.name} exited with code {crashed.process.returncode}; "
                    "stopping the stack",
                )
                return 1
        return 0
    except StartupError as exc:
        if supervisor.stopping.is_set():
            return 0
        supervisor._echo("up", f"error: {exc}")
        return 1
    except ModelyardError as exc:
        supervisor._echo("up", f"error: {exc}")
        return 1
    finally:
        supervisor.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start(settings: Settings, options: StackOptions, sup: Supervisor) -> None:
    timeout = options.startup_timeout
    prepare_local_stores(settings)
    if options.mlflow and _runs_own_mlflow(settings):
        child = sup.start("mlflow", _module_argv("mlflow"), f"{settings.tracking_uri}/health")
        took = sup.wait_healthy(child, timeout)
        sup._echo("up", f"mlflow healthy after {took:.1f}s")

    if options.train and Registry.from_settings(settings).champion() is None:
        for estimator in DEMO_ESTIMATORS:
            if sup.stopping.is_set():
                raise StartupError("stopping")
            code = sup.run_once("train", _module_argv("train", "--estimator", estimator))
            if code != 0:
                raise StartupError(f"training the {estimator} model failed (exit code {code})")

    code = sup.run_once("db", _module_argv("db", "upgrade"))
    if code != 0:
        raise StartupError(f"database migrations failed (exit code {code})")

    services: list[tuple[str, list[str], str | None]] = [
        ("api", _module_argv("serve"), f"{settings.api_base_url}/ready"),
        (
            "worker",
            _module_argv("worker"),
            settings.worker_metrics_endpoint if settings.worker_metrics_port else None,
        ),
    ]
    if options.stream:
        services.append(("stream", _module_argv("stream"), None))
    if options.ui:
        services.append(
            ("ui", _module_argv("ui"), f"http://{settings.client_host}:{settings.ui_port}/")
        )
    if options.viz:
        services.append(("viz", _module_argv("viz"), f"{settings.viz_base_url}/"))
    started = [sup.start(name, argv, health) for name, argv, health in services]
    for child in started:
        if child.health_url is not None:
            took = sup.wait_healthy(child, timeout)
            sup._echo("up", f"{child.name} healthy after {took:.1f}s")
