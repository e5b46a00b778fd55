"""Scoring a validated matrix for any protocol: one row through the batcher, more directly."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.inference.model import LoadedModel
from modelyard.serving.batching import Arrival
from modelyard.serving.state import ServingState


@dataclass(frozen=True)
class Prediction:
    """Labels (and class probabilities, columns in ``model.classes`` order) for some rows."""

    model: LoadedModel
    labels: list[Any]
    probabilities: np.ndarray | None

    def probability_maps(self) -> list[dict[str, float]] | list[None]:
        """Per row ``{class: probability}`` (None per row when the model gives none)."""
        if self.probabilities is None:
            return [None] * len(self.labels)
        keys = [str(c) for c in self.model.classes]
        return list(map(dict, map(zip, itertools.repeat(keys), self.probabilities.tolist())))

    def model_json(self, ref: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.model.name, "version": self.model.version}
        if ref is not None:
            out["ref"] = ref
        return out


def arrival(state: ServingState) -> Arrival:
    """Tell the batcher (if on) that a request that may bring a single row is on its way."""
    return Arrival(state.batcher)


async def predict(
    state: ServingState, model: LoadedModel, matrix: np.ndarray, token: Arrival | None = None
) -> Prediction:
    """Score ``matrix`` (validated against ``model.schema``) and count the predictions."""
    batcher = state.batcher
    if batcher is not None and matrix.shape[0] == 1:
        result = await batcher.submit(model, matrix[0], token)
        model = result.model
        labels = [result.label]
        probabilities = None if result.probabilities is None else result.probabilities[None, :]
    else:
        if token is not None:
            token.leave()
        scorer = state.scorer
        if scorer is None:
            raise RuntimeError("the API is not started")
        scores = await scorer.score(model, matrix)
        labels, probabilities = scores.labels, scores.probabilities
    state.metrics.observe_predictions(model, labels, probabilities)
    return Prediction(model, labels, probabilities)
