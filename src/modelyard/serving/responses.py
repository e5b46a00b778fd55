"""Fast JSON responses: orjson straight to bytes, numpy values included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

VERSION_HEADER = "X-Model-Version"


class JsonResponse(Response):
    """A JSON response rendered by orjson (numpy arrays and scalars are accepted)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


def json_response(
    content: Any,
    status: int = 200,
    *,
    version: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """``content`` as JSON; ``version`` also goes to the X-Model-Version header."""
    merged = dict(headers) if headers else {}
    if version is not None:
        merged[VERSION_HEADER] = version
    return JsonResponse(content, status_code=status, headers=merged or None)
