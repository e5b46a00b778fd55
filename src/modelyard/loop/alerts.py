"""Alertmanager's webhook as the API receives it, and the alerts that call for a retraining.

The body is Alertmanager's webhook JSON (version 4): ``status`` of the group and its
``alerts``, each with ``status``, ``labels`` (``alertname`` among them) and ``annotations``.
Only firing alerts named in ``MODELYARD_RETRAIN_ALERTS`` (by default the live-accuracy and
drift alerts of ``deploy/prometheus/rules``) ask for a retraining; resolved ones and others
are acknowledged and left alone.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""  # noqa: N815 - Alertmanager's field name
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def describe(self) -> str:
        """``alertname`` with the labels that tell which one (model, version, feature)."""
        keys = ("model_name", "model_version", "feature", "instance")
        shown = ", ".join(f"{k}={self.labels[k]}" for k in keys if k in self.labels)
        return f"{self.name} ({shown})" if shown else self.name


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[WebhookAlert] = Field(max_length=10_000)


class PayloadError(ValueError):
    """The body is not Alertmanager's webhook JSON; ``field`` says where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_payload(data: Any) -> WebhookPayload:
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise PayloadError(
            f"not an Alertmanager webhook body: {field}: {first['msg']}", field
        ) from None


def retraining_alerts(
    payload: WebhookPayload, names: Collection[str], model_name: str
) -> list[WebhookAlert]:
    """The firing alerts of ``names`` that concern ``model_name`` (or no model in particular)."""
    return [
        a
        for a in payload.alerts
        if a.status == "firing"
        and a.name in names
        and a.labels.get("model_name", model_name) == model_name
    ]
