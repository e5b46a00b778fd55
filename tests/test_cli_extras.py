"""Commands whose extra is not installed say which one to install (the serving-only image)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import modelyard_argv, serving_only_env


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelyard_argv(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=serving_only_env(tmp_path / "serving-only", MODELYARD_HOME=tmp_path),
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["worker"], "stream"),
        (["db", "upgrade"], "stream"),
        (["stream", "--rate", "5"], "stream"),
        (["ui"], "ui"),
        (["train"], "train"),
    ],
)
def test_a_command_without_its_extra_names_it(tmp_path: Path, args: list[str], extra: str) -> None:
    done = _run(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert f"install modelyard[{extra}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_and_serve_need_no_extra(tmp_path: Path) -> None:
    done = _run(tmp_path, "serve", "--help")
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
