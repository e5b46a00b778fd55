"""A real Prometheus scraping a real API, worker and MLflow server, alerting through a real
Alertmanager to a webhook: every dashboard query and recording rule returns data, every
alert expression runs, and a stopped worker's alerts reach the webhook and resolve.

Prometheus (Debian's) scrapes and evaluates every second. The alert rules are the shipped
ones with each ``for:`` cut to 1 s and the worker's lag threshold to 2 s, so that an alert
fires within seconds; their expressions are otherwise unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_iris

from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.deploy.monitoring import (
    Intervals,
    alertmanager_config,
    load_template,
    prometheus_config,
)
from modelyard.streaming import store
from prometheus_support import (
    Webhook,
    alertmanager_server,
    binaries,
    poll,
    prometheus_server,
    query,
)
from serving.api_server import Api, start_api
from support import REPO_ROOT, free_port, modelyard_argv, start_process, stop_process

pytestmark = pytest.mark.integration

DEPLOY = REPO_ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
FAST = Intervals(
    scrape="1s", evaluation="1s", group_wait="1s", group_interval="1s", repeat_interval="1h"
)
LAG_THRESHOLD = 2  # seconds, instead of 60
WORKER_ENV = {
    "MODELYARD_WORKER_POLL_SECONDS": "0.2",
    "MODELYARD_REGISTRY_POLL_SECONDS": "0",
    "MODELYARD_WORKER_MONITOR_SECONDS": "1",
    "MODELYARD_QUALITY_WINDOW": "100",
}


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def fast_rules(folder: Path) -> Path:
    """The shipped rules with every ``for:`` at 1 s and the lag alert's threshold at 2 s."""
    out = []
    for path in RULES:
        config = yaml.safe_load(path.read_text())
        for group in config["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "1s"
                if rule.get("alert") == "ModelyardWorkerLagging":
                    assert "> 60" in rule["expr"]
                    rule["expr"] = rule["expr"].replace("> 60", f"> {LAG_THRESHOLD}")
        out.append(config)
    target = folder / "rules.yml"
    target.write_text(yaml.safe_dump({"groups": [g for c in out for g in c["groups"]]}))
    return target


def dashboard_queries() -> list[tuple[str, str]]:
    return [
        (f"{path.stem}: {panel['title']}", target["expr"])
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    webhook: Webhook
    api: Api
    db_url: str
    worker_port: int
    start_worker: Callable[..., Any]
    worker: Any = None
    logs: list[Path] = field(default_factory=list)


def _labelled_rows(n: int, offset: int = 0) -> tuple[list[dict[str, float]], list[str | None]]:
    iris = load_iris()
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    picks = [(offset + i * 7) % len(iris.data) for i in range(n)]
    rows = [{k: float(v) for k, v in zip(names, iris.data[i], strict=True)} for i in picks]
    return rows, [str(iris.target_names[iris.target[i]]) for i in picks]


@pytest.fixture(scope="module")
def stack(trained_registry: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binaries()  # skip (or, in CI, fail) at once when Prometheus is not installed
    root = tmp_path_factory.mktemp("monitoring")
    db_url = f"sqlite:///{root / 'modelyard.db'}"
    engine = make_engine(db_url)
    upgrade_database(engine)
    engine.dispose()
    worker_port = free_port()

    def start_worker(**env: object) -> Any:
        values = {
            **WORKER_ENV,
            "MODELYARD_DATABASE_URL": db_url,
            "MODELYARD_WORKER_METRICS_PORT": worker_port,
            **env,
        }
        return start_process(
            modelyard_argv("worker"),
            trained_registry.env(root / "worker-home", **values),
            root / "worker.log",
        )

    prom_port, am_port = free_port(), free_port()
    prometheus, alertmanager = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
    with (
        Webhook() as webhook,
        start_api(trained_registry, root / "api-home", root / "api.log") as api,
        alertmanager_server(
            root / "alertmanager",
            alertmanager_config(load_template(DEPLOY), webhook.url, FAST),
            am_port,
        ),
        prometheus_server(
            root / "prometheus",
            prometheus_config(
                {
                    "prometheus": f"{prometheus}/metrics",
                    "alertmanager": f"{alertmanager}/metrics",
                    "api": f"{api.url}/metrics",
                    "worker": f"http://127.0.0.1:{worker_port}/metrics",
                    "mlflow": f"{trained_registry.tracking_uri}/metrics",
                },
                alertmanager,
                [fast_rules(root)],
                FAST,
            ),
            prom_port,
        ),
    ):
        found = Stack(prometheus, alertmanager, webhook, api, db_url, worker_port, start_worker)
        found.worker = start_worker()
        try:
            yield found
        finally:
            stop_process(found.worker)


def _load(stack: Stack, rows: int = 600) -> None:
    """A short load: labelled rows for the worker, single and batched requests to the API."""
    engine = make_engine(stack.db_url)
    try:
        features, labels = _labelled_rows(rows)
        store.insert_observations(engine, features, "test", labels=labels)
    finally:
        engine.dispose()
    for row in features[:40]:
        assert stack.api.post("/predict", json=row).status_code == 200
    assert stack.api.post("/predict", json={"records": features[:20]}).status_code == 200


def _missing(stack: Stack, queries: list[tuple[str, str]]) -> list[str]:
    return [f"{name}: {expr}" for name, expr in queries if not query(stack.prometheus, expr)]


def test_every_dashboard_query_and_recording_rule_returns_data(stack: Stack) -> None:
    records = [(f"record {r['record']}", r["record"]) for r in rules() if "record" in r]
    queries = dashboard_queries() + records
    assert len(queries) > 40
    targets = ("prometheus", "alertmanager", "api", "worker", "mlflow")
    poll(
        lambda: all(query(stack.prometheus, f'up{{job="{job}"}} == 1') for job in targets),
        60,
        f"scrape of every target ({', '.join(targets)})",
    )
    _load(stack)
    missing: list[str] = []

    def all_answer() -> bool:
        missing[:] = _missing(stack, queries)
        if missing and any("[1m]" in m or "[5m]" in m for m in missing):
            _load(stack, rows=20)  # rates need requests in two scrapes of their window
        return not missing

    try:
        poll(all_answer, 60, "data for every query", every=1.0)
    except pytest.fail.Exception:
        pytest.fail("no data for:\n" + "\n".join(missing))
    # the alerts' expressions parse and run (most must stay silent on a healthy stack)
    for rule in rules():
        if "alert" in rule:
            query(stack.prometheus, rule["expr"])


def _notified(stack: Stack, alertname: str, status: str, since: int) -> list[dict[str, Any]]:
    """The worker's ``alertname`` alerts with ``status`` notified after the first ``since``."""
    return [
        a
        for a in stack.webhook.alerts()[since:]
        if a["labels"]["alertname"] == alertname
        and a["status"] == status
        and a["labels"].get("job") == "worker"
    ]


def test_a_stopped_worker_alerts_through_alertmanager_and_resolves_when_back(
    stack: Stack,
) -> None:
    poll(lambda: query(stack.prometheus, 'up{job="worker"} == 1'), 60, "worker scraped")
    # what the webhook got before (the worker's start, the first load) does not count
    before = len(stack.webhook.alerts())
    assert stop_process(stack.worker) == 0
    down = poll(
        lambda: _notified(stack, "ModelyardTargetDown", "firing", before),
        30,
        "target-down notification",
    )
    assert down[0]["labels"]["severity"] == "critical"
    assert down[0]["annotations"]["runbook_url"].endswith("#modelyardtargetdown")

    # rows keep arriving while it is down: a backlog older than the lag threshold
    engine = make_engine(stack.db_url)
    try:
        features, labels = _labelled_rows(20000, offset=1)
        store.insert_observations(engine, features, "test", labels=labels)
    finally:
        engine.dispose()
    # back, scoring one row a batch: the backlog takes it tens of seconds, long enough for
    # the lag to be scraped and its rule to hold on a loaded machine
    back = len(stack.webhook.alerts())
    stack.worker = stack.start_worker(MODELYARD_WORKER_BATCH_SIZE="1")
    poll(
        lambda: _notified(stack, "ModelyardTargetDown", "resolved", back),
        90,
        "target-down resolved",
    )
    lagging = poll(
        lambda: _notified(stack, "ModelyardWorkerLagging", "firing", back),
        60,
        "lag notification",
    )
    assert lagging[0]["labels"]["severity"] == "warning"
    poll(
        lambda: _notified(stack, "ModelyardWorkerLagging", "resolved", back),
        90,
        "lag resolved",
    )
