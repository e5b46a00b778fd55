"""The Services panel's alerts row, read from a real Prometheus's alerts API.

The Prometheus here (Debian's) evaluates two rules that always fire, one critical and one
warning, every second; no scraping is needed for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from modelyard.config import Settings
from modelyard.dashboard.alerts import judge, probe_alerts
from modelyard.dashboard.state import DashboardState
from prometheus_support import binaries, poll, prometheus_server
from support import free_port

ALWAYS = {
    "groups": [
        {
            "name": "always",
            "rules": [
                {
                    "alert": "ModelyardTargetDown",
                    "expr": "vector(1)",
                    "labels": {"severity": "critical", "job": "worker"},
                },
                {
                    "alert": "ModelyardFeatureDrift",
                    "expr": "vector(1)",
                    "labels": {"severity": "warning", "model_name": "iris"},
                },
            ],
        }
    ]
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binaries()
    folder = tmp_path_factory.mktemp("prometheus")
    rules = folder / "always.yml"
    rules.write_text(yaml.safe_dump(ALWAYS))
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": [str(rules)]}
    with prometheus_server(folder, config, free_port()) as url:
        yield url


@pytest.mark.integration
def test_firing_alerts_turn_the_row_red_critical_first(prometheus: str) -> None:
    with httpx.Client(timeout=2) as client:
        status = poll(
            lambda: (s := probe_alerts(client, prometheus)).level == "red" and s,
            30,
            "both alerts firing",
        )
    assert status.name == "alerts" and status.url == f"{prometheus}/alerts"
    assert status.reason == (
        "2 firing (1 critical): ModelyardTargetDown (worker), ModelyardFeatureDrift (iris)"
    )


def test_an_unreachable_prometheus_is_said_so() -> None:
    with httpx.Client(timeout=2) as client:
        status = probe_alerts(client, f"http://127.0.0.1:{free_port()}")
    assert status.level == "amber"
    assert status.reason == "cannot ask Prometheus: connection refused"


def test_warnings_only_are_amber_none_green_and_many_are_counted() -> None:
    def alert(name: str, severity: str, state: str = "firing") -> dict[str, object]:
        return {"labels": {"alertname": name, "severity": severity}, "state": state}

    assert judge([alert("A", "critical", "pending")], "u").level == "green"
    assert judge([], "u").reason == "no alert firing"
    warned = judge([alert("A", "warning")], "u")
    assert (warned.level, warned.reason) == ("amber", "1 firing: A")
    many = judge([alert(name, "warning") for name in "ABCDEF"], "u")
    assert many.reason == "6 firing: A, B, C, D and 2 more"


@pytest.mark.integration
def test_the_services_panel_has_an_alerts_row_only_with_a_prometheus(
    tmp_path: Path, prometheus: str
) -> None:
    def names(**values: object) -> list[str]:
        settings = Settings(_env_file=None, home=tmp_path, **values)  # type: ignore[call-arg]
        state = DashboardState.from_settings(settings)
        try:
            return [s.name for s in state.health.check_all()]
        finally:
            state.close()

    assert "alerts" not in names()
    assert names(prometheus_url=prometheus)[-1] == "alerts"
