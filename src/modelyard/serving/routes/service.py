"""Service endpoints: info, liveness, readiness, metrics, admin reload."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.responses import PlainTextResponse

from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.metrics import CONTENT_TYPE
from modelyard.serving.protocols.own import render
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import OWN_ERROR, error_responses, response

JSON = "application/json"
NOT_READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"const": False}}}
ADMIN_EXAMPLE = {
    "error": {"code": "forbidden", "message": "the key is not valid here", "field": "X-Admin-Key"}
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


def _primary_version(call: Call) -> str | None:
    model = call.engine.catalog.configured[call.engine.primary].current
    return model.version if model else None


def info(docs: FastAPI) -> Any:
    async def info(call: Call) -> Reply:
        body: dict[str, Any] = {
            "service": "modelyard prediction API",
            **call.engine.service_info(),
            "endpoints": _endpoints(docs),
        }
        return json_reply(body, version=_primary_version(call))

    return info


async def health(call: Call) -> Reply:
    return json_reply({"status": "ok"})


async def ready(call: Call) -> Reply:
    engine = call.engine
    status = 200 if engine.ready else 503
    return json_reply(engine.readiness(), status, version=_primary_version(call))


async def metrics(call: Call) -> Reply:
    return Reply(call.engine.metrics.render(), media_type=CONTENT_TYPE)


async def reload(call: Call) -> Reply:
    body = await call.engine.reload()
    return json_reply(body, version=_primary_version(call))


def register(app: ServingApp) -> None:
    app.route(
        "GET",
        "/",
        info(app.docs),
        render,
        tags=["service"],
        summary="Service info: served models, versions, metrics, input schema, endpoints.",
    )
    app.route(
        "GET",
        "/health",
        health,
        render,
        "open",
        tags=["service"],
        summary="Liveness: 200 while the process is up.",
    )
    app.route(
        "GET",
        "/ready",
        ready,
        render,
        "open",
        tags=["service"],
        summary="Readiness: 200 once every configured model is loaded, 503 before.",
        responses={503: response("Some configured model is still loading.", JSON, NOT_READY)},
    )
    app.route(
        "GET",
        "/metrics",
        metrics,
        render,
        "metrics",
        tags=["service"],
        summary="Prometheus metrics.",
        response_class=PlainTextResponse,
        responses={
            200: response(
                f"The Prometheus text format ({CONTENT_TYPE}).", "text/plain", {"type": "string"}
            )
        },
    )
    app.route(
        "POST",
        "/admin/reload",
        reload,
        render,
        "admin",
        tags=["admin"],
        summary="Check the registry now and hot-swap any reference that moved.",
        description="Needs an admin key (`Authorization: Bearer <key>`, `X-API-Key` or "
        "`X-Admin-Key`) when MODELYARD_ADMIN_KEY_HASHES or MODELYARD_ADMIN_KEY is set; "
        "refused without one unless the API listens on loopback only.",
        responses=error_responses(ADMIN_EXAMPLE, 401, 403, schema=OWN_ERROR),
    )
