"""Grafana's provisioning (deploy/grafana) is consistent; Grafana itself cannot run here.

Every panel of every dashboard reads the provisioned data source (by its uid), has at least
one query and a unit, and names only metrics the catalogue lists or the rules record. That
each query returns data from a real Prometheus is tests/monitoring's job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import REPO_ROOT

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES = sorted((REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
README = (REPO_ROOT / "README.md").read_text()
PROMQL_KEYWORDS = {"or", "and", "unless", "bool", "offset"}


def datasource_uid() -> str:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    return str(source["uid"])


def panels(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(path.read_text())["panels"]
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers and strings removed)."""
    bare = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", " ", expr)
    bare = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    bare = re.sub(r"\b[a-zA-Z_]\w*\s*\(", "(", bare)  # functions and aggregations
    return set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*", bare)) - PROMQL_KEYWORDS


def known_metrics() -> set[str]:
    catalogued = set(
        re.findall(r"^\| `([a-z_:0-9]+)` \| (?:counter|gauge|histogram) \|", README, re.M)
    )
    recorded = {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    with_series = {
        f"{name}_{suffix}" for name in catalogued for suffix in ("bucket", "sum", "count")
    }
    return catalogued | with_series | recorded | {"up"}


def test_there_are_dashboards_for_serving_quality_worker_and_mlflow() -> None:
    assert {p.stem for p in DASHBOARDS} == {"serving", "quality", "worker", "mlflow"}
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids), uids


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_reads_the_provisioned_source_with_a_query_and_a_unit(path: Path) -> None:
    uid = datasource_uid()
    seen_ids = set()
    for panel in panels(path):
        title = panel["title"]
        assert panel["id"] not in seen_ids, f"{title}: id {panel['id']} twice"
        seen_ids.add(panel["id"])
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, title
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        assert panel["targets"], f"{title}: no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{title}: an empty query"
            assert target.get("datasource", panel["datasource"])["uid"] == uid, title
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{title}: wider than the dashboard"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_a_panel_reads_is_catalogued_or_recorded(path: Path) -> None:
    known = known_metrics()
    for panel in panels(path):
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - known
            assert not unknown, f"{panel['title']!r} reads {sorted(unknown)}"


def test_metric_names_are_found_in_a_query() -> None:
    expr = 'sum by (le) (rate(a_b_bucket{x="y_z"}[5m])) / on (job) c:d:e or vector(0)'
    assert metric_names(expr) == {"a_b_bucket", "c:d:e"}


def test_grafana_asks_for_the_admin_password_from_env_and_allows_no_anonymous_access() -> None:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    mounts = {volume.split(":")[0] for volume in grafana["volumes"]}
    assert {"./deploy/grafana/provisioning", "./deploy/grafana/dashboards"} <= mounts
