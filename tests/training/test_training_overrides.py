"""Parameter overrides from the command line and their checking against conf/base."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelyard.errors import ConfigError
from modelyard.training.overrides import merge, parse_params
from modelyard.training.run import check_overrides, project_path

REPO = Path(__file__).resolve().parents[2]


def base_params() -> dict[str, object]:
    return yaml.safe_load((REPO / "conf/base/parameters_training.yml").read_text())  # type: ignore[no-any-return]


def test_parse_params_types_and_nesting() -> None:
    parsed = parse_params(
        [
            "model.estimator=random_forest",
            "model.hyperparameters.random_forest.n_estimators=50",
            "model.scale=false",
            "split.test_size=0.25",
            "data.features=[a, b]",
            "data.path=null",
        ]
    )
    assert parsed == {
        "model": {
            "estimator": "random_forest",
            "scale": False,
            "hyperparameters": {"random_forest": {"n_estimators": 50}},
        },
        "split": {"test_size": 0.25},
        "data": {"features": ["a", "b"], "path": None},
    }


@pytest.mark.parametrize("item", ["model.estimator", "=x", "a..b=1"])
def test_parse_params_rejects_malformed(item: str) -> None:
    with pytest.raises(ConfigError, match="--param"):
        parse_params([item])


def test_merge_is_deep() -> None:
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_check_overrides_accepts_known_and_open_keys() -> None:
    check_overrides(
        parse_params(
            [
                "model.estimator=gradient_boosting",
                "model.hyperparameters.gradient_boosting.subsample=0.8",
                "promotion.policy=always",
            ]
        ),
        base_params(),
    )


@pytest.mark.parametrize("item", ["modle.estimator=x", "model.estimater=x", "split.sed=1"])
def test_check_overrides_rejects_typos(item: str) -> None:
    with pytest.raises(ConfigError, match="unknown training parameter"):
        check_overrides(parse_params([item]), base_params())


def test_project_path_is_the_checkout(settings_factory: object) -> None:
    from modelyard.config import Settings

    settings: Settings = settings_factory()  # type: ignore[operator]
    assert project_path(settings) == REPO


def test_project_path_setting_must_be_a_kedro_project(
    settings_factory: object, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="MODELYARD_KEDRO_PROJECT"):
        project_path(settings_factory(kedro_project=tmp_path))  # type: ignore[operator]
