"""When a freshly trained version takes the ``champion`` alias.

The candidate is compared with the champion's *recorded* held-out metric (its
``metric.<name>`` version tag, written when that version was trained). That is cheap and
needs no model download, and is fair as long as both were evaluated on the same kind of
held-out split of the same data set; a champion trained on other data should be
compared by hand (``modelyard promote``). Policies:

- ``better`` (default): promote when ``candidate > champion + min_improvement``;
  a tie keeps the current champion.
- ``always``: every new version becomes champion.
- ``never``: new versions stay challengers until promoted by hand.

The first version of a model always becomes champion. A champion without the metric tag
(registered outside modelyard) is kept, and the reason says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from modelyard.errors import ConfigError
from modelyard.registry import VersionInfo

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


def decide(
    rule: PromotionRule, candidate: Mapping[str, float], champion: VersionInfo | None
) -> Decision:
    """Whether the candidate's held-out metrics earn it the champion alias."""
    if rule.metric not in candidate:
        raise ConfigError(
            f"promotion.metric: {rule.metric!r} is not a training metric; "
            f"choose from {sorted(candidate)}"
        )
    score = candidate[rule.metric]
    if champion is None:
        return Decision(True, "first version of the model")
    if rule.policy == "always":
        return Decision(True, "policy 'always'")
    if rule.policy == "never":
        return Decision(False, f"policy 'never' (champion is version {champion.version})")
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
