"""KServe V1 (TensorFlow Serving style) endpoints: ``POST /v1/models/{name}:predict``,
``GET /v1/models/{name}`` and ``GET /v1/models``, for every served model by name."""

from __future__ import annotations

from enum import Enum

from modelyard.inputs.image import Images
from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.protocols import kserve_v1 as codec
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import (
    IMAGE_B64,
    IRIS_ROW,
    IRIS_VALUES,
    V2_ERROR,
    error_responses,
    json_body,
    path_parameters,
)

UNKNOWN_EXAMPLE = {"error": "name: unknown model 'roses'; this server serves 'iris'"}


async def predict_v1(call: Call) -> Reply:
    engine = call.engine
    with engine.arrival() as token:
        payload = await call.json(engine.settings.max_body_bytes)
        binding = engine.named(call.params["name"])
        inputs = codec.decode(payload)
        k = codec.top_k(payload, engine.settings.max_top_k) if isinstance(inputs, Images) else None
        prediction = await engine.predict(binding, inputs, token, call=call)
    return json_reply(codec.encode(prediction, k), version=prediction.model.version)


async def model_status(call: Call) -> Reply:
    name = call.params["name"]
    binding = call.engine.named(name)
    model = call.engine.catalog.configured[binding].current
    return json_reply(
        {"name": name, "ready": model is not None}, version=model.version if model else None
    )


async def models(call: Call) -> Reply:
    return json_reply({"models": list(call.engine.catalog.names)})


def register(app: ServingApp) -> None:
    tags: list[str | Enum] = ["kserve v1"]
    app.route("GET", "/v1/models", models, codec.render, tags=tags, summary="Model names.")
    app.route(
        "GET",
        "/v1/models/{name}",
        model_status,
        codec.render,
        tags=tags,
        summary="Whether the model is ready.",
        openapi_extra=path_parameters("{name}"),
        responses=error_responses(UNKNOWN_EXAMPLE, 404, schema=V2_ERROR),
    )
    app.route(
        "POST",
        "/v1/models/{name}:predict",
        predict_v1,
        codec.render,
        tags=tags,
        summary="KServe V1 prediction (instances → predictions).",
        description="Tabular models answer a label per instance; image classifiers "
        '`{"top_k": [{"label", "index", "probability"}, ...]}` per instance.',
        openapi_extra={
            **json_body(
                {
                    "records": {"instances": [IRIS_ROW]},
                    "lists": {"instances": IRIS_VALUES},
                    "images": {"instances": [{"b64": IMAGE_B64}], "top_k": 3},
                },
                "`instances`: objects keyed by feature, or lists in feature order; for an "
                'image classifier `{"b64": "<base64 image>"}` objects, with an optional '
                "`top_k` (default 5) beside `instances`.",
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
