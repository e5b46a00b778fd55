"""modelyard's own prediction endpoints: ``/predict``, ``/v1/predict``, ``/v2/predict``.

Body: one record ``{"sepal_length": 5.1, ...}`` or ``{"records": [{...}, ...]}``.
One record answers ``{"label", "probabilities": {class: p}, "model": {name, version, ref}}``;
a batch answers ``{"predictions": [{"label", "probabilities"}, ...], "model": {...}}``.
Errors: ``{"error": {"code", "message", "field"}}`` (plus ``row`` for a batch row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from modelyard.inputs.tabular import Record, Records
from modelyard.serving.body import read_json
from modelyard.serving.errors import ApiError, guarded, render_own
from modelyard.serving.responses import json_response
from modelyard.serving.routes.docs import (
    IRIS_ROW,
    IRIS_ROW_2,
    OWN_ERROR,
    error_responses,
    json_body,
)
from modelyard.serving.state import predictor

ERROR_EXAMPLE = {
    "error": {
        "code": "invalid_feature",
        "message": "field 'petal_width': required feature is missing",
        "field": "petal_width",
    }
}
SINGLE_EXAMPLE = {
    "label": "setosa",
    "probabilities": {"setosa": 0.97, "versicolor": 0.03, "virginica": 0.0},
    "model": {"name": "iris", "version": "2", "ref": "champion"},
}
BATCH_EXAMPLE = {
    "predictions": [
        {
            "label": "setosa",
            "probabilities": {"setosa": 0.97, "versicolor": 0.03, "virginica": 0.0},
        },
        {
            "label": "virginica",
            "probabilities": {"setosa": 0.0, "versicolor": 0.1, "virginica": 0.9},
        },
    ],
    "model": {"name": "iris", "version": "2", "ref": "champion"},
}


def _endpoint(path: str) -> Callable[[Request], Awaitable[Response]]:
    @guarded(render_own)
    async def endpoint(request: Request) -> Response:
        engine = predictor(request)
        with engine.arrival() as token:
            payload = await read_json(request, engine.settings.max_body_bytes)
            ref = engine.endpoints[path]
            model = engine.model(ref)
            if isinstance(payload, dict) and "records" in payload:
                if len(payload) != 1:
                    extra = next(k for k in payload if k != "records")
                    raise ApiError(
                        "invalid_feature",
                        f"unexpected key {extra!r} beside 'records'",
                        str(extra),
                    )
                result = await engine.run(model, Records(payload["records"], "records"), token)
                body: dict[str, Any] = {
                    "predictions": [
                        {"label": label, "probabilities": probabilities}
                        for label, probabilities in zip(
                            result.labels, result.probability_maps(), strict=True
                        )
                    ],
                    "model": result.model_json(ref),
                }
            else:
                result = await engine.run(model, Record(payload), token, limit=1)
                body = {
                    "label": result.labels[0],
                    "probabilities": result.probability_maps()[0],
                    "model": result.model_json(ref),
                }
        return json_response(body, version=result.model.version)

    endpoint.__name__ = "predict_" + path.strip("/").replace("/", "_")
    return endpoint


def register(app: FastAPI) -> None:
    descriptions = {
        "/predict": "Predict with the model bound to MODELYARD_MODEL_REF (default: champion).",
        "/v1/predict": "Predict with the model bound to MODELYARD_V1_MODEL (default: version 1).",
        "/v2/predict": "Predict with the model bound to MODELYARD_V2_MODEL (default: champion).",
    }
    for path, description in descriptions.items():
        app.add_api_route(
            path,
            _endpoint(path),
            methods=["POST"],
            tags=["predict"],
            summary=description,
            description=(
                'Send one record, or `{"records": [...]}` for a batch. The answer names the '
                "model version (also in the `X-Model-Version` header)."
            ),
            openapi_extra=json_body(
                {"one_record": IRIS_ROW, "batch": {"records": [IRIS_ROW, IRIS_ROW_2]}},
                "One record of features, or a batch under `records`.",
            ),
            responses={
                200: {
                    "description": "Predictions",
                    "content": {
                        "application/json": {
                            "examples": {
                                "one_record": {"value": SINGLE_EXAMPLE},
                                "batch": {"value": BATCH_EXAMPLE},
                            }
                        }
                    },
                },
                **error_responses(ERROR_EXAMPLE, 400, 404, 413, 415, 422, 503, schema=OWN_ERROR),
            },
        )
