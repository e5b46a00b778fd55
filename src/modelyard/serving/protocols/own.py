"""modelyard's own protocol (``/predict``, ``/v1/predict``, ``/v2/predict``,
``/models/{name}/predict``).

Body: one record ``{"sepal_length": 5.1, ...}`` or ``{"records": [{...}, ...]}``.
One record answers ``{"label", "probabilities": {class: p}, "model": {name, version, ref}}``;
a batch answers ``{"predictions": [{"label", "probabilities"}, ...], "model": {...}}``.
Errors: ``{"error": {"code", "message", "field"}}`` (plus ``row`` for a batch row), with the
status of :data:`~modelyard.serving.errors.STATUS`.
"""

from __future__ import annotations

from typing import Any

from modelyard.inputs.tabular import Record, Records, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError
from modelyard.serving.http import Reply, json_reply


def decode(payload: Any) -> tuple[TabularInput, int | None]:
    """The inputs a body holds, and the most rows it may have (1 for a single record)."""
    if isinstance(payload, dict) and "records" in payload:
        if len(payload) != 1:
            extra = next(k for k in payload if k != "records")
            raise ApiError(
                "invalid_feature", f"unexpected key {extra!r} beside 'records'", str(extra)
            )
        return Records(payload["records"], "records"), None
    return Record(payload), 1


def encode(prediction: Prediction, ref: str, *, batch: bool) -> dict[str, Any]:
    model = prediction.model_json(ref)
    if not batch:
        return {
            "label": prediction.labels[0],
            "probabilities": prediction.probability_maps()[0],
            "model": model,
        }
    return {
        "predictions": [
            {"label": label, "probabilities": probabilities}
            for label, probabilities in zip(
                prediction.labels, prediction.probability_maps(), strict=True
            )
        ],
        "model": model,
    }


def render(error: ApiError) -> Reply:
    return json_reply(error.body(), error.status)
