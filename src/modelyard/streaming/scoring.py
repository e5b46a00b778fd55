"""Scoring one claimed batch: validate the rows, score the valid ones in one model call.

Pure with respect to the database: takes the claimed observation ids and their features
and a loaded model, returns the batch's results column by column (ids, labels,
probabilities) plus the failure rows, ready to be written in one statement each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.inference.model import LoadedModel, Scores

PROBABILITY_DECIMALS = 6


@dataclass(frozen=True)
class FailureRow:
    observation_id: int
    reason: str
    field: str | None


@dataclass
class ScoredBatch:
    """A scored batch, by column: ``observation_ids[i]`` got ``labels[i]``."""

    model_name: str
    model_version: str
    observation_ids: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # {class label: probability} per scored row; None for models without probabilities.
    probabilities: list[dict[str, float]] | None = None
    failures: list[FailureRow] = field(default_factory=list)
    score_ms: float = 0.0
    # The challenger's answers for the same rows, stored beside these, never acted on
    # (see modelyard.streaming.shadow); None when nothing is shadowed.
    shadow: ScoredBatch | None = None

    @property
    def scored(self) -> int:
        return len(self.observation_ids)

    @property
    def size(self) -> int:
        return len(self.observation_ids) + len(self.failures)


def score_rows(model: LoadedModel, ids: Sequence[int], rows: Sequence[Any]) -> ScoredBatch:
    """Score ``rows`` (features of observations ``ids``); bad rows become failures."""
    if len(ids) != len(rows):
        raise ValueError("observation ids and rows differ in length")
    batch = ScoredBatch(model_name=model.name, model_version=model.version)
    matrix, valid, invalid = model.tabular.partition(rows)
    batch.failures = [FailureRow(ids[i], exc.reason, exc.field) for i, exc in invalid]
    if not valid:
        return batch
    valid_ids = [ids[i] for i in valid]
    started = time.perf_counter()
    try:
        scores = model.score(matrix)
    except Exception:
        # The model rejects something in the batch: find the rows, score the others.
        valid_ids, scores, failures = score_one_by_one(model, matrix, valid_ids)
        batch.failures += failures
        if not valid_ids:
            return batch
    batch.score_ms = (time.perf_counter() - started) * 1000.0
    batch.observation_ids = valid_ids
    batch.labels = [str(label) for label in scores.labels]
    classes = [str(c) for c in model.classes]
    proba = scores.probabilities
    if proba is not None and proba.ndim == 2 and proba.shape[1] == len(classes):
        rounded = np.round(proba, PROBABILITY_DECIMALS).tolist()
        batch.probabilities = [dict(zip(classes, row, strict=True)) for row in rounded]
    return batch


def score_one_by_one(
    model: LoadedModel, matrix: np.ndarray, ids: list[int], what: str = "row"
) -> tuple[list[int], Scores, list[FailureRow]]:
    """Score a batch the model failed on one ``what`` (a row, an image) at a time: the ids
    it scores and their scores (in one call), and a failure for each of the others."""
    kept: list[int] = []
    rows: list[int] = []
    failures: list[FailureRow] = []
    for i, observation_id in enumerate(ids):
        try:
            model.score(matrix[i : i + 1])
        except Exception as exc:
            reason = f"the model failed on this {what}: {type(exc).__name__}: {exc}"
            failures.append(FailureRow(observation_id, reason[:1000], None))
        else:
            kept.append(observation_id)
            rows.append(i)
    if not kept:
        return kept, Scores([], None), failures
    return kept, model.score(matrix[rows]), failures
