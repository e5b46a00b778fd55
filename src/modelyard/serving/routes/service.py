"""Service endpoints: info, liveness, readiness, metrics, admin reload."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from modelyard.serving.engine import Predictor
from modelyard.serving.errors import ApiError, guarded, render_own
from modelyard.serving.metrics import CONTENT_TYPE
from modelyard.serving.responses import json_response
from modelyard.serving.routes.docs import OWN_ERROR, error_responses, response
from modelyard.serving.state import predictor

JSON = "application/json"
NOT_READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"const": False}}}
ADMIN_EXAMPLE = {
    "error": {"code": "forbidden", "message": "wrong admin key", "field": "X-Admin-Key"}
}


def _endpoints(app: FastAPI) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        out.extend(
            {"method": method, "path": route.path, "summary": route.summary or ""}
            for method in sorted(route.methods or ())
        )
    return out


@guarded(render_own)
async def info(request: Request) -> Response:
    engine = predictor(request)
    primary = engine.primary.current
    body: dict[str, Any] = {
        "service": "modelyard prediction API",
        **engine.service_info(),
        "endpoints": _endpoints(request.app),
    }
    return json_response(body, version=primary.version if primary else None)


@guarded(render_own)
async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


@guarded(render_own)
async def ready(request: Request) -> Response:
    engine = predictor(request)
    body = engine.readiness()
    primary = engine.primary.current
    return json_response(
        body, 200 if engine.ready else 503, version=primary.version if primary else None
    )


@guarded(render_own)
async def metrics(request: Request) -> Response:
    return Response(predictor(request).metrics.render(), media_type=CONTENT_TYPE)


def check_admin(engine: Predictor, request: Request) -> None:
    """Require the admin key (X-Admin-Key or Bearer) when one is configured."""
    expected = engine.settings.admin_key_value
    if not expected:
        return
    given = request.headers.get("x-admin-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    if not given:
        raise ApiError("unauthorized", "send the admin key in X-Admin-Key", "X-Admin-Key")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError("forbidden", "wrong admin key", "X-Admin-Key")


@guarded(render_own)
async def reload(request: Request) -> Response:
    engine = predictor(request)
    check_admin(engine, request)
    body = await engine.reload()
    primary = engine.primary.current
    return json_response(body, version=primary.version if primary else None)


def register(app: FastAPI) -> None:
    add = app.add_api_route
    add(
        "/",
        info,
        methods=["GET"],
        tags=["service"],
        summary="Service info: served models, versions, metrics, input schema, endpoints.",
    )
    add(
        "/health",
        health,
        methods=["GET"],
        tags=["service"],
        summary="Liveness: 200 while the process is up.",
    )
    add(
        "/ready",
        ready,
        methods=["GET"],
        tags=["service"],
        summary="Readiness: 200 once every configured model is loaded, 503 before.",
        responses={503: response("Some configured model is still loading.", JSON, NOT_READY)},
    )
    add(
        "/metrics",
        metrics,
        methods=["GET"],
        tags=["service"],
        summary="Prometheus metrics.",
        response_class=PlainTextResponse,
        responses={
            200: response(
                f"The Prometheus text format ({CONTENT_TYPE}).", "text/plain", {"type": "string"}
            )
        },
    )
    add(
        "/admin/reload",
        reload,
        methods=["POST"],
        tags=["admin"],
        summary="Check the registry now and hot-swap any reference that moved.",
        description="Needs `X-Admin-Key: <key>` or `Authorization: Bearer <key>` when "
        "MODELYARD_ADMIN_KEY is set.",
        responses=error_responses(ADMIN_EXAMPLE, 401, 403, schema=OWN_ERROR),
    )
