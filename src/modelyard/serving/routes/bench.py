"""The serving benchmark's constant response: the same stack answering without a model.

Registered only when ``MODELYARD_BENCH_ENDPOINTS`` is true (the serving benchmark sets it);
a production API neither serves nor documents it.
"""

from __future__ import annotations

from enum import Enum

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from modelyard.serving.body import read_body
from modelyard.serving.errors import guarded, render_own
from modelyard.serving.responses import json_response
from modelyard.serving.routes.docs import IRIS_ROW, json_body
from modelyard.serving.state import predictor

CONSTANT = {"label": "setosa", "probabilities": {"setosa": 1.0}, "model": {"name": "constant"}}


@guarded(render_own)
async def constant_get(request: Request) -> Response:
    return json_response(CONSTANT)


@guarded(render_own)
async def constant_post(request: Request) -> Response:
    await read_body(request, predictor(request).settings.max_body_bytes)
    return json_response(CONSTANT)


def register(app: FastAPI) -> None:
    tags: list[str | Enum] = ["benchmark"]
    app.add_api_route(
        "/bench/constant",
        constant_get,
        methods=["GET"],
        tags=tags,
        summary="Constant response on the same stack (benchmark's physical limit).",
    )
    app.add_api_route(
        "/bench/constant",
        constant_post,
        methods=["POST"],
        tags=tags,
        summary="Reads the body, then answers a constant prediction without any model.",
        openapi_extra=json_body({"one_record": IRIS_ROW}, "Any body; it is read and ignored."),
    )
