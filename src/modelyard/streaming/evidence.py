"""Promotion and rollback on evidence: the comparison of the served version and the
challenger in its shadow decides, by a policy the settings give.

``MODELYARD_PROMOTION_POLICY=evidence``: the challenger is promoted once it beats the champion
on at least ``MODELYARD_PROMOTION_MIN_ROWS`` labelled rows both scored, by at least
``MODELYARD_PROMOTION_MARGIN`` in accuracy, with McNemar's p below
``MODELYARD_PROMOTION_MAX_P``. The champion it replaces then becomes the challenger, so the
new champion is watched: if its accuracy falls below the previous champion's by the margin
over as many rows, the promotion is rolled back. ``manual`` (the default) leaves both to a
person (``modelyard promote`` / ``rollback``, the dashboard's buttons). Every decision is
logged and recorded on the versions as tags, with its evidence.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from modelyard.loop import records
from modelyard.streaming.comparison import Comparison

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from modelyard.config import Settings
    from modelyard.inference.model import LoadedModel
    from modelyard.registry import Registry

log = logging.getLogger(__name__)

PROMOTED_BY_TAG = "modelyard.promoted_by"
PREVIOUS_CHAMPION_TAG = "modelyard.previous_champion"
EVIDENCE_TAG = "modelyard.evidence"
ROLLED_BACK_TAG = "modelyard.rolled_back"
EVIDENCE = "evidence"

Action = Literal["promote", "rollback"]


@dataclass(frozen=True)
class Policy:
    mode: Literal["manual", "evidence"]
    min_rows: int
    margin: float
    max_p: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            settings.promotion_policy,
            settings.promotion_min_rows,
            settings.promotion_margin,
            settings.promotion_max_p,
        )


@dataclass(frozen=True)
class Decision:
    action: Action | None
    reason: str


def judge(policy: Policy, c: Comparison, *, watching: bool) -> Decision:
    """What ``c`` (served version against the challenger) calls for. ``watching``: the served
    version was promoted on evidence over the challenger, which held the title before."""
    if policy.mode != EVIDENCE:
        return Decision(None, "promotion is manual")
    if c.rows < policy.min_rows or c.difference is None:
        return Decision(None, f"{c.rows} of the {policy.min_rows} labelled rows needed")
    lead = c.difference  # the challenger's accuracy minus the served version's
    if watching:
        if lead >= policy.margin and lead > 0:
            return Decision(
                "rollback",
                f"the new champion's accuracy is {lead:.3f} below the previous champion's "
                f"over {c.rows} rows (margin {policy.margin:g})",
            )
        return Decision(None, f"the new champion holds over {c.rows} rows")
    p_value = c.p_value
    if lead >= policy.margin and lead > 0 and p_value is not None and p_value < policy.max_p:
        return Decision(
            "promote",
            f"the challenger's accuracy is {lead:.3f} above the champion's over {c.rows} rows, "
            f"McNemar p = {p_value:.3g} < {policy.max_p:g}",
        )
    shown = "n/a" if p_value is None else f"{p_value:.3g}"
    return Decision(None, f"lead {lead:+.3f} over {c.rows} rows, p = {shown}: not enough")


class Promoter:
    """Acts on :func:`judge`'s decisions in the registry, recording their evidence."""

    def __init__(
        self, registry: Registry, policy: Policy, shadow_ref: str, engine: Engine | None = None
    ) -> None:
        self.registry = registry
        self.policy = policy
        self.shadow_ref = shadow_ref
        self.engine = engine  # where decisions are recorded (promotion_decisions)

    def consider(self, served: LoadedModel, challenger: LoadedModel, c: Comparison) -> Decision:
        watching = (
            served.info.tags.get(PROMOTED_BY_TAG) == EVIDENCE
            and served.info.tags.get(PREVIOUS_CHAMPION_TAG) == challenger.version
            and ROLLED_BACK_TAG not in served.info.tags
        )
        decision = judge(self.policy, c, watching=watching)
        if decision.action is None:
            return decision
        record = {
            "decision": decision.action,
            "reason": decision.reason,
            "served": served.version,
            "challenger": challenger.version,
            **asdict(c),
        }
        evidence = json.dumps(record)
        tag = self.registry.set_version_tag
        if decision.action == "promote":
            tag(challenger.version, PROMOTED_BY_TAG, EVIDENCE)
            tag(challenger.version, PREVIOUS_CHAMPION_TAG, served.version)
            tag(challenger.version, EVIDENCE_TAG, evidence)
            self.registry.promote(challenger.version)
            self.registry.set_alias(self.shadow_ref, served.version)  # watch the new champion
            log.warning(
                "promoted %s version %s over version %s on evidence: %s",
                served.name,
                challenger.version,
                served.version,
                decision.reason,
            )
            to_version = challenger.version
        else:
            tag(served.version, ROLLED_BACK_TAG, evidence)
            back = self.registry.rollback()
            to_version = back.version
            log.warning(
                "rolled %s back from version %s to version %s on evidence: %s",
                served.name,
                served.version,
                back.version,
                decision.reason,
            )
        if self.engine is not None:
            records.add_decision(
                self.engine,
                model_name=served.name,
                action=decision.action,
                decided_by=EVIDENCE,
                from_version=served.version,
                to_version=to_version,
                reason=decision.reason,
                evidence=record,
            )
        return decision
