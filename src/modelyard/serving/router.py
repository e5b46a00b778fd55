"""The API's ASGI entry: finds the endpoint, sends its reply, renders what it raises.

Each endpoint is registered once with :meth:`ServingApp.route`: the router serves it, and a
FastAPI route of the same path documents it in ``/openapi.json`` and ``/docs``. Requests
for a path no endpoint has (the documentation pages, unknown paths) go to that FastAPI app.
Serving our endpoints here, without FastAPI's and Starlette's per-request layers
(middleware stack, dependency solving, request and response objects), halves what the
framework costs a fast prediction.

Each endpoint runs behind the gate of its access level (:mod:`modelyard.serving.guard`:
keys, rate limit, concurrency and time limits), or straight when nothing applies to it;
CORS headers are added only when ``MODELYARD_CORS_ORIGINS`` lists origins.

Every request is counted and timed by route template, method and status. An error an
endpoint raises is rendered in its protocol's shape (the ``render`` it was registered
with); one nothing expects answers 500 with a generic message, and is logged with its
traceback and counted in ``modelyard_api_internal_errors_total``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import compile_path
from starlette.types import Message, Receive, Scope, Send

from modelyard.serving.engine import Predictor
from modelyard.serving.errors import ApiError, internal_error, known_error
from modelyard.serving.guard import Access, Gate, Guard
from modelyard.serving.http import Call, Endpoint, Reply
from modelyard.serving.routes.docs import with_statuses

log = logging.getLogger(__name__)

Render = Callable[[ApiError], Reply]


@dataclass
class _Path:
    """One path template and its endpoints by method, all rendering errors one way."""

    template: str
    render: Render
    regex: re.Pattern[str] | None
    methods: dict[str, Endpoint] = field(default_factory=dict)
    gates: dict[str, Gate | None] = field(default_factory=dict)


class ServingApp:
    """The ASGI app: our endpoints first, everything else (docs, lifespan) to ``docs``."""

    def __init__(self, engine: Predictor, docs: FastAPI, guard: Guard | None = None) -> None:
        self.engine = engine
        self.docs = docs
        self.guard = guard or Guard(engine.settings)
        self.state = docs.state
        self._exact: dict[str, _Path] = {}
        self._templated: list[_Path] = []
        self._metrics = engine.metrics
        self._cors = _cors(self._serve, engine.settings.cors_origin_list)

    # --- registration ------------------------------------------------------------------------
    def route(
        self,
        method: str,
        path: str,
        endpoint: Endpoint,
        render: Render,
        access: Access = "api",
        **docs: Any,
    ) -> None:
        """Serve ``endpoint`` at ``method path`` to callers ``access`` admits (see
        :mod:`~modelyard.serving.guard`); ``docs`` go to FastAPI's ``add_api_route``."""
        entry = self._exact.get(path) or next(
            (p for p in self._templated if p.template == path), None
        )
        if entry is None:
            regex = compile_path(path)[0] if "{" in path else None
            entry = _Path(path, render, regex)
            if regex is None:
                self._exact[path] = entry
            else:
                self._templated.append(entry)
        entry.methods[method] = endpoint
        entry.gates[method] = self.guard.gate(access)
        if "responses" in docs:
            docs["responses"] = with_statuses(docs["responses"], self.guard.statuses(access))
        security = self.guard.security(access)
        if security:
            docs["openapi_extra"] = {**docs.get("openapi_extra", {}), "security": security}
        self.docs.add_api_route(path, _documented, methods=[method], name=endpoint.__name__, **docs)

    # --- serving -----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan, for one
            await self.docs(scope, receive, send)
        elif self._cors is None:
            await self._serve(scope, receive, send)
        else:
            await self._cors(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        wanted = "GET" if method == "HEAD" else method
        entry, params = self._find(scope["path"], wanted)
        if entry is None:
            await self._other(scope, receive, send, started)
            return
        endpoint = entry.methods.get(wanted)
        if endpoint is None:
            reply = self._not_allowed(entry, method)
        else:
            gate = entry.gates[wanted]
            try:
                if gate is None:
                    reply = await endpoint(Call(scope, receive, self.engine, params))
                else:
                    reply = await gate.run(endpoint, Call(scope, receive, self.engine, params))
            except Exception as exc:
                error = self._error(exc, method, entry.template)
                reply = entry.render(error)
                if error.headers:
                    reply.headers = (*reply.headers, *error.headers)
        await _send(send, reply, head=method == "HEAD")
        self._metrics.observe_request(
            entry.template, method, reply.status, time.perf_counter() - started
        )

    def _find(self, path: str, method: str) -> tuple[_Path | None, dict[str, str]]:
        """The entry for ``path`` that has ``method``, else the first whose path matches."""
        entry = self._exact.get(path)
        if entry is not None:
            return entry, {}
        partial: tuple[_Path | None, dict[str, str]] = (None, {})
        for candidate in self._templated:
            match = candidate.regex.match(path)  # type: ignore[union-attr]
            if match is not None:
                if method in candidate.methods:
                    return candidate, match.groupdict()
                if partial[0] is None:
                    partial = (candidate, match.groupdict())
        return partial

    def _error(self, exc: Exception, method: str, template: str) -> ApiError:
        error = known_error(exc)
        if error is None:
            log.error("unexpected error answering %s %s", method, template, exc_info=exc)
            self._metrics.internal_errors.labels(template).inc()
            error = internal_error()
        return error

    def _not_allowed(self, entry: _Path, method: str) -> Reply:
        allowed = sorted(entry.methods)
        reply = entry.render(
            ApiError("method_not_allowed", f"{method} is not allowed on {entry.template}")
        )
        reply.headers = (*reply.headers, ("allow", ", ".join(allowed)))
        return reply

    async def _other(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        """A path none of our endpoints has: the FastAPI app answers, and is measured."""
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.docs(scope, receive, watch)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self._metrics.observe_request(
                template, scope["method"], status, time.perf_counter() - started
            )


def _cors(app: Callable[..., Any], origins: tuple[str, ...]) -> CORSMiddleware | None:
    """Starlette's CORS handling for ``origins`` (None: no cross-origin calls, no cost)."""
    if not origins:
        return None
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-API-Key",
            "X-Admin-Key",
            "Inference-Header-Content-Length",
        ],
        expose_headers=[
            "X-Model-Version",
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
    )


async def _send(send: Send, reply: Reply, *, head: bool = False) -> None:
    headers = [
        (b"content-type", reply.media_type.encode()),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    if reply.version is not None:
        headers.append((b"x-model-version", reply.version.encode()))
    headers.extend((k.encode(), v.encode()) for k, v in reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else reply.body})


async def _documented() -> None:
    """FastAPI's twin of a routed endpoint documents it; the router serves the path."""
    raise HTTPException(404)
