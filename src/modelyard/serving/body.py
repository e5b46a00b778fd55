"""Reading a request body within the size limit and parsing it as JSON with orjson."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from modelyard.serving.errors import ApiError


def too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body is over the {limit}-byte limit")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) a declared or streamed size over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "bad_request", "invalid Content-Length header") from None
        if size > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(
            400, "bad_request", "the client disconnected before sending the body"
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Decode JSON; a malformed document is a 400 naming where it broke."""
    if not body:
        raise ApiError(400, "malformed_json", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    # orjson refuses NaN, Infinity and overflowing numbers; the standard parser reads them
    # as non-finite floats, which schema validation then rejects naming the field.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {error}") from None


async def read_json(request: Request, limit: int) -> Any:
    return parse_json(await read_body(request, limit))
