"""The MLflow scoring endpoints, as ``mlflow models serve`` has them: ``POST /invocations``
(the model bound to MODELYARD_MODEL_REF), ``GET /ping`` and ``GET /version``."""

from __future__ import annotations

from importlib import metadata

from starlette.responses import PlainTextResponse

from modelyard.serving.http import Call, Reply, json_reply, media_type, text_reply
from modelyard.serving.protocols import mlflow_scoring as codec
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import (
    IMAGE_B64,
    IRIS_COLUMNS,
    IRIS_ROW,
    IRIS_VALUES,
    MLFLOW_ERROR,
    error_responses,
    response,
)

PLAIN = "text/plain"
STRING = {"type": "string"}
ERROR_EXAMPLE = {"error_code": "BAD_REQUEST", "message": "..."}
UNAVAILABLE_EXAMPLE = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "..."}


async def invocations(call: Call) -> Reply:
    engine = call.engine
    with engine.arrival() as token:
        mime = media_type(call.header(b"content-type"), codec.MEDIA_TYPES)
        body = await call.body(engine.settings.max_body_bytes)
        inputs, k = codec.decode(mime, body, engine.settings.max_top_k)
        prediction = await engine.predict(engine.primary, inputs, token, call=call)
    return json_reply(codec.encode(prediction, inputs, k), version=prediction.model.version)


async def ping(call: Call) -> Reply:
    model = call.engine.model(call.engine.primary)
    return text_reply("\n", version=model.version)


async def version(call: Call) -> Reply:
    model = call.engine.catalog.configured[call.engine.primary].current
    return text_reply(_mlflow_version(), version=model.version if model else None)


def _mlflow_version() -> str:
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def register(app: ServingApp) -> None:
    examples = {
        "dataframe_split": {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_VALUES}},
        "dataframe_records": {"dataframe_records": [IRIS_ROW]},
        "instances": {"instances": [IRIS_ROW]},
        "inputs_columns": {"inputs": {k: [v] for k, v in IRIS_ROW.items()}},
        "images_instances": {"instances": [{"b64": IMAGE_B64}], "params": {"top_k": 3}},
        "images_inputs": {"inputs": {"image_data": [IMAGE_B64]}},
    }
    csv_example = ",".join(IRIS_COLUMNS) + "\n" + ",".join(str(v) for v in IRIS_VALUES[0]) + "\n"
    app.route(
        "POST",
        "/invocations",
        invocations,
        codec.render,
        tags=["mlflow"],
        summary="MLflow scoring protocol (as `mlflow models serve`).",
        description="JSON with exactly one of dataframe_split, dataframe_records, instances, "
        "inputs (+ optional params), or text/csv with a header row. An image classifier "
        'takes `{"instances": [{"b64": "<base64>"}]}` or `{"inputs": {"image_data": '
        '["<base64>"]}}`, with `params.top_k` (default 5), and answers `{"predictions": '
        '[{"top_k": [{"label", "index", "probability"}, ...]}]}`. Serves MODELYARD_MODEL_REF.',
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object"},
                        "examples": {
                            name: {"summary": name, "value": value}
                            for name, value in examples.items()
                        },
                    },
                    "text/csv": {"schema": {"type": "string"}, "example": csv_example},
                },
            }
        },
        responses={
            200: {
                "description": "Predicted labels",
                "content": {
                    "application/json": {
                        "example": {
                            "predictions": ["setosa"],
                            "model": {"name": "iris", "version": "2"},
                        }
                    }
                },
            },
            **error_responses(ERROR_EXAMPLE, 400, 413, 415, 503, schema=MLFLOW_ERROR),
        },
    )
    app.route(
        "GET",
        "/ping",
        ping,
        codec.render,
        "open",
        tags=["mlflow"],
        summary="MLflow health check: 200 once the model is loaded.",
        response_class=PlainTextResponse,
        responses={
            200: response("The model is loaded (the body is a newline).", PLAIN, STRING),
            **error_responses(UNAVAILABLE_EXAMPLE, 503, schema=MLFLOW_ERROR),
        },
    )
    app.route(
        "GET",
        "/version",
        version,
        codec.render,
        "open",
        tags=["mlflow"],
        summary="The MLflow version, as `mlflow models serve` answers.",
        response_class=PlainTextResponse,
        responses={200: response("The MLflow version, e.g. 3.1.0.", PLAIN, STRING)},
    )
