"""Which registered model a training run goes to: one data set, one model name."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.training.naming import choose_model_name, name_from_file
from modelyard.training.nodes import choose_target
from modelyard.training.tracking import TrackingTarget

CSV = {"source": "csv", "path": "/data/wine.csv"}
IRIS = {"source": "iris", "path": None}


def chosen(data: dict[str, Any], requested: str | None = None, explicit: bool = False) -> str:
    return choose_model_name(
        requested=requested, configured="iris", configured_explicitly=explicit, data=data
    ).name


def test_a_csv_goes_to_a_model_named_after_the_file() -> None:
    assert chosen(CSV) == "wine"
    assert chosen(IRIS) == "iris"
    assert chosen(CSV, requested="wine-v2") == "wine-v2"
    assert chosen(CSV, explicit=True) == "iris"  # MODELYARD_MODEL_NAME set on purpose wins
    assert chosen(CSV, requested="red", explicit=True) == "red"  # --model-name wins over it


def test_file_names_are_sanitised() -> None:
    assert name_from_file("data/Wine Quality (red).csv") == "wine-quality-red"
    assert name_from_file("/tmp/breast_cancer.v2.csv") == "breast_cancer.v2"
    with pytest.raises(ConfigError, match="--model-name"):
        name_from_file("/tmp/___.csv")
    with pytest.raises(ConfigError, match=r"tracking\.model_name"):
        chosen(CSV, requested="a/b")


def test_the_node_tells_an_explicit_setting_from_the_default(tmp_path: Any) -> None:
    default = TrackingTarget.from_settings(Settings(_env_file=None, home=tmp_path))  # type: ignore[call-arg]
    assert not default.model_name_explicit
    target = choose_target(default, CSV, {"model_name": None})
    assert (target.model_name, target.model_name_source) == ("wine", "named after wine.csv")
    assert target.tracking_uri == default.tracking_uri

    explicit = TrackingTarget.from_settings(
        Settings(_env_file=None, home=tmp_path, model_name="iris")  # type: ignore[call-arg]
    )
    assert explicit.model_name_explicit
    assert choose_target(explicit, CSV, {}).model_name == "iris"
    assert choose_target(explicit, CSV, {"model_name": "wine"}).model_name == "wine"
