"""``modelyard up``: the whole local stack as child processes, in dependency order.

MLflow first (unless the user set ``MLFLOW_TRACKING_URI``: then that server is used and
none is started), then the demos' models when they have no champion yet (iris's two
versions, and the ``digits`` image classifier's two generations, trained on scikit-learn's
digits written as PNG files under ``MODELYARD_IMAGE_SAMPLES_DIR``), the database
migrations, and the long-running services, each waited on until healthy (with
``--monitoring``, Prometheus and Alertmanager first: :mod:`modelyard.deploy.monitoring`).
Every port a service is to listen on must be free: ``up`` refuses, naming the port and its
setting, rather than talk to whatever answers there. Ctrl-C or SIGTERM stops them all.
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
from modelyard.deploy import monitoring
from modelyard.deploy.mlflow_server import prepare_local_stores
from modelyard.deploy.ports import require_free
from modelyard.deploy.supervisor import Child, StartupError, Supervisor
from modelyard.errors import ModelyardError
from modelyard.extras import check_services
from modelyard.registry import Registry

log = logging.getLogger(__name__)

IMAGE_DEMO_MODEL = "digits"


@dataclass(frozen=True)
class StackOptions:
    mlflow: bool = True
    train: bool = True
    images: bool = True
    stream: bool = True
    ui: bool = True
    viz: bool = True
    monitoring: bool = False
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
    """Whether ``up`` starts MLflow: only when the user did not name a server of their own."""
    return settings.mlflow_tracking_uri is None


def _listening_ports(settings: Settings, options: StackOptions) -> list[tuple[str, int, str]]:
    """(service, port, setting) for every server ``up`` is to start."""
    ports = [("api", settings.api_port, "MODELYARD_API_PORT")]
    if options.mlflow and _runs_own_mlflow(settings):
        ports.insert(0, ("mlflow", settings.mlflow_port, "MODELYARD_MLFLOW_PORT"))
    if settings.worker_metrics_port:
        ports.append(("worker", settings.worker_metrics_port, "MODELYARD_WORKER_METRICS_PORT"))
    if options.ui:
        ports.append(("ui", settings.ui_port, "MODELYARD_UI_PORT"))
    if options.viz:
        ports.append(("viz", settings.viz_port, "MODELYARD_VIZ_PORT"))
    if options.monitoring:
        ports.append(("prometheus", settings.prometheus_port, "MODELYARD_PROMETHEUS_PORT"))
        alertmanager = ("alertmanager", settings.alertmanager_port, "MODELYARD_ALERTMANAGER_PORT")
        ports.append(alertmanager)
    return ports


def _require_free(settings: Settings, options: StackOptions, *services: str) -> None:
    for service, port, setting in _listening_ports(settings, options):
        if not services or service in services:
            require_free(settings.host, port, setting, connect_host=settings.client_host)


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
    if options.monitoring:
        out["Prometheus"], out["Alertmanager"] = monitoring.urls(settings)
    return out


def run_stack(settings: Settings, options: StackOptions, supervisor: Supervisor) -> int:
    """Start everything, wait for a stop request or a crash; return the exit code."""
    # before anything starts: does each service it will start have its extra?
    own_mlflow = options.mlflow and _runs_own_mlflow(settings)
    starts = {"mlflow": own_mlflow, "train": options.train, "db": True, "worker": True}
    starts |= {"stream": options.stream, "ui": options.ui, "viz": options.viz}
    check_services(name for name, on in starts.items() if on)

    received: list[str] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        # a terminal's Ctrl-C may reach us twice (directly and through `uv run`): said once,
        # and not from here, where the output lock may be held by the interrupted thread
        received.append(signal.Signals(signum).name)
        supervisor.stopping.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _start(settings, options, supervisor)
        supervisor.echo("up", "the stack is ready:")
        for name, url in urls(settings, options).items():
            supervisor.echo("up", f"  {name:<15} {url}")
        supervisor.echo("up", "press Ctrl-C to stop")
        while not supervisor.stopping.wait(0.5):
            crashed = supervisor.first_exited()
            if crashed is not None:
                supervisor.echo(
                    "up",
                    f"{crashed.name} exited with code {crashed.process.returncode}; "
                    "stopping the stack",
                )
                return 1
        return 0
    except StartupError as exc:
        if supervisor.stopping.is_set():
            return 0
        supervisor.echo("up", f"error: {exc}")
        return 1
    except ModelyardError as exc:
        supervisor.echo("up", f"error: {exc}")
        return 1
    finally:
        if received:
            supervisor.echo("up", f"received {received[0]}; stopping the stack")
        supervisor.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start(settings: Settings, options: StackOptions, sup: Supervisor) -> None:
    """Start the stack; what needs no MLflow starts while MLflow boots and the models train."""
    _require_free(settings, options)  # all of them now, before minutes of training
    prepare_local_stores(settings)
    own_mlflow = options.mlflow and _runs_own_mlflow(settings)
    watching: list[Child] = []
    if options.monitoring:  # first: the dashboard, started early, reads its alerts
        binaries = monitoring.find_binaries()
        watching = monitoring.start_monitoring(settings, sup, binaries, mlflow=own_mlflow)
    mlflow = None
    if own_mlflow:
        mlflow = sup.start(
            "mlflow", _module_argv("mlflow", "--no-access-log"), f"{settings.tracking_uri}/health"
        )
    else:
        sup.echo("up", f"using the MLflow server at {settings.tracking_uri} (MLFLOW_TRACKING_URI)")

    code = sup.run_once("db", _module_argv("db", "upgrade"))
    if code != 0:
        raise StartupError(f"database migrations failed (exit code {code})")
    early: list[tuple[str, list[str], str | None]] = []
    if options.ui:
        early.append(
            ("ui", _module_argv("ui"), f"http://{settings.client_host}:{settings.ui_port}/")
        )
    if options.viz:
        early.append(("viz", _module_argv("viz"), f"{settings.viz_base_url}/"))
    started = watching + _start_services(settings, options, sup, early)

    if mlflow is not None:
        took = _wait_healthy(
            settings,
            options,
            sup,
            mlflow,
            waiting_for=f"MLflow at {settings.tracking_uri}; a first start creates its database",
        )
        sup.echo("up", f"mlflow healthy after {took:.1f}s")

    if options.train and Registry.from_settings(settings).champion() is None:
        code = sup.run_once("train", [sys.executable, "-m", "modelyard.deploy.demo"])
        if code != 0:
            raise StartupError(f"training the demo models failed (exit code {code})")
    if options.train and options.images:
        _train_image_demo(settings, sup)

    _serve_every_champion(settings, sup)
    late: list[tuple[str, list[str], str | None]] = [
        ("api", _module_argv("serve"), f"{settings.api_base_url}/ready"),
        (
            "worker",
            _module_argv("worker"),
            settings.worker_metrics_endpoint if settings.worker_metrics_port else None,
        ),
    ]
    if options.stream:
        late.append(("stream", _module_argv("stream"), None))
    started = _start_services(settings, options, sup, late) + started
    for child in started:
        if child.health_url is not None:
            took = _wait_healthy(settings, options, sup, child)
            sup.echo("up", f"{child.name} healthy after {took:.1f}s")


def _wait_healthy(
    settings: Settings, options: StackOptions, sup: Supervisor, child: Child, waiting_for: str = ""
) -> float:
    """Wait for ``child``; if it died because its port was taken since the check, say that."""
    try:
        return sup.wait_healthy(child, options.startup_timeout, waiting_for=waiting_for)
    except StartupError:
        if not child.running and not sup.stopping.is_set():
            _require_free(settings, options, child.name)
        raise


def _train_image_demo(settings: Settings, sup: Supervisor) -> None:
    """Train the ``digits`` image classifier (v1 and v2) unless it has a champion already."""
    if Registry.from_settings(settings, IMAGE_DEMO_MODEL).champion() is not None:
        return
    folder = settings.image_samples.resolve()
    argv = [sys.executable, "-m", "modelyard.training.images.demo", str(folder), IMAGE_DEMO_MODEL]
    code = sup.run_once("train", argv)
    if code != 0:
        raise StartupError(f"training the image demo failed (exit code {code})")


def _serve_every_champion(settings: Settings, sup: Supervisor) -> None:
    """Unless MODELYARD_MODELS says otherwise, the API serves the default model and every
    other registered model that has a champion (the demos', and those users trained)."""
    if settings.models.strip():
        return
    try:
        champions = Registry.from_settings(settings).names_with_alias()
    except ModelyardError as exc:
        sup.echo("up", f"serving {settings.model_binding} only: cannot list the models ({exc})")
        return
    others = [name for name in champions if name != settings.model_binding.name]
    if others:
        served = [str(settings.model_binding), *(f"{name}@champion" for name in others)]
        sup.env["MODELYARD_MODELS"] = ",".join(served)
        sup.echo("up", f"the API serves {', '.join(served)} (MODELYARD_MODELS)")


def _start_services(
    settings: Settings,
    options: StackOptions,
    sup: Supervisor,
    services: list[tuple[str, list[str], str | None]],
) -> list[Child]:
    _require_free(settings, options, *(name for name, _, _ in services))
    return [sup.start(name, argv, health) for name, argv, health in services]
