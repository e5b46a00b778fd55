"""Helpers for tests that start real processes and talk to them over loopback."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from modelyard.extras import EXTRA_OF

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; scripts/ensure-test-services.sh installs it
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VENV_BIN = Path(sys.executable).parent


# Below Linux's ephemeral range (32768-60999 by default), from which outgoing connections
# take their local ports: a port picked there may be taken by a client socket by the time a
# server binds it, minutes later.
TEST_PORTS = range(20000, 32768)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses right now, outside the ephemeral range.

    Always one of the registered ports (up to 49151), which Kedro-Viz requires.
    """
    for _ in range(1000):
        port = random.choice(TEST_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {TEST_PORTS} on 127.0.0.1")


def service_env(**values: object) -> dict[str, str]:
    """The test process's environment plus ``values`` (None removes a variable).

    The venv's bin comes first on PATH (``mlflow`` and ``modelyard`` resolve to it) and
    telemetry is off, as on a user's machine with the documented settings.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        KEDRO_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        MLFLOW_ENABLE_TELEMETRY="false",
        PYTHONUNBUFFERED="1",
    )
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def wait_for_http(
    url: str, timeout: float = 60.0, status: int = 200, proc: subprocess.Popen[bytes] | None = None
) -> httpx.Response:
    """Poll ``url`` until it answers ``status``; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s (last: {last!r})")


def start_process(
    argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path = REPO_ROOT
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group with output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = log_path.open("ab")
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM the process group, then SIGKILL it if it has not exited in ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group
    return proc.returncode


# What the serving-only installation (the base dependencies, the modelyard-serve image)
# does not have: the extras' top-level modules.
EXTRAS_ONLY = tuple(EXTRA_OF)


def serving_only_env(
    folder: Path, absent: Iterable[str] = EXTRAS_ONLY, **values: object
) -> dict[str, str]:
    """:func:`service_env` for processes (and their children) that cannot import the extras.

    A ``sitecustomize`` module on ``PYTHONPATH`` marks each module of ``absent`` (default:
    :data:`EXTRAS_ONLY`) as absent (None in ``sys.modules``): importing one fails and
    ``importlib.util.find_spec`` finds nothing, as where only the base dependencies are
    installed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.modules.update(dict.fromkeys({sorted(absent)!r}))\n"
    )
    return service_env(PYTHONPATH=folder, **values)


def modelyard_argv(*args: str) -> list[str]:
    return [str(VENV_BIN / "modelyard"), *args]


@contextlib.contextmanager
def running(
    argv: list[str],
    env: Mapping[str, str],
    log_path: Path,
    ready_url: str | None = None,
    timeout: float = 90.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a service for the duration of a ``with`` block; its log is printed on failure."""
    proc = start_process(argv, env, log_path)
    try:
        if ready_url is not None:
            try:
                wait_for_http(ready_url, timeout=timeout, proc=proc)
            except (TimeoutError, RuntimeError):
                print(log_path.read_text(errors="replace")[-5000:])
                raise
        yield proc
    finally:
        stop_process(proc)


@dataclass(frozen=True)
class MlflowServer:
    url: str
    home: Path


@dataclass(frozen=True)
class TrainedRegistry:
    tracking_uri: str
    model_name: str
    baseline_version: str
    champion_version: str

    def env(self, home: Path, **values: object) -> dict[str, str]:
        """Environment for a modelyard process that uses this registry and ``home``."""
        return service_env(
            MLFLOW_TRACKING_URI=self.tracking_uri,
            MODELYARD_MODEL_NAME=self.model_name,
            MODELYARD_HOME=home,
            **values,
        )


PG_SERVER = "postgresql://modelyard:modelyard@127.0.0.1:5432"  # scripts/ensure-postgres.sh


@contextlib.contextmanager
def temporary_postgres_database(prefix: str) -> Iterator[str]:
    """A database on the local PostgreSQL server, dropped afterwards; skips if unreachable."""
    import uuid

    import psycopg
    import pytest

    try:
        admin = psycopg.connect(f"{PG_SERVER}/modelyard", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable as {PG_SERVER}: {exc} (scripts/ensure-postgres.sh)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI sets the server up: a skip would hide a broken set-up
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/modelyard", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
