"""Mirroring served traffic to the challenger: counted, compared, never in the answer."""

from __future__ import annotations

import re
import time
from pathlib import Path

from inprocess import serving

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}


def _counter(text: str, name: str, version: str) -> float:
    found = re.search(rf'^{name}_total{{model="iris",version="{version}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_share_of_the_requests_is_scored_again_by_the_challenger(tmp_path: Path) -> None:
    with serving(tmp_path, mirror_share=1.0, shadow_ref="1") as client:
        for _ in range(5):
            answer = client.post("/predict", json=ROW)
            assert answer.status_code == 200
            assert answer.json()["model"]["version"] == "2"  # the answer is the champion's
        batch = client.post("/predict", json={"records": [ROW, ROW, ROW]})
        assert batch.status_code == 200
        deadline = time.monotonic() + 20
        while _counter(client.get("/metrics").text, "modelyard_api_mirrored_rows", "1") < 8:
            assert time.monotonic() < deadline, client.get("/metrics").text
            time.sleep(0.02)
        metrics = client.get("/metrics").text
    assert _counter(metrics, "modelyard_api_mirrored_rows", "1") == 8
    assert 0 <= _counter(metrics, "modelyard_api_mirror_agreed_rows", "1") <= 8
    assert 'modelyard_api_mirror_seconds_count{model="iris",version="1"} 6.0' in metrics
    assert "modelyard_api_mirror_failures_total{" not in metrics


def test_nothing_is_mirrored_without_another_version_to_mirror_to(tmp_path: Path) -> None:
    for ref in ("champion", "challenger"):  # the served version itself; an absent alias
        with serving(tmp_path / ref, mirror_share=1.0, shadow_ref=ref) as client:
            for _ in range(3):
                assert client.post("/predict", json=ROW).status_code == 200
            client.post("/models/iris/versions/1/predict", json=ROW)  # not the default version
            metrics = client.get("/metrics").text
        assert "modelyard_api_mirrored_rows_total{" not in metrics
        assert "modelyard_api_mirror_failures_total{" not in metrics
