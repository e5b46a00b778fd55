"""The promotion rule: when a new version takes the champion alias."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.errors import ConfigError
from modelyard.registry import VersionInfo
from modelyard.training.data import IRIS_FEATURES, IRIS_TARGET, iris_frame
from modelyard.training.identity import HOLDOUT_TAG, DataIdentity, identify
from modelyard.training.promotion import PromotionRule, decide

SPLIT = {"test_size": 0.3, "seed": 47, "stratify": True}


def iris_identity(split: dict[str, object] | None = None) -> DataIdentity:
    frame = iris_frame()
    data = {"source": "iris", "target": IRIS_TARGET}
    return DataIdentity.from_dict(
        identify(frame, list(IRIS_FEATURES), IRIS_TARGET, data, split or SPLIT)
    )


IRIS = iris_identity()


def champion(identity: DataIdentity | None = IRIS, **metrics: float) -> VersionInfo:
    tags = {f"metric.{k}": str(v) for k, v in metrics.items()}
    if identity is not None:
        tags.update(identity.tags())
    return VersionInfo(
        name="iris", version="3", run_id="r", aliases=("champion",), created_at=0.0, tags=tags
    )


def test_first_version_always_becomes_champion() -> None:
    for policy in ("better", "always", "never"):
        rule = PromotionRule.from_params({"policy": policy})
        assert decide(rule, {"f1_macro": 0.1}, IRIS, None).promote


def test_better_needs_a_strict_improvement_beyond_the_margin() -> None:
    rule = PromotionRule.from_params({"metric": "f1_macro", "min_improvement": 0.01})
    assert decide(rule, {"f1_macro": 0.95}, IRIS, champion(f1_macro=0.93)).promote
    assert not decide(rule, {"f1_macro": 0.935}, IRIS, champion(f1_macro=0.93)).promote
    tie = decide(PromotionRule(), {"f1_macro": 0.93}, IRIS, champion(f1_macro=0.93))
    assert not tie.promote
    assert "does not beat champion version 3" in tie.reason


def test_better_compares_the_configured_metric() -> None:
    rule = PromotionRule.from_params({"metric": "accuracy"})
    current = champion(accuracy=0.9, f1_macro=0.99)
    assert decide(rule, {"accuracy": 0.95, "f1_macro": 0.5}, IRIS, current).promote


def test_always_and_never() -> None:
    current = champion(f1_macro=0.99)
    assert decide(PromotionRule(policy="always"), {"f1_macro": 0.1}, IRIS, current).promote
    assert not decide(PromotionRule(policy="never"), {"f1_macro": 1.0}, IRIS, current).promote


def test_champion_without_recorded_metric_is_kept() -> None:
    decision = decide(PromotionRule(), {"f1_macro": 1.0}, IRIS, champion())
    assert not decision.promote
    assert "no recorded f1_macro" in decision.reason


@pytest.mark.parametrize("policy", ["better", "always", "never"])
def test_other_input_schema_is_never_promoted(policy: str) -> None:
    frame = iris_frame().rename(columns={"petal_width": "petal_w"})
    features = [*IRIS_FEATURES[:3], "petal_w"]
    other = DataIdentity.from_dict(identify(frame, features, IRIS_TARGET, {}, SPLIT))
    decision = decide(
        PromotionRule(policy=policy),  # type: ignore[arg-type]
        {"f1_macro": 1.0},
        other,
        champion(f1_macro=0.5),
        version="4",
    )
    assert not decision.promote
    assert "input schema [sepal_length, sepal_width, petal_length, petal_w]" in decision.reason
    assert "champion version 3's [sepal_length" in decision.reason
    assert "modelyard promote 4 --model-name iris" in decision.reason
    assert "--model-name" in decision.reason


@pytest.mark.parametrize("policy", ["better", "always"])
def test_other_labels_are_never_promoted(policy: str) -> None:
    frame = iris_frame()
    frame[IRIS_TARGET] = frame[IRIS_TARGET].replace({"setosa": "bristly"})
    other = DataIdentity.from_dict(identify(frame, list(IRIS_FEATURES), IRIS_TARGET, {}, SPLIT))
    decision = decide(
        PromotionRule(policy=policy),  # type: ignore[arg-type]
        {"f1_macro": 1.0},
        other,
        champion(f1_macro=0.5),
        version="4",
    )
    assert not decision.promote
    assert "labels [bristly, versicolor, virginica] differ" in decision.reason


@pytest.mark.parametrize("policy", ["better", "always"])
def test_a_champion_without_recorded_schema_is_not_replaced(policy: str) -> None:
    rule = PromotionRule(policy=policy)  # type: ignore[arg-type]
    decision = decide(rule, {"f1_macro": 1.0}, IRIS, champion(None, f1_macro=0.5), "4")
    assert not decision.promote
    assert "no recorded input schema" in decision.reason
    assert "modelyard promote 4" in decision.reason


def test_better_compares_only_the_same_held_out_data() -> None:
    other_split = iris_identity({**SPLIT, "seed": 1})
    assert other_split.features == IRIS.features and other_split.labels == IRIS.labels
    assert other_split.holdout != IRIS.holdout
    decision = decide(PromotionRule(), {"f1_macro": 1.0}, other_split, champion(f1_macro=0.5))
    assert not decision.promote
    assert decision.reason.startswith("not comparable: champion version 3")

    # the same columns and labels, other rows: not comparable either
    fewer = iris_frame().iloc[::2].reset_index(drop=True)
    subset = DataIdentity.from_dict(
        identify(fewer, list(IRIS_FEATURES), IRIS_TARGET, {"source": "iris"}, SPLIT)
    )
    assert (subset.features, subset.labels) == (IRIS.features, IRIS.labels)
    assert not decide(PromotionRule(), {"f1_macro": 1.0}, subset, champion(f1_macro=0.5)).promote

    # policy 'always' takes any version of the same schema and labels
    always = PromotionRule(policy="always")
    assert decide(always, {"f1_macro": 0.1}, other_split, champion()).promote


def test_same_data_compares_the_metric() -> None:
    again = iris_identity()
    assert again == IRIS  # the fingerprint is reproducible
    assert decide(PromotionRule(), {"f1_macro": 0.96}, again, champion(f1_macro=0.95)).promote
    # a CSV of the same rows at any path has the same fingerprint
    csv = identify(iris_frame(), list(IRIS_FEATURES), IRIS_TARGET, {"source": "csv"}, SPLIT)
    assert csv["features"] == IRIS.features and csv["holdout"] != IRIS.holdout
    moved = identify(
        iris_frame(), list(IRIS_FEATURES), IRIS_TARGET, {"source": "csv", "path": "/x.csv"}, SPLIT
    )
    assert moved == csv


def test_long_feature_lists_are_recorded_as_a_digest() -> None:
    names = [f"feature_{i:04d}" for i in range(400)]
    frame = pd.DataFrame({n: [0.0, 1.0] for n in names})
    frame["y"] = ["a", "b"]
    identity = identify(frame, names, "y", {}, SPLIT)
    assert identity["features"].startswith("sha256:")
    assert len(DataIdentity.from_dict(identity).tags()[HOLDOUT_TAG]) == 64


def test_bad_rules() -> None:
    with pytest.raises(ConfigError, match=r"promotion.policy"):
        PromotionRule.from_params({"policy": "sometimes"})
    with pytest.raises(ConfigError, match=r"promotion.min_improvement"):
        PromotionRule.from_params({"min_improvement": "lots"})
    with pytest.raises(ConfigError, match=r"promotion.metric: 'auc'"):
        decide(PromotionRule(metric="auc"), {"f1_macro": 1.0}, IRIS, None)
