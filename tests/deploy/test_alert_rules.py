"""The alert rules are complete: each has its runbook, its unit tests and catalogued metrics.

``make rules`` runs promtool on the same files (check rules, check config, test rules);
this test checks what promtool does not: every alert has a ``for:``, a severity, a summary
and a README runbook subsection; the promtool tests fire every alert and also hold it
silent; every metric a rule reads is in the README's metric catalogue.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelyard.serving.metrics import ServingMetrics
from support import REPO_ROOT

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
README = (REPO_ROOT / "README.md").read_text()
SEVERITIES = {"critical", "warning"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted((PROMETHEUS / "rules").glob("*.yml"))
        for group in load(path)["groups"]
        for rule in group["rules"]
    ]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def expressions() -> str:
    return "\n".join(rule["expr"] for rule in rules())


def runbooks() -> dict[str, str]:
    """README "### Alerts": alert name → its subsection's text."""
    section = README.split("\n### Alerts\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^#### (\S+)\n", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_compose_prometheus_loads_the_rule_files_in_both_stacks() -> None:
    config = load(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["rules/*.yml"]
    assert list((PROMETHEUS / "rules").glob("*.yml"))
    for file in ("compose.yaml", "compose.prod.yaml"):
        volumes = load(REPO_ROOT / file)["services"]["prometheus"]["volumes"]
        assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in volumes, file


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_alert_waits_has_a_severity_a_summary_and_a_runbook(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), f"{name}: a `for:` duration"
    assert rule["labels"]["severity"] in SEVERITIES, name
    assert rule["annotations"]["summary"], name
    assert rule["annotations"]["runbook_url"] == f"README.md#{name.lower()}"
    text = runbooks().get(name)
    assert text is not None, f"{name} has no subsection in the README's Alerts section"
    assert "Check" in text and "Do:" in text, f"{name}: the runbook says what to check and do"


def test_every_runbook_belongs_to_an_alert() -> None:
    assert set(runbooks()) == {rule["alert"] for rule in alerts()}


def test_every_alert_has_unit_tests_that_fire_it_and_that_hold_it_silent() -> None:
    fired: dict[str, set[str]] = defaultdict(set)
    silent: set[str] = set()
    for path in sorted((PROMETHEUS / "tests").glob("*.yml")):
        spec = load(path)
        assert spec["rule_files"] == ["../rules/modelyard.yml"], path
        for case in spec["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                if check.get("exp_alerts"):
                    fired[name] |= {a["exp_labels"]["severity"] for a in check["exp_alerts"]}
                else:
                    silent.add(name)
    for rule in alerts():
        name, severity = rule["alert"], rule["labels"]["severity"]
        assert severity in fired[name], f"no promtool test fires {name} ({severity})"
        assert name in silent, f"no promtool test holds {name} silent"


def test_every_metric_the_rules_read_is_catalogued() -> None:
    catalogued = set(re.findall(r"^\| `([a-z_0-9]+)` \|", README, re.M))
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        for name in re.findall(r"\b(modelyard_[a-z_]+|mlflow_[a-z_]+)", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert name in catalogued or base in catalogued, f"{name} is not in the catalogue"
        for name in re.findall(r"\bmodelyard:[a-z_:0-9]+", rule["expr"]):
            assert name in recorded, f"{name} is read but never recorded"


def test_the_latency_objective_is_a_bucket_bound_the_api_exports() -> None:
    bounds = set(re.findall(r'modelyard_api_request_seconds_bucket\{le="([0-9.]+)"', expressions()))
    assert bounds == {"0.25"}
    metrics = ServingMetrics()
    metrics.observe_request("/predict", "POST", 500, 0.3)
    text = metrics.render().decode()
    assert re.search(
        r'^modelyard_api_request_seconds_bucket\{[^}]*le="0.25"[^}]*\} 0.0$', text, re.M
    )
    assert re.search(r'^modelyard_api_requests_total\{[^}]*status="500"[^}]*\} 1.0$', text, re.M)
