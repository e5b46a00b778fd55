"""Retraining on what the stack has seen: the original data plus the labelled observations.

The ``retraining`` pipeline is the ``training`` pipeline with one step in front
(:func:`add_observations`: a share of the original training data and the newest labelled
observations of the predictions database, as one data set) and one rule behind: the new
version is registered as ``challenger`` and never promoted by the run itself
(:func:`challenger_only`), whatever the promotion policy says. Choosing it over the champion
is the comparison's job (the shadow, live labels) or a person's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from modelyard.errors import ConfigError
from modelyard.training import data as data_mod
from modelyard.training.run import RETRAINING_PIPELINE as PIPELINE

__all__ = ["PIPELINE", "add_observations", "challenger_only", "labelled_observations"]

log = logging.getLogger(__name__)


def add_observations(
    raw: pd.DataFrame, data: Mapping[str, Any], retrain: Mapping[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``retrain.data_share`` of the original rows (a seeded sample) and the newest
    ``retrain.observations`` labelled observations that have every feature; and ``data``
    with what was taken recorded (``retrain.*``: logged with the run)."""
    from modelyard.training.hooks import run_settings

    share = float(retrain.get("data_share", 1.0))
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"retrain.data_share: expected a fraction from 0 to 1, got {share}")
    limit = int(retrain.get("observations", 10_000))
    if limit < 0:
        raise ConfigError(f"retrain.observations: expected a count of rows, got {limit}")
    target = str(data.get("target") or "")
    features = data_mod.feature_columns(raw, target, data.get("features"))
    original = (
        raw.sample(frac=share, random_state=int(retrain.get("seed", 0))) if share < 1 else raw
    )
    observed, skipped = labelled_observations(
        run_settings().db_url, features, target, limit, retrain.get("source")
    )
    if original.empty and observed.empty:
        raise ConfigError(
            "retrain: no rows to train on (retrain.data_share is 0 and the database has no "
            "labelled observations with every feature)"
        )
    combined = pd.concat([original[[*features, target]], observed], ignore_index=True)
    log.info(
        "retraining on %d original rows and %d labelled observations (%d without every "
        "feature left out)",
        len(original),
        len(observed),
        skipped,
    )
    recorded = {
        **dict(data),
        "retrain.original_rows": len(original),
        "retrain.observations": len(observed),
        "retrain.data_share": share,
    }
    return combined, recorded


def labelled_observations(
    database_url: str, features: list[str], target: str, limit: int, source: Any = None
) -> tuple[pd.DataFrame, int]:
    """The newest ``limit`` labelled observations as a frame of ``features`` and ``target``
    (optionally only those of ``source``); and how many lacked a feature."""
    from sqlalchemy import select

    from modelyard.db.engine import make_engine
    from modelyard.db.migrate import check_schema
    from modelyard.db.models import Observation

    columns = [*features, target]
    if limit == 0:
        return pd.DataFrame(columns=columns), 0
    engine = make_engine(database_url)
    try:
        check_schema(engine)
        stmt = (
            select(Observation.features, Observation.label)
            .where(Observation.label.is_not(None))
            .order_by(Observation.id.desc())
            .limit(limit)
        )
        if source is not None:
            stmt = stmt.where(Observation.source == str(source))
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    finally:
        engine.dispose()
    kept = [
        {**{name: values[name] for name in features}, target: label}
        for values, label in rows
        if isinstance(values, dict) and all(name in values for name in features)
    ]
    return pd.DataFrame(kept, columns=columns), len(rows) - len(kept)


def challenger_only(promotion: Mapping[str, Any]) -> dict[str, Any]:
    """The promotion parameters with the policy ``never``: a retrained version is registered
    as challenger and the champion is left as it is."""
    return {**dict(promotion), "policy": "never"}
