"""Open Inference Protocol (KServe V2) endpoints: health, server and model metadata, model
readiness and inference, for every served model by name (``/v2/models/{name}``) and for any
version or alias of it (``/v2/models/{name}/versions/{version}``)."""

from __future__ import annotations

from enum import Enum
from importlib.metadata import version as package_version

from modelyard.inference.model import LoadedModel
from modelyard.serving.errors import known_error
from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.protocols import open_inference as codec
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import (
    IRIS_COLUMNS,
    IRIS_VALUES,
    V2_ERROR,
    error_responses,
    json_body,
    path_parameters,
    response,
)

JSON = "application/json"
NOT_READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"const": False}}}


async def _model(call: Call) -> LoadedModel:
    binding = call.engine.named(call.params["name"], call.params.get("version"))
    return await call.engine.model_for(binding)


async def live(call: Call) -> Reply:
    return json_reply({"live": True})


async def server_ready(call: Call) -> Reply:
    ready = call.engine.ready
    return json_reply({"ready": ready}, 200 if ready else 400)


async def server_metadata(call: Call) -> Reply:
    return json_reply(
        {
            "name": "modelyard",
            "version": package_version("modelyard"),
            "extensions": ["classification"],
        }
    )


async def metadata(call: Call) -> Reply:
    model = await _model(call)
    return json_reply(
        codec.metadata(model, call.engine.catalog.versions(model.name)), version=model.version
    )


async def model_ready(call: Call) -> Reply:
    name = call.params["name"]
    try:
        model = await _model(call)
    except Exception as exc:
        error = known_error(exc)
        if error is not None and error.status == 503:
            return json_reply({"name": name, "ready": False}, 400)
        raise
    return json_reply({"name": name, "ready": True}, version=model.version)


async def infer(call: Call) -> Reply:
    engine = call.engine
    with engine.arrival() as token:
        payload = await call.json(engine.settings.max_body_bytes)
        model = await _model(call)
        inputs, wanted = codec.decode(payload, model.tabular.names)
        prediction = await engine.run(model, inputs, token)
    body = codec.encode(prediction, wanted, payload)
    return json_reply(body, version=prediction.model.version)


def register(app: ServingApp) -> None:
    tags: list[str | Enum] = ["open inference (v2)"]
    app.route("GET", "/v2/health/live", live, codec.render, tags=tags, summary="Server live.")
    app.route(
        "GET",
        "/v2/health/ready",
        server_ready,
        codec.render,
        tags=tags,
        summary="Server ready: 200 once every configured model is loaded, 400 before.",
        responses={400: response("Some configured model is still loading.", JSON, NOT_READY)},
    )
    app.route("GET", "/v2", server_metadata, codec.render, tags=tags, summary="Server metadata.")
    example = {
        "one_tensor": {
            "inputs": [
                {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": IRIS_VALUES}
            ]
        },
        "tensor_per_feature": {
            "inputs": [
                {"name": c, "shape": [1], "datatype": "FP64", "data": [IRIS_VALUES[0][i]]}
                for i, c in enumerate(IRIS_COLUMNS)
            ]
        },
        "top_2_classes": {
            "inputs": [
                {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_VALUES[0]}
            ],
            "outputs": [{"name": "predict_proba", "parameters": {"classification": 2}}],
        },
    }
    shape = {"error": "input 'input-0': shape must be [rows, 4]"}
    errors = error_responses(shape, 400, 404, 503, schema=V2_ERROR)
    infer_errors = error_responses(shape, 400, 404, 413, 415, 503, schema=V2_ERROR)
    loading = response("The model is still loading.", JSON, NOT_READY)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.route(
            "GET",
            prefix,
            metadata,
            codec.render,
            tags=tags,
            summary="Model metadata.",
            openapi_extra=path_parameters(prefix),
            responses=errors,
        )
        app.route(
            "GET",
            prefix + "/ready",
            model_ready,
            codec.render,
            tags=tags,
            summary="Model ready: 200, or 400 while loading.",
            openapi_extra=path_parameters(prefix),
            responses={400: loading, **error_responses(shape, 404, schema=V2_ERROR)},
        )
        app.route(
            "POST",
            prefix + "/infer",
            infer,
            codec.render,
            tags=tags,
            summary="Inference. `{version}` is a version number or an alias (champion, ...).",
            openapi_extra={
                **json_body(example, "Tensors: one [rows, 4] or one per feature."),
                **path_parameters(prefix),
            },
            responses=infer_errors,
        )
