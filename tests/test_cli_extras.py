"""Commands whose extra is not installed say which one to install (the serving-only image)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from modelyard.extras import missing_extra
from support import EXTRAS_ONLY, free_port, modelyard_argv, serving_only_env


def _run(
    tmp_path: Path, *args: str, absent: Iterable[str] = EXTRAS_ONLY
) -> subprocess.CompletedProcess[str]:
    ports = {
        f"MODELYARD_{name}_PORT": free_port()
        for name in ("API", "MLFLOW", "UI", "VIZ", "WORKER_METRICS")
    }
    return subprocess.run(
        modelyard_argv(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=serving_only_env(
            tmp_path / "serving-only", absent, MODELYARD_HOME=tmp_path / "home", **ports
        ),
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["worker"], "stream"),
        (["db", "upgrade"], "stream"),
        (["stream", "--rate", "5"], "stream"),
        (["ui"], "ui"),
        (["train"], "train"),
        (["mlflow"], "train"),
        (["viz"], "viz"),
    ],
)
def test_a_command_without_its_extra_names_it(tmp_path: Path, args: list[str], extra: str) -> None:
    done = _run(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert f"install modelyard[{extra}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_up_names_the_extra_of_each_service_before_starting_any(tmp_path: Path) -> None:
    done = _run(tmp_path, "up")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: `modelyard up`: mlflow and train need modelyard[train]")
    assert "db, worker and stream need modelyard[stream]; ui needs modelyard[ui]" in done.stderr
    assert "install modelyard[train,stream,ui,viz]" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "home").exists()  # no store prepared, no service started


def test_up_offers_to_leave_out_the_service_whose_extra_is_missing(tmp_path: Path) -> None:
    done = _run(tmp_path, "up", absent=["kedro_viz"])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: `modelyard up`: viz needs modelyard[viz], which this installation lacks: "
        "install modelyard[viz] or run `modelyard up --no-viz` (the modelyard-app image has "
        "every extra)"
    )


def test_help_and_serve_need_no_extra(tmp_path: Path) -> None:
    done = _run(tmp_path, "serve", "--help")
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_mlflow_needs_only_the_tracking_server_of_the_train_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in the modelyard-mlflow image: the full mlflow package without Kedro or scikit-learn."""
    for module in ("kedro", "sklearn", "matplotlib"):
        monkeypatch.setitem(sys.modules, module, None)
    assert missing_extra("mlflow") is None
    assert missing_extra("train") == "train"
    monkeypatch.setitem(sys.modules, "flask", None)
    assert missing_extra("mlflow") == "train"
