"""The README's metric catalogue and the metrics the services export agree, name for name.

The API's and the worker's metrics are built as the services build them (``ServingMetrics()``
in the API's engine, ``WorkerMetrics()`` in the worker), each on a registry of its own, and
compared with the table's rows: exported name, type and label names. The MLflow server's
exporter metrics are read from a Flask app that MLflow's own exporter set-up instruments (as
``mlflow server --expose-prometheus`` does), and the OTLP ones from MLflow's own source.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from modelyard.serving.metrics import ServingMetrics
from modelyard.streaming.metrics import WorkerMetrics
from support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
TYPES = {"counter", "gauge", "histogram"}

# A Flask app with MLflow's own exporter set-up (as `mlflow server --expose-prometheus DIR`
# activates it), one request answered and one that raises; its /metrics text on stdout.
# prometheus_client picks multiprocess mode at import: hence a process of its own.
_MLFLOW_EXPORTER_PROBE = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from flask import Flask
from mlflow.server.prometheus_exporter import activate_prometheus_exporter
app = Flask("probe")
app.add_url_rule("/ok", "ok", lambda: "ok")
def fail():
    raise RuntimeError("counted as an exception")
app.add_url_rule("/fail", "fail", fail)
app.logger.disabled = True
activate_prometheus_exporter(app)
client = app.test_client()
client.get("/ok")
client.get("/fail")
sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


@dataclass(frozen=True)
class Row:
    name: str
    type: str
    labels: frozenset[str]
    unit: str
    meaning: str


def catalogue() -> dict[str, Row]:
    """The rows of the README's "Metric catalogue" table, by metric name."""
    section = README.split("### Metric catalogue", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, Row] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z_:0-9]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|$", line)
        if match is None:
            continue
        name, kind, labels, unit, meaning = (part.strip() for part in match.groups())
        assert name not in rows, f"{name} is in the catalogue twice"
        found = frozenset(re.findall(r"`([a-z_0-9]+)`", labels))
        assert found or labels == "—", f"{name}: labels are backticked names or —"
        rows[name] = Row(name, kind, found, unit, meaning)
    return rows


def exported(metrics: object, registry: CollectorRegistry) -> dict[str, tuple[str, frozenset[str]]]:
    """Name as scraped → (type, label names) of every metric an object holds."""
    wrappers = [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]
    # every family the registry collects is one of the object's metrics, none is hidden
    assert {f.name for f in registry.collect()} == {w._name for w in wrappers}
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for wrapper in wrappers:
        # prometheus_client keeps label names only in this attribute (no public accessor)
        labels = frozenset(wrapper._labelnames)
        name = wrapper._name + ("_total" if wrapper._type == "counter" else "")
        out[name] = (wrapper._type, labels)
    return out


def mlflow_otlp_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """The metrics MLflow's ``server/otlp_metrics.py`` defines, read from its source."""
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.submodule_search_locations
    source = Path(spec.submodule_search_locations[0], "server", "otlp_metrics.py")
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        kind = node.func.id.lower()
        if kind not in TYPES:
            continue
        name = ast.literal_eval(node.args[0])
        labels = frozenset(ast.literal_eval(node.args[2])) if len(node.args) > 2 else frozenset()
        out[name] = (kind, labels)
    assert out, f"no metrics found in {source}"
    return out


def families(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Name as scraped → (type, label names) of every family in Prometheus text."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for family in text_string_to_metric_families(text):
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = (family.type, labels)
    return out


@pytest.fixture(scope="module")
def mlflow_exporter(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[str, frozenset[str]]]:
    """The metrics MLflow's Prometheus exporter serves (prometheus-flask-exporter)."""
    folder = tmp_path_factory.mktemp("mlflow-metrics")
    done = subprocess.run(
        [sys.executable, "-c", _MLFLOW_EXPORTER_PROBE, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = families(done.stdout)
    assert "mlflow_http_request_exceptions_total" in found, done.stdout
    return found


def services() -> dict[str, tuple[str, frozenset[str]]]:
    api = ServingMetrics()
    worker = WorkerMetrics()
    return {**exported(api, api.registry), **exported(worker, worker.registry)}


def test_every_metric_the_api_and_the_worker_export_is_in_the_catalogue() -> None:
    rows = catalogue()
    for name, (kind, labels) in services().items():
        assert name in rows, f"{name} ({kind}) is missing from the README's metric catalogue"
        assert rows[name].type == kind, f"{name}: the catalogue says {rows[name].type}"
        assert rows[name].labels == labels, f"{name}: labels {sorted(labels)} in the code"


def test_every_metric_the_mlflow_server_exports_is_in_the_catalogue(
    mlflow_exporter: dict[str, tuple[str, frozenset[str]]],
) -> None:
    rows = catalogue()
    for name, (kind, labels) in {**mlflow_exporter, **mlflow_otlp_metrics()}.items():
        assert name in rows, f"{name} ({kind}) is missing from the README's metric catalogue"
        assert (rows[name].type, rows[name].labels) == (kind, labels), name


def test_every_catalogued_metric_exists(
    mlflow_exporter: dict[str, tuple[str, frozenset[str]]],
) -> None:
    known = {**services(), **mlflow_exporter, **mlflow_otlp_metrics()}
    for name, row in catalogue().items():
        assert name in known, f"the README catalogues {name}, which nothing exports"
        kind, labels = known[name]
        assert (row.type, row.labels) == (kind, labels), f"{name}: {kind} {sorted(labels)}"


@pytest.mark.parametrize("row", catalogue().values(), ids=lambda r: r.name)
def test_catalogued_names_follow_prometheus_naming(row: Row) -> None:
    assert NAME.match(row.name) and row.type in TYPES, row
    assert row.name.startswith(("modelyard_api_", "modelyard_worker_", "mlflow_")), row.name
    assert row.unit and row.meaning.endswith("."), f"{row.name}: a unit and a meaning"
    assert row.name.endswith("_total") == (row.type == "counter"), row.name
    # base units, named: seconds (never ms) and bytes
    assert (row.unit == "seconds") == row.name.removesuffix("_total").endswith("_seconds")
    assert (row.unit == "bytes") == row.name.endswith("_bytes"), row.name
    assert not re.search(r"_(ms|milliseconds|minutes|kb|mb)(_|$)", row.name), row.name
    # a model's version never goes without its model's name (the worker's name is on its
    # model_info series, since it serves one model)
    if "version" in row.labels:
        assert "model" in row.labels or row.name == "mlflow_exporter_info", row.name
    # latencies are histograms; the only second-valued gauges are a load time and a lag
    if row.unit == "seconds" and row.type != "histogram":
        assert row.name.endswith(("_load_seconds", "_lag_seconds")), row.name
