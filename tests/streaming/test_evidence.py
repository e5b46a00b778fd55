"""Promotion and rollback on evidence: the policy's judgement, and its acts in a real registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from modelyard.inference.model import LoadedModel, Scores
from modelyard.inputs.tabular import FeatureSchema
from modelyard.loop import records
from modelyard.registry import Registry, VersionInfo
from modelyard.streaming.comparison import Comparison
from modelyard.streaming.evidence import (
    EVIDENCE_TAG,
    PREVIOUS_CHAMPION_TAG,
    PROMOTED_BY_TAG,
    ROLLED_BACK_TAG,
    Policy,
    Promoter,
    judge,
)

POLICY = Policy("evidence", min_rows=200, margin=0.02, max_p=0.05)


def _comparison(rows: int, served: float, challenger: float, p: float | None) -> Comparison:
    return Comparison(rows, served, challenger, 0.9, 30, 10, p)


@pytest.mark.parametrize(
    ("c", "watching", "action"),
    [
        (_comparison(500, 0.90, 0.95, 0.001), False, "promote"),
        (_comparison(150, 0.90, 0.95, 0.001), False, None),  # too few rows
        (_comparison(500, 0.90, 0.91, 0.001), False, None),  # lead under the margin
        (_comparison(500, 0.90, 0.95, 0.20), False, None),  # could be chance
        (_comparison(500, 0.95, 0.90, 0.001), False, None),  # the champion is better
        (_comparison(500, 0.90, 0.95, 0.30), True, "rollback"),  # the new one fell behind
        (_comparison(500, 0.95, 0.94, 0.30), True, None),  # within the margin: it holds
    ],
)
def test_the_policy_judges_lead_rows_and_chance(
    c: Comparison, watching: bool, action: str | None
) -> None:
    assert judge(POLICY, c, watching=watching).action == action
    manual = Policy("manual", 200, 0.02, 0.05)
    assert judge(manual, c, watching=watching).action is None


def _loaded(info: VersionInfo) -> LoadedModel:
    return LoadedModel(
        info=info,
        ref="champion",
        schema=FeatureSchema(("x",)),
        classes=(),
        flavor="sklearn",
        input_example=[],
        load_seconds=0.0,
        _predict=lambda matrix: Scores([], None),
    )


@pytest.mark.integration
def test_a_promotion_on_evidence_is_watched_and_rolled_back(
    isolated_registry: Any, sqlite_engine: Engine
) -> None:
    reg = isolated_registry
    registry = Registry(reg.tracking_uri, reg.model_name)
    champion, challenger = reg.champion_version, reg.baseline_version
    promoter = Promoter(registry, POLICY, "challenger", sqlite_engine)

    served = _loaded(registry.resolve(champion))
    decision = promoter.consider(
        served, _loaded(registry.resolve(challenger)), _comparison(400, 0.9, 0.96, 0.002)
    )
    assert decision.action == "promote"
    assert registry.champion().version == challenger  # type: ignore[union-attr]
    assert registry.resolve("challenger").version == champion  # the old one, now watched
    promoted = registry.resolve(challenger)
    assert promoted.tags[PROMOTED_BY_TAG] == "evidence"
    assert promoted.tags[PREVIOUS_CHAMPION_TAG] == champion
    evidence = json.loads(promoted.tags[EVIDENCE_TAG])
    assert (evidence["decision"], evidence["rows"], evidence["p_value"]) == ("promote", 400, 0.002)

    # the new champion, watched against the old: it holds, then falls behind
    held = promoter.consider(
        _loaded(promoted), _loaded(registry.resolve(champion)), _comparison(400, 0.95, 0.955, 0.5)
    )
    assert held.action is None
    fell = promoter.consider(
        _loaded(promoted), _loaded(registry.resolve(champion)), _comparison(400, 0.90, 0.95, 0.5)
    )
    assert fell.action == "rollback"
    assert registry.champion().version == champion  # type: ignore[union-attr]
    assert json.loads(registry.resolve(challenger).tags[ROLLED_BACK_TAG])["decision"] == "rollback"
    # both decisions are recorded with their evidence, newest first
    with sqlite_engine.connect() as conn:
        back, forth = records.recent_decisions(conn, reg.model_name)
    assert (forth.action, forth.decided_by) == ("promote", "evidence")
    assert (forth.from_version, forth.to_version) == (champion, challenger)
    assert forth.evidence is not None and forth.evidence["rows"] == 400
    assert (back.action, back.from_version, back.to_version) == ("rollback", challenger, champion)
    assert "below the previous champion's" in back.reason
