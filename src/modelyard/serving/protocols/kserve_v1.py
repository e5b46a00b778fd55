"""KServe V1 (TensorFlow Serving style): ``{"instances": [...]}`` in, predictions out.

Instances are objects keyed by feature, or lists of values in feature order. The answer is
``{"predictions": [label, ...], "model_name", "model_version"}``; errors use the V2 shape
``{"error": "..."}``.

An image classifier takes TensorFlow Serving's binary form, ``{"instances": [{"b64":
"<base64>"}, ...], "top_k": 5}`` (``top_k`` optional), and answers
``{"predictions": [{"top_k": [{"label", "index", "probability"}, ...]}, ...],
"model_name", "model_version"}``, one entry per instance, most probable class first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard.inputs.image import Images
from modelyard.inputs.tabular import Records, Rows, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError
from modelyard.serving.protocols import images
from modelyard.serving.protocols.open_inference import render

__all__ = ["decode", "encode", "render", "top_k"]

FIELD = "instances"


def decode(payload: Any) -> TabularInput | Images:
    """The layout of ``instances``: lists of values in feature order, records, or images
    (``{"b64": ...}`` objects)."""
    if not isinstance(payload, dict) or FIELD not in payload:
        raise ApiError("bad_request", "the body must be an object with 'instances'")
    data = payload[FIELD]
    if isinstance(data, list) and data and isinstance(data[0], list):
        return Rows(data, FIELD)
    if images.is_b64_instances(data):
        return images.b64_instances(data, FIELD)
    return Records(data, FIELD)


def top_k(payload: Mapping[str, Any], limit: int) -> int:
    """The ``top_k`` of an image request (default 5)."""
    return images.top_k(payload.get(images.TOP_K), limit)


def encode(prediction: Prediction, k: int | None = None) -> dict[str, Any]:
    """The answer; ``k``: an image request's top_k (None for a tabular one)."""
    predictions: list[Any] = prediction.labels
    if k is not None:
        predictions = [{"top_k": top} for top in images.ranked(prediction, k)]
    return {
        "predictions": predictions,
        "model_name": prediction.model.name,
        "model_version": prediction.model.version,
    }
