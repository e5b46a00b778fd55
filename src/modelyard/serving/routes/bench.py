"""The serving benchmark's constant response: the same stack answering without a model.

Registered only when ``MODELYARD_BENCH_ENDPOINTS`` is true (the serving benchmark sets it);
a production API neither serves nor documents it.
"""

from __future__ import annotations

from enum import Enum

from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.protocols.own import render
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import IRIS_ROW, json_body

CONSTANT = {"label": "setosa", "probabilities": {"setosa": 1.0}, "model": {"name": "constant"}}


async def constant_get(call: Call) -> Reply:
    return json_reply(CONSTANT)


async def constant_post(call: Call) -> Reply:
    await call.body(call.engine.settings.max_body_bytes)
    return json_reply(CONSTANT)


def register(app: ServingApp) -> None:
    tags: list[str | Enum] = ["benchmark"]
    app.route(
        "GET",
        "/bench/constant",
        constant_get,
        render,
        tags=tags,
        summary="Constant response on the same stack (benchmark's physical limit).",
    )
    app.route(
        "POST",
        "/bench/constant",
        constant_post,
        render,
        tags=tags,
        summary="Reads the body, then answers a constant prediction without any model.",
        openapi_extra=json_body({"one_record": IRIS_ROW}, "Any body; it is read and ignored."),
    )
