"""modelyard's own prediction endpoints: ``/predict``, ``/v1/predict`` and ``/v2/predict``
(each bound to a model by the settings) and ``/models/{name}/predict``.
"""

from __future__ import annotations

from modelyard.bindings import Binding
from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.protocols import own
from modelyard.serving.router import Endpoint, ServingApp
from modelyard.serving.routes.docs import (
    IRIS_ROW,
    IRIS_ROW_2,
    OWN_ERROR,
    error_responses,
    json_body,
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


async def predict(call: Call, binding: Binding) -> Reply:
    engine = call.engine
    with engine.arrival() as token:
        payload = await call.json(engine.settings.max_body_bytes)
        inputs, limit = own.decode(payload)
        prediction = await engine.predict(binding, inputs, token, limit)
    body = own.encode(prediction, binding.ref, batch=limit is None)
    return json_reply(body, version=prediction.model.version)


def bound(path: str, binding: Binding) -> Endpoint:
    async def endpoint(call: Call) -> Reply:
        return await predict(call, binding)

    endpoint.__name__ = "predict_" + path.strip("/").replace("/", "_")
    return endpoint


async def predict_named(call: Call) -> Reply:
    return await predict(call, call.engine.named(call.params["name"]))


def register(app: ServingApp) -> None:
    descriptions = {
        "/predict": "Predict with the model bound to MODELYARD_MODEL_REF (default: champion).",
        "/v1/predict": "Predict with the model bound to MODELYARD_V1_MODEL (default: version 1).",
        "/v2/predict": "Predict with the model bound to MODELYARD_V2_MODEL (default: champion).",
        "/models/{name}/predict": "Predict with a served model, by name (MODELYARD_MODELS).",
    }
    bindings = app.engine.settings.endpoint_bindings
    for path, description in descriptions.items():
        named = "{" in path
        body = json_body(
            {"one_record": IRIS_ROW, "batch": {"records": [IRIS_ROW, IRIS_ROW_2]}},
            "One record of features, or a batch under `records`.",
        )
        app.route(
            "POST",
            path,
            predict_named if named else bound(path, bindings[path]),
            own.render,
            tags=["predict"],
            summary=description,
            description=(
                'Send one record, or `{"records": [...]}` for a batch. The answer names the '
                "model version (also in the `X-Model-Version` header)."
            ),
            openapi_extra={**body, **path_parameters(path)} if named else body,
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
