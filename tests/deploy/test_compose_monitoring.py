"""Both compose files run what deploy/prometheus/prometheus.yml scrapes and alerts to.

Every scrape target and the Alertmanager Prometheus sends to are services of the file, in
the `monitoring` profile where they are not part of the stack itself; MLflow exports its
metrics; Alertmanager reads deploy/alertmanager/alertmanager.yml.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from support import REPO_ROOT

CONFIG = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())


def hosts(entries: list[dict[str, Any]]) -> set[str]:
    return {t.split(":")[0] for e in entries for s in e["static_configs"] for t in s["targets"]}


@pytest.mark.parametrize("file", ["compose.yaml", "compose.prod.yaml"])
def test_every_target_and_the_alertmanager_are_services(file: str) -> None:
    services = yaml.safe_load((REPO_ROOT / file).read_text())["services"]
    scraped = hosts(CONFIG["scrape_configs"]) - {"localhost"}
    assert scraped == {"api", "worker", "mlflow", "alertmanager"}
    assert scraped <= services.keys(), file
    assert hosts(CONFIG["alerting"]["alertmanagers"]) == {"alertmanager"}
    for name in ("prometheus", "alertmanager"):
        assert services[name]["profiles"] == ["monitoring"], (file, name)
    mount = "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"
    assert mount in services["alertmanager"]["volumes"], file
    assert any(a.startswith("--expose-prometheus=") for a in services["mlflow"]["command"])
