"""`modelyard up` refuses a port that is taken, before it starts anything."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.deploy.local_stack import StackOptions, _wait_healthy
from modelyard.deploy.ports import port_in_use
from modelyard.deploy.supervisor import Supervisor
from modelyard.errors import ConfigError
from support import free_port, modelyard_argv, service_env


@contextmanager
def taken_port(listen: bool) -> Iterator[int]:
    """A loopback port held by a socket that never answers (bound, and maybe listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        if listen:
            sock.listen(1)
        yield int(sock.getsockname()[1])


def _up(tmp_path: Path, **values: object) -> subprocess.CompletedProcess[str]:
    ports = {
        "MODELYARD_API_PORT": free_port(),
        "MODELYARD_MLFLOW_PORT": free_port(),
        "MODELYARD_UI_PORT": free_port(),
        "MODELYARD_VIZ_PORT": free_port(),
        "MODELYARD_WORKER_METRICS_PORT": free_port(),
    }
    env = service_env(MODELYARD_HOME=tmp_path / "home", **{**ports, **values})
    return subprocess.run(
        modelyard_argv("up"), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_listening_port_that_never_answers_is_taken() -> None:
    with taken_port(listen=True) as port:
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", free_port())


def test_up_refuses_a_taken_mlflow_port_naming_the_setting(tmp_path: Path) -> None:
    with taken_port(listen=True) as port:
        done = _up(tmp_path, MODELYARD_MLFLOW_PORT=port)
    assert done.returncode == 1, done.stdout + done.stderr
    expected = f"port {port} is in use: stop what listens there or set MODELYARD_MLFLOW_PORT"
    assert expected in done.stdout
    assert "exited with code" not in done.stdout
    assert "starting:" not in done.stdout  # refused before anything started
    assert "Traceback" not in done.stdout + done.stderr


def test_up_refuses_a_bound_api_port(tmp_path: Path) -> None:
    with taken_port(listen=False) as port:
        done = _up(tmp_path, MODELYARD_API_PORT=port)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {port} is in use: stop what listens there or set MODELYARD_API_PORT" in (
        done.stdout
    )
    assert "starting:" not in done.stdout


def test_up_starts_no_mlflow_when_the_user_names_one(tmp_path: Path) -> None:
    # MLflow's port is taken, but the user's MLFLOW_TRACKING_URI means it is not ours to
    # start: up goes on to the next port, which is taken too.
    with taken_port(listen=True) as mlflow_port, taken_port(listen=True) as api_port:
        done = _up(
            tmp_path,
            MODELYARD_MLFLOW_PORT=mlflow_port,
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{mlflow_port}",
            MODELYARD_API_PORT=api_port,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {api_port} is in use" in done.stdout
    assert "MODELYARD_MLFLOW_PORT" not in done.stdout
    assert "starting:" not in done.stdout


def test_a_service_that_dies_on_a_port_taken_since_the_check_says_so(tmp_path: Path) -> None:
    # the port was free when up checked it, and another process took it before the service
    # bound it: the service exits (MLflow's CLI with code 0), and up names the port
    with taken_port(listen=True) as port:
        settings = Settings(_env_file=None, home=tmp_path, mlflow_port=port)  # type: ignore[call-arg]
        sup = Supervisor(dict(os.environ), out=io.StringIO())
        child = sup.start("mlflow", [sys.executable, "-c", "pass"], f"http://127.0.0.1:{port}/")
        with pytest.raises(ConfigError, match=f"port {port} is in use: .* MODELYARD_MLFLOW_PORT"):
            _wait_healthy(settings, StackOptions(startup_timeout=30), sup, child)
        sup.stop_all()
