"""The API's closed-loop admin endpoints, in process: Alertmanager's webhook
(``POST /admin/alerts``) and ``POST /admin/retrain`` leave one retraining request in the
registry, an alert at most once per cool-down; bad bodies are refused naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import FixtureRegistry, serving
from starlette.testclient import TestClient

from modelyard.loop.requests import REQUEST_TAG

ADMIN_KEY = "loop-admin-key"


def webhook(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "modelyard-api", "alerts": list(alerts)}


def alert(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, **labels}, "annotations": {}}


def standing(name: str = "iris") -> dict[str, Any] | None:
    raw = FixtureRegistry.TAGS.get(name, {}).get(REQUEST_TAG)
    return json.loads(raw) if raw else None


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    FixtureRegistry.TAGS.clear()
    with serving(tmp_path, models="iris@champion,wine@champion", retrain_cooldown_seconds=600) as c:
        yield c
    FixtureRegistry.TAGS.clear()


def test_a_firing_drift_alert_asks_for_one_retraining_and_a_flapping_one_cools_down(
    client: TestClient,
) -> None:
    drift = alert("ModelyardFeatureDrift", model_name="iris", feature="petal_length")
    first = client.post("/admin/alerts", json=webhook(drift))
    assert first.status_code == 200, first.text
    answer = first.json()["retraining"]["iris"]
    assert answer["requested"] is True
    request = standing()
    assert request is not None and request["source"] == "alert"
    assert request["reason"] == "ModelyardFeatureDrift (model_name=iris, feature=petal_length)"
    assert answer["request"]["id"] == request["id"]

    again = client.post("/admin/alerts", json=webhook(drift))
    assert again.json()["retraining"]["iris"]["requested"] is False
    assert "cooling down" in again.json()["retraining"]["iris"]["message"]
    assert standing() == request  # untouched

    metrics = client.get("/metrics").text
    for outcome in ("requested", "cooling_down"):
        labels = f'model="iris",outcome="{outcome}",source="alert"'
        assert f"modelyard_api_retrain_requests_total{{{labels}}} 1.0" in metrics


def test_resolved_other_and_foreign_alerts_ask_for_nothing(client: TestClient) -> None:
    bodies = [
        webhook(
            alert("ModelyardLiveAccuracyLow", "resolved", model_name="iris"), status="resolved"
        ),
        webhook(alert("ModelyardTargetDown", instance="api:8000")),
        webhook(alert("ModelyardFeatureDrift", model_name="some-other-model")),
    ]
    for body in bodies:
        answer = client.post("/admin/alerts", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": 1, "retraining": {}}
    assert standing() is None
    assert 'alertname="ModelyardTargetDown",status="firing"} 1.0' in client.get("/metrics").text


def test_an_alert_names_the_served_model_it_concerns(client: TestClient) -> None:
    answer = client.post(
        "/admin/alerts",
        json=webhook(
            alert("ModelyardLiveAccuracyLow", model_name="wine", model_version="1"),
            alert("ModelyardFeatureDrift", feature="alcohol", model_name="wine"),
        ),
    )
    assert list(answer.json()["retraining"]) == ["wine"]
    wine = standing("wine")
    assert wine is not None and standing("iris") is None
    assert wine["reason"] == (
        "ModelyardFeatureDrift (model_name=wine, feature=alcohol); "
        "ModelyardLiveAccuracyLow (model_name=wine, model_version=1)"
    )


def test_retraining_by_hand_is_not_held_by_the_alert_cool_down(client: TestClient) -> None:
    client.post("/admin/alerts", json=webhook(alert("ModelyardFeatureDrift", model_name="iris")))
    answer = client.post("/admin/retrain", json={"reason": "new labels arrived"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["requested"] is True
    assert standing() == {**answer.json()["request"]}
    assert standing()["source"] == "manual"  # type: ignore[index]
    bare = client.post("/admin/retrain")  # no body at all
    assert bare.status_code == 202 and standing()["reason"].startswith("asked for")  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/admin/alerts", {"status": "firing"}, "alerts"),
        ("/admin/alerts", {"status": "firing", "alerts": [{"status": "on"}]}, "alerts.0.status"),
        (
            "/admin/alerts",
            {"status": "firing", "alerts": [{"status": "firing"}]},
            "alerts.0.labels",
        ),
        ("/admin/alerts", [1, 2], "body"),
        ("/admin/retrain", {"model": "nope"}, "model"),
        ("/admin/retrain", {"model": 3}, "model"),
        ("/admin/retrain", {"why": "x"}, "why"),
        ("/admin/retrain", {"reason": "x" * 1001}, "reason"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    client: TestClient, path: str, body: Any, field: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["error"]["field"] == field
    assert standing() is None


def test_the_endpoints_are_admin_actions(tmp_path: Path) -> None:
    FixtureRegistry.TAGS.clear()
    body = webhook(alert("ModelyardFeatureDrift", model_name="iris"))
    with serving(tmp_path, admin_key=ADMIN_KEY) as client:
        assert client.post("/admin/alerts", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/admin/retrain", headers=wrong).status_code == 403
        assert standing() is None
        good = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert client.post("/admin/alerts", json=body, headers=good).status_code == 200
        assert standing() is not None
    FixtureRegistry.TAGS.clear()
