"""KServe V1 (TensorFlow Serving style) prediction protocol.

``POST /v1/models/{name}:predict`` with ``{"instances": [...]}`` (objects keyed by feature,
or lists of values in feature order) answers ``{"predictions": [label, ...]}`` plus
``model_name`` and ``model_version``. Errors: ``{"error": "..."}``. Serves MODELYARD_MODEL_REF.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from modelyard.inputs.tabular import Records, Rows, TabularInput
from modelyard.serving.body import read_json
from modelyard.serving.errors import ApiError, guarded
from modelyard.serving.responses import json_response
from modelyard.serving.routes.docs import (
    IRIS_ROW,
    IRIS_VALUES,
    V2_ERROR,
    error_responses,
    json_body,
    path_parameters,
)
from modelyard.serving.routes.open_inference import render
from modelyard.serving.state import predictor

UNKNOWN_EXAMPLE = {"error": "name: unknown model 'roses'; this server serves 'iris'"}


def instances(payload: Any) -> TabularInput:
    """The layout of ``instances``: lists of values in feature order, or records."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise ApiError("bad_request", "the body must be an object with 'instances'")
    data = payload["instances"]
    if isinstance(data, list) and data and isinstance(data[0], list):
        return Rows(data, "instances")
    return Records(data, "instances")


@guarded(render)
async def predict_v1(request: Request) -> Response:
    engine = predictor(request)
    with engine.arrival() as token:
        payload = await read_json(request, engine.settings.max_body_bytes)
        engine.check_name(request.path_params["name"])
        result = await engine.predict(engine.settings.model_ref, instances(payload), token)
    return json_response(
        {
            "predictions": result.labels,
            "model_name": result.model.name,
            "model_version": result.model.version,
        },
        version=result.model.version,
    )


@guarded(render)
async def model_status(request: Request) -> Response:
    engine = predictor(request)
    name = request.path_params["name"]
    engine.check_name(name)
    model = engine.primary.current
    return json_response(
        {"name": name, "ready": model is not None},
        version=model.version if model else None,
    )


@guarded(render)
async def models(request: Request) -> Response:
    return json_response({"models": [predictor(request).settings.model_name]})


def register(app: FastAPI) -> None:
    tags: list[str | Enum] = ["kserve v1"]
    app.add_api_route("/v1/models", models, methods=["GET"], tags=tags, summary="Model names.")
    app.add_api_route(
        "/v1/models/{name}",
        model_status,
        methods=["GET"],
        tags=tags,
        summary="Whether the model is ready.",
        openapi_extra=path_parameters("{name}"),
        responses=error_responses(UNKNOWN_EXAMPLE, 404, schema=V2_ERROR),
    )
    app.add_api_route(
        "/v1/models/{name}:predict",
        predict_v1,
        methods=["POST"],
        tags=tags,
        summary="KServe V1 prediction (instances → predictions).",
        openapi_extra={
            **json_body(
                {"records": {"instances": [IRIS_ROW]}, "lists": {"instances": IRIS_VALUES}},
                "`instances`: objects keyed by feature, or lists in feature order.",
            ),
            **path_parameters("{name}"),
        },
        responses=error_responses(
            {"error": "instances: row 0, field 'petal_width': required feature is missing"},
            400,
            404,
            413,
            415,
            503,
            schema=V2_ERROR,
        ),
    )
