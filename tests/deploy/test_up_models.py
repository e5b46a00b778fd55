"""`modelyard up` serves every registered model that has a champion, unless told which."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from modelyard.config import Settings
from modelyard.deploy.local_stack import _serve_every_champion
from modelyard.deploy.supervisor import Supervisor
from support import TrainedRegistry

pytestmark = pytest.mark.integration


def _settings(registry: TrainedRegistry, tmp_path: Path, **values: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, home=tmp_path, mlflow_tracking_uri=registry.tracking_uri, **values
    )


def test_up_serves_the_default_model_and_every_other_champion(
    isolated_registry: TrainedRegistry, tmp_path: Path
) -> None:
    out = io.StringIO()
    sup = Supervisor({}, out)
    _serve_every_champion(_settings(isolated_registry, tmp_path), sup)
    served = sup.env["MODELYARD_MODELS"].split(",")
    assert served[0] == "iris@champion"
    assert f"{isolated_registry.model_name}@champion" in served
    assert "the API serves iris@champion," in out.getvalue()


def test_up_leaves_a_configured_list_alone(
    isolated_registry: TrainedRegistry, tmp_path: Path
) -> None:
    sup = Supervisor({}, io.StringIO())
    _serve_every_champion(_settings(isolated_registry, tmp_path, models="iris@2"), sup)
    assert "MODELYARD_MODELS" not in sup.env
