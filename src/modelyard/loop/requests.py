"""Asking for a retraining: a request left as a tag of the registered model.

The API and the dashboard have no training stack (the API not even the database), but every
service reaches the registry. A request is one tag, ``modelyard.retrain_request``, holding a
JSON object (an id, the source, the reason and when); the worker of that model picks up a
request whose id it has not recorded yet (:mod:`modelyard.loop.retrainer`). A newer request
replaces an older one that was not picked up: one retraining covers both.

An alert can ask at most once per cool-down: a flapping alert re-sent by Alertmanager finds
the last alert's request younger than ``MODELYARD_RETRAIN_COOLDOWN_SECONDS`` and is answered
"cooling down" without touching the registry. The worker checks the cool-down again against
the retrainings it started, which every API process and worker share.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from modelyard.registry import Registry

REQUEST_TAG = "modelyard.retrain_request"

Source = Literal["manual", "schedule", "alert"]
SOURCES: tuple[Source, ...] = ("manual", "schedule", "alert")
MAX_REASON = 1000


@dataclass(frozen=True)
class RetrainRequest:
    id: str
    source: Source
    reason: str
    at: float  # Unix time

    @classmethod
    def new(cls, source: Source, reason: str, at: float | None = None) -> RetrainRequest:
        return cls(uuid.uuid4().hex, source, reason[:MAX_REASON], time.time() if at is None else at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | None) -> RetrainRequest | None:
        """The request a tag holds; None for none or for a value that is not one."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            source = data["source"]
            if source not in SOURCES:
                return None
            return cls(str(data["id"]), source, str(data["reason"]), float(data["at"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Asked:
    """The answer to asking: whether a request was left, the request standing, and why."""

    requested: bool
    request: RetrainRequest | None
    message: str

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"requested": self.requested, "message": self.message}
        if self.request is not None:
            out["request"] = asdict(self.request)
        return out


def pending(registry: Registry) -> RetrainRequest | None:
    """The request standing in the registry (picked up or not), if any."""
    return RetrainRequest.from_json(registry.model_tag(REQUEST_TAG))


def ask(
    registry: Registry,
    source: Source,
    reason: str,
    *,
    cooldown_seconds: float,
    now: float | None = None,
) -> Asked:
    """Leave a retraining request for ``registry``'s model, unless an alert asks within the
    cool-down of the last alert's request."""
    now = time.time() if now is None else now
    if source == "alert":
        standing = pending(registry)
        if standing is not None and standing.source == "alert":
            age = now - standing.at
            if 0 <= age < cooldown_seconds:
                return Asked(
                    False,
                    standing,
                    f"cooling down: an alert asked for a retraining {age:.0f}s ago "
                    f"(cool-down {cooldown_seconds:.0f}s)",
                )
    request = RetrainRequest.new(source, reason, now)
    registry.set_model_tag(REQUEST_TAG, request.to_json())
    return Asked(True, request, f"retraining of {registry.name} requested ({source})")
