"""Scoring one claimed batch: validate each row, score the valid ones in one model call.

Pure with respect to the database: takes (observation id, features) pairs and a loaded
model, returns the prediction rows and the failure rows to write.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.errors import FeatureError
from modelyard.inference.model import LoadedModel, Scores


@dataclass(frozen=True)
class PredictionRow:
    observation_id: int
    label: str
    probabilities: dict[str, float] | None


@dataclass(frozen=True)
class FailureRow:
    observation_id: int
    reason: str
    field: str | None


@dataclass
class ScoredBatch:
    model_name: str
    model_version: str
    predictions: list[PredictionRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    score_ms: float = 0.0

    @property
    def size(self) -> int:
        return len(self.predictions) + len(self.failures)


def score_rows(model: LoadedModel, rows: Sequence[tuple[int, Any]]) -> ScoredBatch:
    """Score ``rows`` of (observation id, features); bad rows become failures, never errors."""
    batch = ScoredBatch(model_name=model.name, model_version=model.version)
    schema = model.schema
    matrix = np.empty((len(rows), len(schema.names)), dtype=np.float64)
    valid_ids: list[int] = []
    for observation_id, features in rows:
        try:
            matrix[len(valid_ids)] = schema.row_to_vector(features)
        except FeatureError as exc:
            batch.failures.append(FailureRow(observation_id, exc.reason, exc.field))
        else:
            valid_ids.append(observation_id)
    if not valid_ids:
        return batch
    started = time.perf_counter()
    try:
        scores = model.score(matrix[: len(valid_ids)])
    except Exception:
        # The model rejects something in the batch: find the rows, score the others.
        valid_ids, scores = _score_one_by_one(model, matrix, valid_ids, batch)
        if not valid_ids:
            return batch
    batch.score_ms = (time.perf_counter() - started) * 1000.0
    classes = [str(c) for c in model.classes]
    if scores.probabilities is not None and len(classes) == scores.probabilities.shape[1]:
        rounded = np.round(scores.probabilities, 6).tolist()
        batch.predictions = [
            PredictionRow(oid, str(label), dict(zip(classes, probs, strict=True)))
            for oid, label, probs in zip(valid_ids, scores.labels, rounded, strict=True)
        ]
    else:
        batch.predictions = [
            PredictionRow(oid, str(label), None)
            for oid, label in zip(valid_ids, scores.labels, strict=True)
        ]
    return batch


def _score_one_by_one(
    model: LoadedModel, matrix: np.ndarray, ids: list[int], batch: ScoredBatch
) -> tuple[list[int], Scores]:
    kept: list[int] = []
    rows: list[int] = []
    for i, observation_id in enumerate(ids):
        try:
            model.score(matrix[i : i + 1])
        except Exception as exc:
            reason = f"the model failed on this row: {type(exc).__name__}: {exc}"
            batch.failures.append(FailureRow(observation_id, reason[:1000], None))
        else:
            kept.append(observation_id)
            rows.append(i)
    if not kept:
        return kept, Scores([], None)
    return kept, model.score(matrix[rows])
