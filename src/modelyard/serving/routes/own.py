"""modelyard's own prediction endpoints: ``/predict``, ``/v1/predict`` and ``/v2/predict``
(each bound to a model by the settings), ``/models/{name}/predict`` and
``/models/{name}/versions/{ref}/predict`` (any version or alias of a served model).
"""

from __future__ import annotations

from modelyard.bindings import Binding
from modelyard.serving.http import Call, Endpoint, Reply, json_reply
from modelyard.serving.protocols import own
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import (
    IMAGE_B64,
    IMAGE_RANKED,
    IRIS_ROW,
    IRIS_ROW_2,
    OWN_ERROR,
    TOP_K_PARAMETER,
    error_responses,
    image_bodies,
    path_parameters,
)

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
DIGITS_MODEL = {"name": "digits", "version": "2", "ref": "champion"}
IMAGE_EXAMPLE = {"top_k": IMAGE_RANKED, "model": DIGITS_MODEL}
IMAGES_EXAMPLE = {"predictions": [{"top_k": IMAGE_RANKED}] * 2, "model": DIGITS_MODEL}


async def predict(call: Call, binding: Binding) -> Reply:
    engine = call.engine
    settings = engine.settings
    with engine.arrival() as token:
        mime, params = own.media(call.header(b"content-type"))
        body = await call.body(settings.max_body_bytes)
        request = own.decode_body(mime, params, body, call.query("top_k"), settings.max_top_k)
        prediction = await engine.predict(binding, request.inputs, token, request.limit, call)
    return json_reply(
        own.encode(prediction, binding.ref, request), version=prediction.model.version
    )


def bound(path: str, binding: Binding) -> Endpoint:
    async def endpoint(call: Call) -> Reply:
        return await predict(call, binding)

    endpoint.__name__ = "predict_" + path.strip("/").replace("/", "_")
    return endpoint


async def predict_named(call: Call) -> Reply:
    return await predict(call, call.engine.named(call.params["name"]))


async def predict_version(call: Call) -> Reply:
    return await predict(call, call.engine.named(call.params["name"], call.params["ref"]))


def register(app: ServingApp) -> None:
    descriptions = {
        "/predict": "Predict with the model bound to MODELYARD_MODEL_REF (default: champion).",
        "/v1/predict": "Predict with the model bound to MODELYARD_V1_MODEL (default: version 1).",
        "/v2/predict": "Predict with the model bound to MODELYARD_V2_MODEL (default: champion).",
        "/models/{name}/predict": "Predict with a served model, by name (MODELYARD_MODELS).",
        "/models/{name}/versions/{ref}/predict": "Predict with any version or alias of a "
        "served model (loaded on first use).",
    }
    bindings = app.engine.settings.endpoint_bindings
    endpoints = {"/models/{name}/predict": predict_named}
    endpoints["/models/{name}/versions/{ref}/predict"] = predict_version
    for path, description in descriptions.items():
        body = image_bodies(
            {"one_record": IRIS_ROW, "batch": {"records": [IRIS_ROW, IRIS_ROW_2]}},
            {"one_image": {"image_data": IMAGE_B64, "top_k": 3}, "images": {"images": [IMAGE_B64]}},
            "One record of features, or a batch under `records`; for an image classifier, "
            "base64 images (JSON), image files (multipart/form-data) or a raw image/* body.",
        )
        app.route(
            "POST",
            path,
            endpoints.get(path) or bound(path, bindings[path]),
            own.render,
            tags=["predict"],
            summary=description,
            description=(
                'Send one record, or `{"records": [...]}` for a batch. An image classifier '
                'takes `{"image_data": "<base64>", "top_k": 5}`, `{"images": [...]}`, '
                "multipart/form-data file parts (`top_k` a form field) or an `image/*` body, "
                "and answers its `top_k` classes, most probable first. The answer names the "
                "model version (also in the `X-Model-Version` header)."
            ),
            openapi_extra={**body, **path_parameters(path, TOP_K_PARAMETER)},
            responses={
                200: {
                    "description": "Predictions",
                    "content": {
                        "application/json": {
                            "examples": {
                                "one_record": {"value": SINGLE_EXAMPLE},
                                "batch": {"value": BATCH_EXAMPLE},
                                "one_image": {"value": IMAGE_EXAMPLE},
                                "images": {"value": IMAGES_EXAMPLE},
                            }
                        }
                    },
                },
                **error_responses(ERROR_EXAMPLE, 400, 404, 413, 415, 422, 503, schema=OWN_ERROR),
            },
        )
