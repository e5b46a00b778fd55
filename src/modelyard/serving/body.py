"""Reading a request body: its declared media type, its size limit, and JSON with orjson.

One rule for every protocol: a body is read only when its ``Content-Type`` declares a type
the endpoint takes (JSON must be declared as ``application/json``), in UTF-8 and without
other parameters; anything else, a missing header included, is refused with 415.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from modelyard.serving.errors import ApiError

JSON = "application/json"
CSV = "text/csv"


def media_type(raw: str | None, accepted: tuple[str, ...]) -> str:
    """The media type of a ``Content-Type`` header, if it is one of ``accepted`` (else 415)."""
    if raw in accepted:  # the usual header, exactly as clients send it
        return raw
    mime, *parts = (raw or "").split(";")
    mime = mime.strip().lower()
    params = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in parts)}
    if mime not in accepted:
        got = f"got {raw!r}" if raw else "the Content-Type header is missing"
        raise ApiError(
            "unsupported_media_type",
            f"this endpoint only supports the content types {list(accepted)}; {got}",
            "Content-Type",
        )
    if params.get("charset", "utf-8").strip('"').lower() != "utf-8":
        raise ApiError("unsupported_media_type", "the body must be UTF-8 encoded", "Content-Type")
    unknown = sorted(set(params) - {"charset"})
    if unknown:
        raise ApiError(
            "unsupported_media_type",
            f"unrecognised content type parameters: {', '.join(unknown)}",
            "Content-Type",
        )
    return mime


def too_large(limit: int) -> ApiError:
    return ApiError("body_too_large", f"the request body is over the {limit}-byte limit")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) a declared or streamed size over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError("bad_request", "invalid Content-Length header") from None
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
        raise ApiError("bad_request", "the client disconnected before sending the body") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Decode JSON; a malformed document is a 400 naming where it broke."""
    if not body:
        raise ApiError("malformed_json", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    # orjson refuses NaN, Infinity and overflowing numbers; the standard parser reads them
    # as non-finite floats, which schema validation then rejects naming the field.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError("malformed_json", f"the body is not valid JSON: {error}") from None


async def read_json(request: Request, limit: int) -> Any:
    """The body of a request that must declare JSON, parsed."""
    media_type(request.headers.get("content-type"), (JSON,))
    return parse_json(await read_body(request, limit))
