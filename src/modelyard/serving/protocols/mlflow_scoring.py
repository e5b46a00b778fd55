"""The MLflow scoring protocol, as ``mlflow models serve`` speaks it.

A body is ``application/json`` with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs`` (plus optional ``params``), or ``text/csv``
with a header row. The answer is ``{"predictions": [label, ...]}`` like MLflow's
scikit-learn flavour, plus ``"model": {"name", "version"}``. Errors use MLflow's shape
``{"error_code": "BAD_REQUEST", "message": ...}``; bad input is a 400 as in MLflow.

An image classifier takes base64 images as ``{"instances": [{"b64": "<base64>"}, ...]}``
(TensorFlow Serving's binary form, which MLflow's ``instances`` follows) or
``{"inputs": {"image_data": ["<base64>", ...]}}`` (a column of images), with
``"params": {"top_k": 5}`` optional, and answers ``{"predictions": [{"top_k": [{"label",
"index", "probability"}, ...]}, ...], "model": {...}}``, one entry per image.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from modelyard.inputs.image import IMAGE_FIELD, Images
from modelyard.inputs.tabular import Columns, Records, Rows, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError, protocol_status
from modelyard.serving.http import CSV, JSON, Reply, json_reply, parse_json
from modelyard.serving.protocols import images

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MEDIA_TYPES = (CSV, JSON)
REQUIRED = (
    f"The input must be a JSON dictionary with exactly one of the input fields {set(FORMATS)}"
)
_CODES = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def decode(mime: str, body: bytes, max_top_k: int = 100) -> tuple[TabularInput | Images, int]:
    """The inputs of a body of media type ``mime`` (one of :data:`MEDIA_TYPES`), and the
    ``params.top_k`` of an image request (default 5)."""
    if mime == CSV:
        return csv_inputs(body), images.DEFAULT_TOP_K
    payload = parse_json(body)
    inputs = json_inputs(payload)
    if not isinstance(inputs, Images):
        return inputs, images.DEFAULT_TOP_K
    params = payload.get("params") or {}
    return inputs, images.top_k(params.get(images.TOP_K), max_top_k, "params.top_k")


def encode(
    prediction: Prediction, inputs: Any = None, k: int = images.DEFAULT_TOP_K
) -> dict[str, Any]:
    """The answer: labels, or for images (``inputs`` Images) the top ``k`` classes of each."""
    if isinstance(inputs, Images):
        predictions: list[Any] = [{"top_k": top} for top in images.ranked(prediction, k)]
    else:
        predictions = prediction.labels
    return {"predictions": predictions, "model": prediction.model_json()}


def render(error: ApiError) -> Reply:
    """MLflow's error body; input errors are 400 as in MLflow (415 and 413 kept)."""
    status = protocol_status(error)
    return json_reply(
        {"error_code": _CODES.get(status, "BAD_REQUEST"), "message": error.message}, status
    )


def json_inputs(payload: Any) -> TabularInput | Images:
    """The tabular layout (or the images) an MLflow scoring JSON document holds."""
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
    if key == "instances" and images.is_b64_instances(data):
        return images.b64_instances(data, key)
    if key == "inputs" and isinstance(data, dict) and IMAGE_FIELD in data:
        if len(data) != 1:
            extra = next(k for k in data if k != IMAGE_FIELD)
            raise ApiError(
                "bad_request", f"unexpected input {extra!r} beside {IMAGE_FIELD!r}", str(extra)
            )
        column = data[IMAGE_FIELD]
        return Images(column if isinstance(column, list) else [column], IMAGE_FIELD)
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
