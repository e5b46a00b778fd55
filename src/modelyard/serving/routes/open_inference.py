"""Open Inference Protocol (KServe V2) endpoints: health, server and model metadata, model
readiness and inference, for every served model by name (``/v2/models/{name}``) and for any
version or alias of it (``/v2/models/{name}/versions/{version}``)."""

from __future__ import annotations

from enum import Enum
from importlib.metadata import version as package_version
from typing import Any

from modelyard.inference.model import LoadedModel
from modelyard.inputs.image import Images
from modelyard.serving.errors import known_error
from modelyard.serving.http import (
    JSON,
    OCTET_STREAM,
    Call,
    Reply,
    content_type,
    json_reply,
    media_type,
)
from modelyard.serving.protocols import open_inference as codec
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import (
    IMAGE_B64,
    IRIS_COLUMNS,
    IRIS_VALUES,
    V2_ERROR,
    error_responses,
    json_body,
    path_parameters,
    response,
)

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


async def _payload(call: Call, limit: int) -> Any:
    """The request's JSON; with the binary data extension, the JSON header with each binary
    input's data filled in (the Content-Type may then be absent, as tritonclient sends it)."""
    header = call.header(b"inference-header-content-length")
    if header is None:
        return await call.json(limit)
    raw = call.header(b"content-type")
    if raw is not None and content_type(raw)[0] != OCTET_STREAM:
        media_type(raw, (OCTET_STREAM, JSON))
    return codec.split_binary(await call.body(limit), header)


async def infer(call: Call) -> Reply:
    engine = call.engine
    with engine.arrival() as token:
        payload = await _payload(call, engine.settings.max_body_bytes)
        model = await _model(call)
        inputs, wanted = codec.decode(payload, model.schema)
        if isinstance(inputs, Images):
            codec.limit_classification(wanted, engine.settings.max_top_k)
        prediction = await engine.run(model, inputs, token)
    body = codec.encode(prediction, wanted, payload)
    version = prediction.model.version
    binary = codec.binary_outputs(payload)
    if binary:
        data, length = codec.binary_body(body, binary)
        return Reply(data, 200, OCTET_STREAM, version, ((codec.BINARY_HEADER, str(length)),))
    return json_reply(body, version=version)


def register(app: ServingApp) -> None:
    tags: list[str | Enum] = ["open inference (v2)"]
    app.route(
        "GET", "/v2/health/live", live, codec.render, "open", tags=tags, summary="Server live."
    )
    app.route(
        "GET",
        "/v2/health/ready",
        server_ready,
        codec.render,
        "open",
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
        "image_top_3": {
            "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [IMAGE_B64]}],
            "outputs": [{"name": "predict_proba", "parameters": {"classification": 3}}],
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
            description="Image classifiers also take the binary data extension: the JSON "
            "header (`Inference-Header-Content-Length` bytes) then each input's "
            "`binary_data_size` bytes; a BYTES element is a 4-byte little-endian length and "
            "its bytes. Outputs with `parameters.binary_data` are answered in binary the same "
            "way (`application/octet-stream`). `classification` k answers the top-k classes as "
            '`"score:index:label"`.',
            openapi_extra={
                **json_body(
                    example,
                    "Tensors: one [rows, 4] or one per feature; for an image classifier one "
                    "BYTES tensor [images] of base64 images (or binary: see the description).",
                ),
                **path_parameters(prefix),
            },
            responses=infer_errors,
        )
