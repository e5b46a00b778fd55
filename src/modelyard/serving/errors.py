"""The API's errors: a code per kind of refusal, and one table from code to HTTP status.

Protocol code raises :class:`ApiError` with a code of :data:`STATUS` for what it decodes;
the engine raises domain errors only (a :class:`~modelyard.errors.FeatureError`, an unknown
or not-ready model, a registry error, ...), which
:data:`DOMAIN_CODES` gives its code. Each protocol renders (code, message, field) in its own
shape (``render_own`` here, the others beside their routes). An exception nothing here
expects is a server bug, not the client's: it answers 500 with a generic message, and its
traceback goes to the log once and its route to ``modelyard_api_internal_errors_total``.
Nothing here ever puts a traceback or an exception's text in a response.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    BatchTooLargeError,
    EmptyBatchError,
    FeatureError,
    ModelNotFoundError,
    ModelNotReadyError,
    ModelyardError,
    RegistryUnavailableError,
    TooManyModelsError,
    UnknownModelError,
)
from modelyard.serving.metrics import route_template
from modelyard.serving.responses import json_response

log = logging.getLogger(__name__)

Code = Literal[
    "bad_request",
    "malformed_json",
    "unauthorized",
    "forbidden",
    "not_found",
    "model_not_found",
    "method_not_allowed",
    "body_too_large",
    "batch_too_large",
    "unsupported_media_type",
    "invalid_feature",
    "empty_batch",
    "internal_error",
    "model_not_ready",
    "model_unavailable",
    "registry_unavailable",
    "too_many_models",
]

# The one table from error code to HTTP status (our own protocol's; see protocol_status).
STATUS: dict[Code, int] = {
    "bad_request": 400,
    "malformed_json": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "model_not_found": 404,
    "method_not_allowed": 405,
    "body_too_large": 413,
    "batch_too_large": 413,
    "unsupported_media_type": 415,
    "invalid_feature": 422,
    "empty_batch": 422,
    "internal_error": 500,
    "model_not_ready": 503,
    "model_unavailable": 503,
    "registry_unavailable": 503,
    "too_many_models": 503,
}

# Domain errors by type, most specific first: the code each answers with.
DOMAIN_CODES: tuple[tuple[type[Exception], Code], ...] = (
    (BatchTooLargeError, "batch_too_large"),
    (EmptyBatchError, "empty_batch"),
    (FeatureError, "invalid_feature"),
    (ModelNotFoundError, "model_not_found"),
    (UnknownModelError, "model_not_found"),
    (ModelNotReadyError, "model_not_ready"),
    (TooManyModelsError, "too_many_models"),
    (RegistryUnavailableError, "registry_unavailable"),
    (ModelyardError, "model_unavailable"),
)

INTERNAL_MESSAGE = "internal server error; the server's log has the details"


@dataclass
class ApiError(Exception):
    """A request the API refuses: a code of STATUS, a message and the offending field.

    ``names_field``: the message already names the field (and row), as a domain error's
    does, so protocols with a message only need not prefix it.
    """

    code: Code
    message: str
    field: str | None = None
    row: int | None = None
    names_field: bool = False

    def __str__(self) -> str:
        return self.message

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, object]:
        """Our own protocol's shape: ``{"error": {"code", "message", "field"[, "row"]}}``."""
        error: dict[str, object] = {"code": self.code, "message": self.message, "field": self.field}
        if self.row is not None:
            error["row"] = self.row
        return {"error": error}

    def described(self) -> str:
        """The message with the field in front, for protocols whose error is one string."""
        if self.field is None or self.names_field:
            return self.message
        return f"{self.field}: {self.message}"


def protocol_status(error: ApiError) -> int:
    """The status for MLflow scoring, KServe V1 and V2, which answer bad input with 400."""
    status = error.status
    return 400 if status == 422 else status


def known_error(exc: BaseException) -> ApiError | None:
    """The client-facing form of an exception the API raises on purpose; None for others."""
    if isinstance(exc, ApiError):
        return exc
    for kind, code in DOMAIN_CODES:
        if isinstance(exc, kind):
            if isinstance(exc, FeatureError):
                return ApiError(code, str(exc), exc.field, exc.row, names_field=True)
            if isinstance(exc, ModelNotFoundError):
                return ApiError(code, str(exc), "version", names_field=True)
            if isinstance(exc, UnknownModelError | ModelNotReadyError | TooManyModelsError):
                return ApiError(code, str(exc), exc.field)
            return ApiError(code, str(exc))
    return None


def to_api_error(request: Request, exc: BaseException) -> ApiError:
    """``exc`` as the client should see it; an unexpected one is logged, counted and hidden."""
    error = known_error(exc)
    if error is not None:
        return error
    return internal_error(request, exc)


def internal_error(request: Request, exc: BaseException, *, log_traceback: bool = True) -> ApiError:
    """Count (and log, unless the server will) an unexpected exception; the generic 500."""
    route = route_template(request.scope)
    if log_traceback:
        log.error("unexpected error answering %s %s", request.method, route, exc_info=exc)
    request.app.state.serving.metrics.internal_errors.labels(route).inc()
    return ApiError("internal_error", INTERNAL_MESSAGE)


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(render: Callable[[ApiError], Response]) -> Callable[[Endpoint], Endpoint]:
    """Turn every exception an endpoint raises into ``render(to_api_error(...))``."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def handler(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as exc:
                return render(to_api_error(request, exc))

        return handler

    return wrap


def render_own(error: ApiError) -> Response:
    """The modelyard API's error shape."""
    return json_response(error.body(), error.status)
