"""The README's set-up on a Debian machine's own Python: `make` bootstraps uv and the venv.

Debian's ``/usr/bin/python3`` is "externally managed" (PEP 668): a plain ``pip install``
into it is refused. The Makefile's bootstrap must work with that interpreter alone, in a
copy of the project, with nothing but ``/usr/bin`` and ``/bin`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import REPO_ROOT

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = Path("/usr/bin/python3")
PROJECT_FILES = ("Makefile", "pyproject.toml", "uv.lock", "README.md", ".python-version")


def _uv_pin() -> str:
    for line in (REPO_ROOT / "Makefile").read_text().splitlines():
        if line.startswith("UV_VERSION :="):
            return line.split(":=", 1)[1].strip()
    raise AssertionError("the Makefile pins no UV_VERSION")


@pytest.fixture(scope="module")
def system_python() -> Path:
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no system Python at /usr/bin/python3 (not a Debian-like machine)")
    return SYSTEM_PYTHON


@pytest.fixture(scope="module")
def plain_env() -> dict[str, str]:
    """A fresh user's environment: the system's PATH, no virtual env, no project settings.

    The machine's network settings (proxies, certificates, package indexes) stay.
    """
    dropped = ("VIRTUAL_ENV", "PYENV", "MODELYARD_", "MLFLOW_", "CONDA", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = "/usr/bin:/bin"
    return env


def test_plain_pip_is_refused_by_the_system_python(
    system_python: Path, plain_env: dict[str, str]
) -> None:
    """What the bootstrap must work around (when this machine's Python is externally managed)."""
    marker = subprocess.run(
        [str(system_python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not (Path(marker) / "EXTERNALLY-MANAGED").exists():
        pytest.skip("this machine's /usr/bin/python3 is not externally managed")
    refused = subprocess.run(
        [str(system_python), "-m", "pip", "install", "--dry-run", "uv"],
        check=False,
        capture_output=True,
        text=True,
        env=plain_env,
    )
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command of the set-up; its output, or the test fails with it."""
    done = subprocess.run(
        argv, cwd=cwd, env=env, check=False, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_make_sync_bootstraps_uv_and_the_locked_venv_with_the_system_python(
    system_python: Path, plain_env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "checkout"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, project / name)
    skip_caches = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "src", project / "src", ignore=skip_caches)
    env = {**plain_env, "UV_PYTHON": str(system_python)}
    make_sync = ["make", "sync", f"PYTHON={system_python}"]

    assert "installing uv" in _run(make_sync, project, env)
    version = _run([str(project / ".tools" / "uv" / "bin" / "uv"), "--version"], project, env)
    assert version.split()[1] == _uv_pin()
    venv_python = project / ".venv" / "bin" / "python"
    assert venv_python.resolve() == system_python.resolve()
    assert "train" in _run([str(project / ".venv" / "bin" / "modelyard"), "--help"], project, env)

    # a second run finds everything in place and installs nothing
    assert "installing uv" not in _run(make_sync, project, env)
