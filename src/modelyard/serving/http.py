"""One HTTP exchange as an endpoint sees it: a :class:`Call` in, a :class:`Reply` out.

Endpoints are plain coroutines ``endpoint(call) -> Reply``; the router
(:mod:`modelyard.serving.router`) finds them, sends their replies and renders what they
raise. Reading a body follows one rule for every protocol: it is read only when its
``Content-Type`` declares a type the endpoint takes (JSON must be declared as
``application/json``), in UTF-8 and without other parameters; anything else, a missing
header included, is refused with 415. JSON is parsed and written with orjson. Our own
protocol also takes ``multipart/form-data`` and ``image/*`` bodies
(:func:`content_type` splits such a header), and the query string (:meth:`Call.query`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson
from starlette.types import Receive, Scope

from modelyard.serving.errors import ApiError

if TYPE_CHECKING:
    from modelyard.serving.engine import Predictor

JSON = "application/json"
CSV = "text/csv"
MULTIPART = "multipart/form-data"
OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
VERSION_HEADER = "X-Model-Version"
_DUMP = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


# --- replies -------------------------------------------------------------------------------
@dataclass(slots=True)
class Reply:
    """What an endpoint answers: a body, its status and media type, and the model version
    that made it (sent as ``X-Model-Version``)."""

    body: bytes
    status: int = 200
    media_type: str = JSON
    version: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(content: Any, status: int = 200, *, version: str | None = None) -> Reply:
    """``content`` as JSON (numpy arrays and scalars included)."""
    return Reply(orjson.dumps(content, option=_DUMP), status, JSON, version)


def text_reply(text: str, *, version: str | None = None) -> Reply:
    return Reply(text.encode(), 200, TEXT, version)


# --- requests ------------------------------------------------------------------------------
class Call:
    """One request: its ASGI scope and body stream, the path's parameters and the engine."""

    __slots__ = ("engine", "params", "receive", "scope")

    def __init__(
        self, scope: Scope, receive: Receive, engine: Predictor, params: dict[str, str]
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.engine = engine
        self.params = params

    def header(self, name: bytes) -> str | None:
        """A request header by its lower-case name (the first one when repeated)."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def query(self, name: str) -> str | None:
        """A query-string parameter (the last one when repeated), or None."""
        raw = self.scope.get("query_string") or b""
        if not raw:
            return None
        values = parse_qs(raw.decode("latin-1"), keep_blank_values=True).get(name)
        return values[-1] if values else None

    async def body(self, limit: int) -> bytes:
        """The whole body, refusing (413) a declared or streamed size over ``limit`` bytes."""
        declared = self.header(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise ApiError("bad_request", "invalid Content-Length header") from None
            if size > limit:
                raise too_large(limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ApiError("bad_request", "the client disconnected before sending the body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def json(self, limit: int) -> Any:
        """The body of a request that must declare JSON, parsed."""
        media_type(self.header(b"content-type"), (JSON,))
        return parse_json(await self.body(limit))


Endpoint = Callable[[Call], Awaitable[Reply]]


def content_type(raw: str | None) -> tuple[str, dict[str, str]]:
    """A ``Content-Type`` header split into its lower-case media type and its parameters
    (names lower-case, values unquoted); ``("", {})`` when it is missing."""
    mime, *parts = (raw or "").split(";")
    params = {
        k.strip().lower(): v.strip().strip('"') for k, _, v in (p.partition("=") for p in parts)
    }
    return mime.strip().lower(), params


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
