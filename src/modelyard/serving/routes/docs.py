"""OpenAPI fragments shared by the route modules (request bodies and examples for /docs)."""

from __future__ import annotations

from typing import Any

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
IRIS_ROW_2 = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
IRIS_VALUES = [list(IRIS_ROW.values()), list(IRIS_ROW_2.values())]
IRIS_COLUMNS = list(IRIS_ROW)


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


def error_responses(shape: dict[str, Any], *codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses`` entries documenting the error statuses of one protocol."""
    reasons = {
        400: "Malformed request (bad JSON, wrong layout or tensor).",
        401: "Admin key missing.",
        403: "Admin key wrong.",
        404: "Unknown model, version or alias.",
        413: "Body over MODELYARD_MAX_BODY_BYTES or batch over MODELYARD_MAX_BATCH_ROWS.",
        415: "Content-Type missing, not one the endpoint takes (JSON: application/json), "
        "or not UTF-8.",
        422: "A feature is missing, unknown, not a number or not finite.",
        503: "The model is not loaded yet (or MLflow is unreachable).",
    }
    return {
        code: {"description": reasons[code], "content": {"application/json": {"example": shape}}}
        for code in codes
    }
