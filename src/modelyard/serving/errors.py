"""The API's error type and its one JSON shape: ``{"error": {"code", "message", "field"}}``.

Route code raises :class:`ApiError` (or lets a :class:`~modelyard.errors.FeatureError` or
registry error through); :func:`to_api_error` maps any exception to the status and code a
client should see, and each protocol renders that in its own shape (see ``protocols``).
Nothing here ever puts a traceback in a response.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    FeatureError,
    ModelLoadError,
    ModelNotFoundError,
    ModelyardError,
    RegistryUnavailableError,
)
from modelyard.serving.responses import json_response
from modelyard.serving.tabular import BatchTooLargeError, EmptyBatchError

log = logging.getLogger(__name__)


@dataclass
class ApiError(Exception):
    """A request the API refuses: HTTP status, stable machine code, message, offending field."""

    status: int
    code: str
    message: str
    field: str | None = None
    row: int | None = None

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message, "field": self.field}
        if self.row is not None:
            error["row"] = self.row
        return {"error": error}


def feature_error(exc: FeatureError) -> ApiError:
    if isinstance(exc, BatchTooLargeError):
        return ApiError(413, "batch_too_large", str(exc), exc.field)
    if isinstance(exc, EmptyBatchError) or (exc.field == "records" and "empty" in exc.reason):
        return ApiError(422, "empty_batch", str(exc), exc.field)
    return ApiError(422, "invalid_feature", str(exc), exc.field, exc.row)


def to_api_error(exc: BaseException) -> ApiError:
    """The client-facing form of any exception raised while handling a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, FeatureError):
        return feature_error(exc)
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, "model_not_found", str(exc), "version")
    if isinstance(exc, RegistryUnavailableError):
        return ApiError(503, "registry_unavailable", str(exc))
    if isinstance(exc, ModelLoadError):
        return ApiError(503, "model_unavailable", str(exc))
    if isinstance(exc, ModelyardError):
        return ApiError(503, "model_unavailable", str(exc))
    log.error("unexpected error while handling a request: %r", exc, exc_info=exc)
    return ApiError(
        400, "request_failed", f"the request could not be handled ({type(exc).__name__})"
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(render: Callable[[ApiError], Response]) -> Callable[[Endpoint], Endpoint]:
    """Turn every exception an endpoint raises into ``render(to_api_error(exc))``."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def handler(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as exc:
                return render(to_api_error(exc))

        return handler

    return wrap


def render_own(error: ApiError) -> Response:
    """The modelyard API's error shape."""
    return json_response(error.body(), error.status)
