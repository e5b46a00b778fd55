"""The API's errors: a code per kind of refusal, and one table from code to HTTP status.

Codecs raise :class:`ApiError` with a code of :data:`STATUS` for what they cannot decode;
the engine raises domain errors only (a :class:`~modelyard.errors.FeatureError`, an unknown
or not-ready model, a registry error, ...), which :data:`DOMAIN_CODES` gives its code. Each
protocol renders (code, message, field) in its own shape (``render`` in each module of
:mod:`modelyard.serving.protocols`). An exception nothing here expects is a server bug, not
the client's: the router answers it with :func:`internal_error` (500, a generic message),
logs its traceback and counts it in ``modelyard_api_internal_errors_total``. Nothing here
ever puts a traceback or an exception's text in a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
from modelyard.inputs.image import InvalidImageError

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
    "rate_limited",
    "invalid_feature",
    "invalid_image",
    "invalid_parameter",
    "empty_batch",
    "internal_error",
    "model_not_ready",
    "model_unavailable",
    "registry_unavailable",
    "too_many_models",
    "overloaded",
    "timeout",
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
    "rate_limited": 429,
    "invalid_feature": 422,
    "invalid_image": 422,
    "invalid_parameter": 422,
    "empty_batch": 422,
    "internal_error": 500,
    "model_not_ready": 503,
    "model_unavailable": 503,
    "registry_unavailable": 503,
    "too_many_models": 503,
    "overloaded": 503,
    "timeout": 504,
}

# Domain errors by type, most specific first: the code each answers with.
DOMAIN_CODES: tuple[tuple[type[Exception], Code], ...] = (
    (BatchTooLargeError, "batch_too_large"),
    (EmptyBatchError, "empty_batch"),
    (InvalidImageError, "invalid_image"),
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
    does, so protocols with a message only need not prefix it. ``headers`` go with the
    answer in every protocol (``WWW-Authenticate``, ``Retry-After``, ...).
    """

    code: Code
    message: str
    field: str | None = None
    row: int | None = None
    names_field: bool = False
    headers: tuple[tuple[str, str], ...] = ()

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


def internal_error() -> ApiError:
    """The generic 500: no exception text, no traceback."""
    return ApiError("internal_error", INTERNAL_MESSAGE)
