"""OpenAPI fragments shared by the route modules (request bodies and examples for /docs)."""

from __future__ import annotations

from typing import Any

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
IRIS_ROW_2 = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
IRIS_VALUES = [list(IRIS_ROW.values()), list(IRIS_ROW_2.values())]
IRIS_COLUMNS = list(IRIS_ROW)
# An 8x8 greyscale PNG of a handwritten 3, base64, and what the digits model answers for it.
IMAGE_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAARElEQVR4nDXGMRGAMBAAsBzHzkuolJeCBHBQB0jAAg4q"
    "oRbqoEhgIlNwzB5Q+z4TSvSOxYgyAojW/t3VQs3Mzcp7eU4fVhgPr7VP6z8AAAAASUVORK5CYII="
)
IMAGE_RANKED = [
    {"label": "3", "index": 3, "probability": 0.91},
    {"label": "9", "index": 9, "probability": 0.05},
    {"label": "8", "index": 8, "probability": 0.02},
]
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")
BINARY = {"type": "string", "format": "binary"}
TOP_K_PARAMETER: dict[str, Any] = {
    "name": "top_k",
    "in": "query",
    "required": False,
    "description": "Image classifiers: how many classes to answer (default 5, at most "
    "MODELYARD_MAX_TOP_K); a top_k in the body wins.",
    "schema": {"type": "integer", "minimum": 1},
}


def json_body(examples: dict[str, Any], description: str) -> dict[str, Any]:
    """``openapi_extra`` for a JSON request body with named examples."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "examples": {
                        name: {"summary": name.replace("_", " "), "value": value}
                        for name, value in examples.items()
                    },
                }
            },
        }
    }


def image_bodies(
    tabular: dict[str, Any], images: dict[str, Any], description: str
) -> dict[str, Any]:
    """``openapi_extra`` for our own protocol's bodies: JSON (records or base64 images),
    ``multipart/form-data`` image files, and a raw image."""
    body = json_body({**tabular, **images}, description)
    content = body["requestBody"]["content"]
    content["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "properties": {
                "file": {**BINARY, "description": "An image file (several parts: a batch)."},
                "top_k": {"type": "integer", "minimum": 1},
            },
            "required": ["file"],
        },
        "encoding": {"file": {"contentType": ", ".join(IMAGE_TYPES)}},
    }
    for mime in IMAGE_TYPES:
        content[mime] = {"schema": BINARY}
    return body


# The error shape of each protocol, as JSON schemas.
OWN_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "row": {"type": "integer"},
            },
        }
    },
}
MLFLOW_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}
V2_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}

REASONS = {
    400: "Malformed request (bad JSON, wrong layout or tensor).",
    401: "Key missing (see WWW-Authenticate).",
    403: "Key wrong, or admin actions without a key on a server not bound to loopback.",
    404: "Unknown model, version or alias.",
    429: "Over MODELYARD_RATE_LIMIT (see Retry-After and X-RateLimit-*).",
    413: "Body over MODELYARD_MAX_BODY_BYTES or batch over MODELYARD_MAX_BATCH_ROWS.",
    415: "Content-Type missing, not one the endpoint takes (JSON: application/json), or not UTF-8.",
    422: "A feature is missing, unknown, not a number or not finite; an image that cannot "
    "be read (not base64, not an image, truncated, over the pixel limit, animated, an "
    "unsupported mode); a bad top_k.",
    500: "An unexpected server error (logged and counted); the body says nothing more.",
    503: "The model is not loaded yet (or MLflow is unreachable), or "
    "MODELYARD_MAX_CONCURRENCY requests are in progress (see Retry-After).",
    504: "The request took over MODELYARD_REQUEST_TIMEOUT_SECONDS.",
}
PATH_PARAMETERS = {
    "name": "The registered model's name.",
    "ref": "A version number or an alias (champion, challenger, ...).",
    "version": "A version number or an alias (champion, challenger, ...).",
}


def error_responses(
    example: dict[str, Any], *codes: int, schema: dict[str, Any]
) -> dict[int | str, dict[str, Any]]:
    """``responses`` entries documenting the error statuses of one protocol (and 500)."""
    return {
        code: {
            "description": REASONS[code],
            "content": {"application/json": {"schema": schema, "example": example}},
        }
        for code in (*codes, 500)
    }


def with_statuses(
    responses: dict[int | str, dict[str, Any]], statuses: tuple[int, ...]
) -> dict[int | str, dict[str, Any]]:
    """``responses`` documenting ``statuses`` too (a guard's refusals), in the shape of the
    route's own 500: each protocol's error schema."""
    internal = responses.get(500)
    if internal is None:
        return responses
    added: dict[int | str, dict[str, Any]] = {
        status: {**internal, "description": REASONS[status]}
        for status in statuses
        if status not in responses
    }
    return {**responses, **added}


def path_parameters(path: str, *query: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring the ``{...}`` segments of ``path`` as string parameters
    (and the ``query`` parameters given)."""
    declared = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, description in PATH_PARAMETERS.items()
        if "{" + name + "}" in path
    ]
    return {"parameters": [*declared, *query]}


def response(description: str, media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One ``responses`` entry whose body is ``schema`` in ``media_type``."""
    return {"description": description, "content": {media_type: {"schema": schema}}}
