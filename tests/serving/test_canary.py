"""The canary: callers in the share are answered by the challenger, each always alike, and
the answer names the version (and reference) that made it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from inprocess import serving
from starlette.testclient import TestClient

from modelyard.serving.canary import bucket

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
SHARE = 0.5
CALLERS = [f"caller-{n}" for n in range(40)]


def _version(client: TestClient, caller: str, path: str = "/predict") -> str:
    answer = client.post(path, json=ROW, headers={"X-Caller-Id": caller})
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Model-Version"]


def _warm(client: TestClient, caller: str) -> None:
    """The first request of a caller in the share loads the challenger in the background;
    wait until it answers."""
    deadline = time.monotonic() + 30
    while _version(client, caller) != "1":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_callers_in_the_share_get_the_challenger_every_time(tmp_path: Path) -> None:
    inside = [c for c in CALLERS if bucket("id:" + c) < SHARE]
    assert 10 <= len(inside) <= 30  # the hash spreads callers
    with serving(tmp_path, canary_share=SHARE, shadow_ref="1") as client:
        _warm(client, inside[0])
        for caller in CALLERS:
            expected = "1" if caller in inside else "2"
            assert {_version(client, caller) for _ in range(3)} == {expected}, caller
        body = client.post("/predict", json=ROW, headers={"X-Caller-Id": inside[0]}).json()
        assert body["model"] == {"name": "iris", "version": "1", "ref": "1"}
        outside = next(c for c in CALLERS if c not in inside)
        body = client.post("/predict", json=ROW, headers={"X-Caller-Id": outside}).json()
        assert body["model"] == {"name": "iris", "version": "2", "ref": "champion"}
        # the other protocols' default-version endpoints too
        assert _version(client, inside[0], "/models/iris/predict") == "1"
        answer = client.post(
            "/invocations",
            json={"dataframe_records": [ROW]},
            headers={"X-Caller-Id": inside[0]},
        )
        assert answer.headers["X-Model-Version"] == "1"
        # a request naming a version is answered by that version
        assert _version(client, inside[0], "/models/iris/versions/2/predict") == "2"
        metrics = client.get("/metrics").text
    count = re.search(
        r'modelyard_api_canary_requests_total{model="iris",version="1"} (\S+)', metrics
    )
    assert count is not None and float(count.group(1)) >= 3 * len(inside)


def test_no_canary_without_a_share_or_another_version(tmp_path: Path) -> None:
    for name, settings in {
        "off": {"shadow_ref": "1"},
        "same": {"canary_share": 1.0, "shadow_ref": "champion"},
        "absent": {"canary_share": 1.0, "shadow_ref": "challenger"},
    }.items():
        with serving(tmp_path / name, **settings) as client:
            assert {_version(client, c) for c in CALLERS[:10] for _ in range(2)} == {"2"}
            metrics = client.get("/metrics").text
        assert "modelyard_api_canary_requests_total{" not in metrics
