"""Admin endpoints of the closed loop: Alertmanager's webhook and asking for a retraining.

Neither trains anything: the API leaves a request in the registry
(:mod:`modelyard.loop.requests`) and the worker runs it. ``POST /admin/alerts`` takes
Alertmanager's webhook JSON; a firing alert named in ``MODELYARD_RETRAIN_ALERTS`` asks for
one retraining of the model it concerns, at most once per
``MODELYARD_RETRAIN_COOLDOWN_SECONDS``. ``POST /admin/retrain`` asks by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from modelyard.errors import UnknownModelError
from modelyard.loop.alerts import PayloadError, WebhookAlert, parse_payload, retraining_alerts
from modelyard.loop.requests import MAX_REASON, Asked, Source, ask
from modelyard.serving.errors import ApiError
from modelyard.serving.http import Call, Reply, json_reply
from modelyard.serving.protocols.own import render
from modelyard.serving.router import ServingApp
from modelyard.serving.routes.docs import OWN_ERROR, error_responses, response

log = logging.getLogger(__name__)

JSON = "application/json"
ADMIN = (
    "Needs an admin key (`Authorization: Bearer <key>`, `X-API-Key` or `X-Admin-Key`) when "
    "MODELYARD_ADMIN_KEY_HASHES or MODELYARD_ADMIN_KEY is set; refused without one unless "
    "the API listens on loopback only. "
)
INVALID_EXAMPLE = {
    "error": {
        "code": "invalid_parameter",
        "message": "not an Alertmanager webhook body: alerts: Field required",
        "field": "alerts",
    }
}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "alerts"],
    "properties": {
        "version": {"type": "string"},
        "status": {"enum": ["firing", "resolved"]},
        "receiver": {"type": "string"},
        "alerts": {
            "type": "array",
            "maxItems": 10_000,
            "items": {
                "type": "object",
                "required": ["status", "labels"],
                "properties": {
                    "status": {"enum": ["firing", "resolved"]},
                    "labels": _LABELS,
                    "annotations": _LABELS,
                    "startsAt": {"type": "string"},
                    "fingerprint": {"type": "string"},
                },
            },
        },
    },
}
WEBHOOK_EXAMPLE = {
    "version": "4",
    "status": "firing",
    "receiver": "modelyard-api",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ModelyardFeatureDrift",
                "model_name": "iris",
                "feature": "petal_length",
            },
            "annotations": {"summary": "feature petal_length drifted"},
            "startsAt": "2026-12-03T10:00:00Z",
        }
    ],
}
RETRAIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "description": "A served model (default: the primary)."},
        "reason": {"type": "string", "maxLength": MAX_REASON},
    },
    "additionalProperties": False,
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "source", "reason", "at"],
    "properties": {
        "id": {"type": "string"},
        "source": {"enum": ["manual", "schedule", "alert"]},
        "reason": {"type": "string"},
        "at": {"type": "number"},
    },
}
ASKED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["requested", "message"],
    "properties": {
        "requested": {"type": "boolean"},
        "message": {"type": "string"},
        "request": REQUEST_SCHEMA,
    },
}
ALERTS_REPLY: dict[str, Any] = {
    "type": "object",
    "required": ["received", "retraining"],
    "properties": {
        "received": {"type": "integer"},
        "retraining": {"type": "object", "additionalProperties": ASKED_SCHEMA},
    },
}


def _ask(call: Call, name: str, source: Source, reason: str) -> Asked:
    engine = call.engine
    asked = ask(
        engine.catalog.registry(name),
        source,
        reason,
        cooldown_seconds=engine.settings.retrain_cooldown_seconds,
    )
    outcome = "requested" if asked.requested else "cooling_down"
    engine.metrics.retrain_requests.labels(name, source, outcome).inc()
    if asked.requested:
        log.warning("retraining of %s requested (%s: %s)", name, source, reason)
    else:
        log.info("retraining of %s not requested: %s", name, asked.message)
    return asked


async def alerts(call: Call) -> Reply:
    engine = call.engine
    data = await call.json(engine.settings.max_body_bytes)
    try:
        payload = parse_payload(data)
    except PayloadError as exc:
        raise ApiError("invalid_parameter", str(exc), exc.field) from None
    for alert in payload.alerts:
        engine.metrics.alerts_received.labels(alert.name, alert.status).inc()
    names = engine.settings.retrain_alert_names
    by_model: dict[str, list[WebhookAlert]] = defaultdict(list)
    for name in engine.catalog.names:
        firing = retraining_alerts(payload, names, name)
        if name != engine.primary.name:  # an alert names no model: the primary one's
            firing = [a for a in firing if "model_name" in a.labels]
        if firing:
            by_model[name] = firing
    answers: dict[str, Any] = {}
    for name, firing in by_model.items():
        reason = "; ".join(sorted({a.describe() for a in firing}))
        asked = await asyncio.to_thread(_ask, call, name, "alert", reason)
        answers[name] = asked.as_json()
    return json_reply({"received": len(payload.alerts), "retraining": answers})


async def retrain(call: Call) -> Reply:
    engine = call.engine
    body: dict[str, Any] = {}
    if call.header(b"content-length") not in (None, "0") or call.header(b"content-type"):
        data = await call.json(engine.settings.max_body_bytes)
        if not isinstance(data, dict):
            raise ApiError("invalid_parameter", "the body must be a JSON object", "body")
        unknown = sorted(set(data) - {"model", "reason"})
        if unknown:
            raise ApiError("invalid_parameter", f"unknown field {unknown[0]!r}", unknown[0])
        body = data
    name = body.get("model", engine.primary.name)
    if not isinstance(name, str):
        raise ApiError("invalid_parameter", "model: expected a model name (a string)", "model")
    reason = body.get("reason", "asked for through POST /admin/retrain")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApiError(
            "invalid_parameter",
            f"reason: expected text of at most {MAX_REASON} characters",
            "reason",
        )
    try:
        engine.catalog.check_name(name)
    except UnknownModelError as exc:
        raise ApiError("model_not_found", str(exc), "model") from None
    asked = await asyncio.to_thread(_ask, call, name, "manual", reason)
    return json_reply(asked.as_json(), 202)


def register(app: ServingApp) -> None:
    app.route(
        "POST",
        "/admin/alerts",
        alerts,
        render,
        "admin",
        tags=["admin"],
        summary="Alertmanager's webhook: firing retraining alerts ask for a retraining.",
        description=ADMIN + "Takes Alertmanager's webhook JSON. A firing alert named in "
        "MODELYARD_RETRAIN_ALERTS asks for one retraining of the model it concerns (its "
        "`model_name` label, else the primary model), at most once per "
        "MODELYARD_RETRAIN_COOLDOWN_SECONDS; the worker runs it. Other alerts are counted.",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": WEBHOOK_SCHEMA, "example": WEBHOOK_EXAMPLE}},
            }
        },
        responses={
            200: response(
                "Received; per model, whether a retraining was asked for.", JSON, ALERTS_REPLY
            ),
            **error_responses(INVALID_EXAMPLE, 400, 413, 415, 422, 503, schema=OWN_ERROR),
        },
    )
    app.route(
        "POST",
        "/admin/retrain",
        retrain,
        render,
        "admin",
        tags=["admin"],
        summary="Ask for a retraining (the worker runs it; the champion is never moved).",
        description=ADMIN
        + "The worker trains on the original data plus the labelled observations and registers "
        "a challenger (`modelyard retrain`). The body is optional.",
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {
                    JSON: {
                        "schema": RETRAIN_SCHEMA,
                        "example": {"model": "iris", "reason": "new labels arrived"},
                    }
                },
            }
        },
        responses={
            202: response("Asked for; the worker picks the request up.", JSON, ASKED_SCHEMA),
            **error_responses(INVALID_EXAMPLE, 400, 404, 413, 415, 422, 503, schema=OWN_ERROR),
        },
    )
