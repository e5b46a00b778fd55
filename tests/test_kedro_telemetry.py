"""Kedro's own CLI in this project sends no telemetry and edits no file, whatever the environment.

Kedro depends on kedro-telemetry. Its CLI hook runs before every ``kedro`` command in a
project (``kedro info`` as much as ``kedro run``): unless it finds consent refused, it
appends a ``[tool.kedro_telemetry]`` project id to ``pyproject.toml``, writes a user id
under the user's config folder and posts an event to Heap. Each test runs Kedro in a copy
of the project with the telemetry variables unset and every HTTP(S) request sent to a
local listener that only records whether anything connected.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.registry import Registry
from support import REPO_ROOT, VENV_BIN, MlflowServer, service_env

OPT_OUT = ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK")


def copy_project(target: Path) -> Path:
    """The project's root files and Kedro configuration (the code is the installed package)."""
    target.mkdir()
    for path in REPO_ROOT.iterdir():
        if path.is_file() and path.name != ".env":
            shutil.copy2(path, target / path.name)
    shutil.copytree(REPO_ROOT / "conf", target / "conf")
    (target / "src").mkdir()  # Kedro wants the source folder to exist
    return target


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def kedro_env(tmp_path: Path, listener: socket.socket, **values: object) -> dict[str, str]:
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = service_env(
        HOME=tmp_path / "user",
        XDG_CONFIG_HOME=tmp_path / "user" / ".config",
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        **values,
    )
    for key in OPT_OUT:
        env.pop(key)
    return env


def connected(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def assert_nothing_sent_or_written(
    project: Path, pyproject: bytes, tmp_path: Path, listener: socket.socket, output: str
) -> None:
    found = {
        "pyproject.toml edited": (project / "pyproject.toml").read_bytes() != pyproject,
        "user id written": bool(list((tmp_path / "user").rglob("telemetry.toml"))),
        "consent assumed": "Kedro is sending anonymous usage data" in output,
        "network reached": connected(listener),
    }
    assert not any(found.values()), found


def run_kedro(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "kedro"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_kedro_info_sends_nothing_and_edits_nothing(
    tmp_path: Path, listener: socket.socket
) -> None:
    project = copy_project(tmp_path / "project")
    pyproject = (project / "pyproject.toml").read_bytes()
    done = run_kedro(project, kedro_env(tmp_path, listener), "info")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "kedro_telemetry" in output  # the plugin is installed and was asked
    assert_nothing_sent_or_written(project, pyproject, tmp_path, listener, output)


@pytest.mark.integration
def test_kedro_run_of_the_readme_sends_nothing_and_edits_nothing(
    mlflow_server: MlflowServer, tmp_path: Path, listener: socket.socket
) -> None:
    project = copy_project(tmp_path / "project")
    pyproject = (project / "pyproject.toml").read_bytes()
    name = f"telemetry-{uuid.uuid4().hex[:8]}"
    env = kedro_env(
        tmp_path,
        listener,
        MLFLOW_TRACKING_URI=mlflow_server.url,
        MODELYARD_MODEL_NAME=name,
        MODELYARD_HOME=tmp_path / "home",
    )
    done = run_kedro(project, env, "run", "--pipeline", "training")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert Registry(mlflow_server.url, name).versions()  # it trained and registered
    assert_nothing_sent_or_written(project, pyproject, tmp_path, listener, output)
