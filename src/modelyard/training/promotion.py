"""When a freshly trained version takes the ``champion`` alias.

Two safety checks come first, whatever the policy: a version whose input schema (feature
names in order) or label set differs from the champion's is another model, not a better
one, and is never promoted automatically; nor is a champion replaced that has no recorded
schema (registered outside modelyard). Both stay challengers, with a reason that says how
to promote by hand (``modelyard promote VERSION``). Schema, labels and a fingerprint of the
held-out data are version tags (:mod:`modelyard.training.identity`), so no model is
downloaded to decide. Policies:

- ``better`` (default): promote when ``candidate > champion + min_improvement`` on the
  champion's *recorded* held-out metric (its ``metric.<name>`` tag), and only when both were
  evaluated on the same held-out data (same fingerprint); otherwise the metrics are not
  comparable and the version stays challenger. A tie keeps the current champion.
- ``always``: every new version with the champion's schema and labels becomes champion.
- ``never``: new versions stay challengers until promoted by hand.

The first version of a model always becomes champion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from modelyard.errors import ConfigError
from modelyard.registry import VersionInfo
from modelyard.training.identity import DataIdentity

Policy = Literal["better", "always", "never"]
POLICIES: tuple[Policy, ...] = ("better", "always", "never")


@dataclass(frozen=True)
class PromotionRule:
    metric: str = "f1_macro"
    min_improvement: float = 0.0
    policy: Policy = "better"

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> PromotionRule:
        params = dict(params or {})
        policy = str(params.get("policy", "better"))
        if policy not in POLICIES:
            raise ConfigError(f"promotion.policy: {policy!r} is not one of {list(POLICIES)}")
        try:
            min_improvement = float(params.get("min_improvement", 0.0))
        except (TypeError, ValueError) as exc:
            raise ConfigError("promotion.min_improvement: expected a number") from exc
        return cls(
            metric=str(params.get("metric", "f1_macro")),
            min_improvement=min_improvement,
            policy=policy,
        )


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def check_metric(rule: PromotionRule, candidate: Mapping[str, float]) -> float:
    """The candidate's value of the rule's metric; a ConfigError when it has none."""
    if rule.metric not in candidate:
        raise ConfigError(
            f"promotion.metric: {rule.metric!r} is not a training metric; "
            f"choose from {sorted(candidate)}"
        )
    return candidate[rule.metric]


def decide(
    rule: PromotionRule,
    candidate: Mapping[str, float],
    identity: DataIdentity,
    champion: VersionInfo | None,
    version: str | None = None,
) -> Decision:
    """Whether the candidate (trained on ``identity``) earns the champion alias.

    ``version`` is the candidate's version number, named in the by-hand instructions.
    """
    score = check_metric(rule, candidate)
    if champion is None:
        return Decision(True, "first version of the model")
    by_hand = f"modelyard promote {version or 'VERSION'} --model-name {champion.name}"
    whose = f"champion version {champion.version}'s"
    recorded = DataIdentity.from_tags(champion.tags)
    if recorded is None:
        return Decision(
            False,
            f"champion version {champion.version} has no recorded input schema, labels and "
            f"held-out data (registered outside modelyard), so it is not replaced "
            f"automatically; to replace it, run `{by_hand}`",
        )
    difference = identity.schema_difference(recorded, whose)
    if difference is not None:
        return Decision(
            False,
            f"{difference}: a model of other data is never promoted automatically; train it "
            f"under its own name (--model-name), or run `{by_hand}` to replace the champion",
        )
    if rule.policy == "always":
        return Decision(True, "policy 'always'")
    if rule.policy == "never":
        return Decision(False, f"policy 'never' (champion is version {champion.version})")
    if identity.holdout != recorded.holdout:
        return Decision(
            False,
            f"not comparable: champion version {champion.version} was evaluated on other "
            f"held-out data (another data set or split); compare them and run `{by_hand}` "
            "to promote by hand",
        )
    best = champion.metrics.get(rule.metric)
    if best is None:
        return Decision(False, f"champion version {champion.version} has no recorded {rule.metric}")
    if score > best + rule.min_improvement:
        return Decision(
            True,
            f"{rule.metric} {score:.4f} beats champion version {champion.version} ({best:.4f})",
        )
    return Decision(
        False,
        f"{rule.metric} {score:.4f} does not beat champion version {champion.version} "
        f"({best:.4f}) by more than {rule.min_improvement:g}",
    )
