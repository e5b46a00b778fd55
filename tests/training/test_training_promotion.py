"""The promotion rule: when a new version takes the champion alias."""

from __future__ import annotations

import pytest

from modelyard.errors import ConfigError
from modelyard.registry import VersionInfo
from modelyard.training.promotion import PromotionRule, decide


def champion(**metrics: float) -> VersionInfo:
    return VersionInfo(
        name="iris",
        version="3",
        run_id="r",
        aliases=("champion",),
        created_at=0.0,
        tags={f"metric.{k}": str(v) for k, v in metrics.items()},
    )


def test_first_version_always_becomes_champion() -> None:
    for policy in ("better", "always", "never"):
        rule = PromotionRule.from_params({"policy": policy})
        assert decide(rule, {"f1_macro": 0.1}, None).promote


def test_better_needs_a_strict_improvement_beyond_the_margin() -> None:
    rule = PromotionRule.from_params({"metric": "f1_macro", "min_improvement": 0.01})
    assert decide(rule, {"f1_macro": 0.95}, champion(f1_macro=0.93)).promote
    assert not decide(rule, {"f1_macro": 0.935}, champion(f1_macro=0.93)).promote
    tie = decide(PromotionRule(), {"f1_macro": 0.93}, champion(f1_macro=0.93))
    assert not tie.promote
    assert "does not beat champion version 3" in tie.reason


def test_better_compares_the_configured_metric() -> None:
    rule = PromotionRule.from_params({"metric": "accuracy"})
    current = champion(accuracy=0.9, f1_macro=0.99)
    assert decide(rule, {"accuracy": 0.95, "f1_macro": 0.5}, current).promote


def test_always_and_never() -> None:
    current = champion(f1_macro=0.99)
    assert decide(PromotionRule(policy="always"), {"f1_macro": 0.1}, current).promote
    assert not decide(PromotionRule(policy="never"), {"f1_macro": 1.0}, current).promote


def test_champion_without_recorded_metric_is_kept() -> None:
    decision = decide(PromotionRule(), {"f1_macro": 1.0}, champion())
    assert not decision.promote
    assert "no recorded f1_macro" in decision.reason


def test_bad_rules() -> None:
    with pytest.raises(ConfigError, match=r"promotion.policy"):
        PromotionRule.from_params({"policy": "sometimes"})
    with pytest.raises(ConfigError, match=r"promotion.min_improvement"):
        PromotionRule.from_params({"min_improvement": "lots"})
    with pytest.raises(ConfigError, match=r"promotion.metric: 'auc'"):
        decide(PromotionRule(metric="auc"), {"f1_macro": 1.0}, None)
