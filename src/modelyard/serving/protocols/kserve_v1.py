"""KServe V1 (TensorFlow Serving style): ``{"instances": [...]}`` in, predictions out.

Instances are objects keyed by feature, or lists of values in feature order. The answer is
``{"predictions": [label, ...], "model_name", "model_version"}``; errors use the V2 shape
``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any

from modelyard.inputs.tabular import Records, Rows, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError
from modelyard.serving.protocols.open_inference import render

__all__ = ["decode", "encode", "render"]


def decode(payload: Any) -> TabularInput:
    """The layout of ``instances``: lists of values in feature order, or records."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise ApiError("bad_request", "the body must be an object with 'instances'")
    data = payload["instances"]
    if isinstance(data, list) and data and isinstance(data[0], list):
        return Rows(data, "instances")
    return Records(data, "instances")


def encode(prediction: Prediction) -> dict[str, Any]:
    return {
        "predictions": prediction.labels,
        "model_name": prediction.model.name,
        "model_version": prediction.model.version,
    }
