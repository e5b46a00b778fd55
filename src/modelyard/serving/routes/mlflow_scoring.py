"""The MLflow scoring protocol, as ``mlflow models serve`` speaks it.

``POST /invocations`` takes ``application/json`` with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs`` (plus optional ``params``), or ``text/csv``
with a header row; it answers ``{"predictions": [label, ...]}`` like MLflow's scikit-learn
flavour, plus ``"model": {"name", "version"}``. Other content types get 415. Errors use
MLflow's shape ``{"error_code": "BAD_REQUEST", "message": ...}``.
"""

from __future__ import annotations

import csv
import io
from importlib import metadata
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from modelyard.inputs.tabular import Columns, Records, Rows, TabularInput
from modelyard.serving.body import CSV, JSON, media_type, parse_json, read_body
from modelyard.serving.errors import ApiError, guarded, protocol_status
from modelyard.serving.responses import VERSION_HEADER, json_response
from modelyard.serving.routes.docs import (
    IRIS_COLUMNS,
    IRIS_ROW,
    IRIS_VALUES,
    MLFLOW_ERROR,
    error_responses,
    response,
)
from modelyard.serving.state import predictor

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
REQUIRED = (
    f"The input must be a JSON dictionary with exactly one of the input fields {set(FORMATS)}"
)
TEXT = "text/plain"
STRING = {"type": "string"}
ERROR_EXAMPLE = {"error_code": "BAD_REQUEST", "message": "..."}
UNAVAILABLE_EXAMPLE = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "..."}
_CODES = {404: "RESOURCE_DOES_NOT_EXIST", 500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}


def render(error: ApiError) -> Response:
    """MLflow's error body; input errors are 400 as in MLflow (415 and 413 kept)."""
    status = protocol_status(error)
    return json_response(
        {"error_code": _CODES.get(status, "BAD_REQUEST"), "message": error.message}, status
    )


def json_inputs(payload: Any) -> TabularInput:
    """The tabular layout an MLflow scoring JSON document holds."""
    if not isinstance(payload, dict):
        raise ApiError("bad_request", f"{REQUIRED}. Received {type(payload).__name__}.")
    present = [key for key in FORMATS if key in payload]
    if len(present) != 1:
        raise ApiError(
            "bad_request",
            f"{REQUIRED}. Received dictionary with input fields: {list(payload)}.",
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise ApiError("bad_request", "'params' must be a JSON object", "params")
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        if not isinstance(data, dict) or "data" not in data:
            raise ApiError(
                "bad_request",
                "dataframe_split must be an object with 'data' (and 'columns')",
                key,
            )
        columns = data.get("columns")
        if columns is not None and not (
            isinstance(columns, list) and all(isinstance(c, str) for c in columns)
        ):
            raise ApiError("bad_request", "'columns' must be a list of names", "columns")
        return Rows(data["data"], key, columns)
    if key == "dataframe_records":
        return Records(data, key)
    if isinstance(data, dict):
        return Columns(data, key)
    if isinstance(data, list) and data and isinstance(data[0], list):
        return Rows(data, key)
    return Records(data, key)


def csv_inputs(body: bytes) -> Rows:
    """A CSV document with a header row, as ``pandas.DataFrame.to_csv(index=False)`` writes."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError("bad_request", f"the CSV is not valid UTF-8: {exc}") from None
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise ApiError("bad_request", f"Failed to parse the CSV input: {exc}") from None
    rows = [row for row in rows if row]
    if not rows:
        raise ApiError("bad_request", "the CSV is empty; send a header row and data rows")
    header, data = [h.strip() for h in rows[0]], rows[1:]
    values: list[list[Any]] = []
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise ApiError(
                "bad_request",
                f"Failed to parse the CSV input: line {i + 2} has {len(row)} fields, "
                f"the header has {len(header)}",
            )
        values.append([_csv_number(cell) for cell in row])
    return Rows(values, "csv", header)


def _csv_number(cell: str) -> Any:
    """A cell as a number; an empty cell is a missing value (None), other text stays text."""
    if not cell.strip():
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


@guarded(render)
async def invocations(request: Request) -> Response:
    engine = predictor(request)
    with engine.arrival() as token:
        mime = media_type(request.headers.get("content-type"), (CSV, JSON))
        body = await read_body(request, engine.settings.max_body_bytes)
        model = engine.primary_model()
        inputs = csv_inputs(body) if mime == CSV else json_inputs(parse_json(body))
        result = await engine.run(model, inputs, token)
    return json_response(
        {"predictions": result.labels, "model": result.model_json()},
        version=result.model.version,
    )


@guarded(render)
async def ping(request: Request) -> Response:
    engine = predictor(request)
    model = engine.primary_model()
    return Response("\n", media_type=TEXT, headers={VERSION_HEADER: model.version})


@guarded(render)
async def version(request: Request) -> Response:
    engine = predictor(request)
    model = engine.primary.current
    headers = {VERSION_HEADER: model.version} if model else None
    return Response(_mlflow_version(), media_type=TEXT, headers=headers)


def _mlflow_version() -> str:
    for dist in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def register(app: FastAPI) -> None:
    examples = {
        "dataframe_split": {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_VALUES}},
        "dataframe_records": {"dataframe_records": [IRIS_ROW]},
        "instances": {"instances": [IRIS_ROW]},
        "inputs_columns": {"inputs": {k: [v] for k, v in IRIS_ROW.items()}},
    }
    csv_example = ",".join(IRIS_COLUMNS) + "\n" + ",".join(str(v) for v in IRIS_VALUES[0]) + "\n"
    app.add_api_route(
        "/invocations",
        invocations,
        methods=["POST"],
        tags=["mlflow"],
        summary="MLflow scoring protocol (as `mlflow models serve`).",
        description="JSON with exactly one of dataframe_split, dataframe_records, instances, "
        "inputs (+ optional params), or text/csv with a header row. Serves "
        "MODELYARD_MODEL_REF.",
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
    app.add_api_route(
        "/ping",
        ping,
        methods=["GET"],
        tags=["mlflow"],
        summary="MLflow health check: 200 once the model is loaded.",
        response_class=PlainTextResponse,
        responses={
            200: response("The model is loaded (the body is a newline).", TEXT, STRING),
            **error_responses(UNAVAILABLE_EXAMPLE, 503, schema=MLFLOW_ERROR),
        },
    )
    app.add_api_route(
        "/version",
        version,
        methods=["GET"],
        tags=["mlflow"],
        summary="The MLflow version, as `mlflow models serve` answers.",
        response_class=PlainTextResponse,
        responses={200: response("The MLflow version, e.g. 3.1.0.", TEXT, STRING)},
    )
