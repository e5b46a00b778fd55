"""The alerts Prometheus is firing, as one row of the dashboard's Services panel.

Read from Prometheus's ``/api/v1/alerts``: red while a ``critical`` alert fires, amber while
only others do (or Prometheus cannot be asked), green when none fires. Like the other
probes it never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from modelyard.dashboard.health import Level, ServiceStatus, error_text

TITLE = "Alerts"
SHOWN = 4  # alerts named in the row; the rest are counted


def describe(alert: Mapping[str, Any]) -> str:
    """``ModelyardTargetDown (worker)``: the alert's name and what it is about."""
    labels = alert.get("labels") or {}
    about = labels.get("model_name") or labels.get("model") or labels.get("job")
    name = str(labels.get("alertname", "unnamed alert"))
    return f"{name} ({about})" if about else name


def judge(alerts: Sequence[Mapping[str, Any]], url: str) -> ServiceStatus:
    """The row for these alerts (Prometheus's ``data.alerts``)."""
    firing = [a for a in alerts if a.get("state") == "firing"]
    if not firing:
        return ServiceStatus("alerts", TITLE, "green", "no alert firing", url)
    critical = [a for a in firing if (a.get("labels") or {}).get("severity") == "critical"]
    level: Level = "red" if critical else "amber"
    ordered = critical + [a for a in firing if a not in critical]
    described = list(dict.fromkeys(describe(a) for a in ordered))
    text = ", ".join(described[:SHOWN])
    if len(described) > SHOWN:
        text += f" and {len(described) - SHOWN} more"
    count = f"{len(firing)} firing" + (f" ({len(critical)} critical)" if critical else "")
    return ServiceStatus("alerts", TITLE, level, f"{count}: {text}", url)


def probe_alerts(client: httpx.Client, prometheus_url: str) -> ServiceStatus:
    """Ask Prometheus which alerts fire."""
    base = prometheus_url.rstrip("/")
    url = f"{base}/alerts"
    try:
        response = client.get(f"{base}/api/v1/alerts")
        response.raise_for_status()
        alerts = response.json()["data"]["alerts"]
    except httpx.HTTPError as exc:
        reason = f"cannot ask Prometheus: {error_text(exc)}"
        return ServiceStatus("alerts", TITLE, "amber", reason, url)
    except (ValueError, KeyError, TypeError):
        return ServiceStatus("alerts", TITLE, "amber", "Prometheus gave no alert list", url)
    return judge(alerts, url)
