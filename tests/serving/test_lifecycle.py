"""Hot swap under load, failed swaps, MLflow down at start, admin key, workers and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serving_support import IRIS_ROW

from modelyard.registry import Registry
from support import free_port, modelyard_argv, running, service_env, wait_for_http

pytestmark = pytest.mark.integration


def metric_value(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_hot_swap_under_load_fails_no_request(isolated_registry, api_factory) -> None:
    reg = isolated_registry
    with api_factory(reg, registry_poll_seconds=0.5) as api:
        assert api.get("/").json()["model"]["version"] == reg.champion_version
        results: list[tuple[int, str | None, float]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                for _ in range(5000):  # bounded even if stop is never set
                    if stop.is_set():
                        return
                    try:
                        response = client.post("/predict", json=IRIS_ROW)
                        entry = (
                            response.status_code,
                            response.headers.get("x-model-version"),
                            time.monotonic(),
                        )
                    except httpx.HTTPError:
                        entry = (0, None, time.monotonic())
                    with lock:
                        results.append(entry)

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            Registry(reg.tracking_uri, reg.model_name).promote(reg.baseline_version)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with lock:
                    if any(v == reg.baseline_version for _, v, _ in results[-20:]):
                        break
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        statuses = Counter(status for status, _, _ in results)
        assert statuses == {200: len(results)}, statuses
        versions = [v for _, v, _ in sorted(results, key=lambda r: r[2])]
        assert versions[0] == reg.champion_version
        assert versions[-1] == reg.baseline_version
        first_new = versions.index(reg.baseline_version)
        assert len(versions) - first_new > 20
        # after the swap, answers come from the new version (allowing requests in flight)
        late = versions[first_new + 16 :]
        assert set(late) == {reg.baseline_version}
        metrics = api.get("/metrics").text
        assert (
            metric_value(
                metrics,
                f'modelyard_api_model_swaps_total{{model="{reg.model_name}",ref="champion"}}',
            )
            == 1
        )
        assert (
            api.post("/v2/predict", json=IRIS_ROW).headers["x-model-version"]
            == reg.baseline_version
        )
        assert (
            api.post("/v1/predict", json=IRIS_ROW).headers["x-model-version"]
            == reg.baseline_version
        )  # v1 is bound to version 1, which it always was


def _register_unloadable_version(tracking_uri: str, name: str) -> str:
    """A registered version whose signature modelyard refuses (a text feature)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment("serving-tests")
    frame = pd.DataFrame({"colour": ["red", "blue"]})
    model = DummyClassifier().fit([[0], [1]], ["a", "b"])
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, pd.Series(["a", "b"])),
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def test_failed_swap_keeps_the_old_version_and_admin_key(isolated_registry, api_factory) -> None:
    reg = isolated_registry
    with api_factory(reg, admin_key="s3cret") as api:
        registry = Registry(reg.tracking_uri, reg.model_name)
        broken = _register_unloadable_version(reg.tracking_uri, reg.model_name)
        registry.promote(broken)
        assert api.post("/admin/reload").status_code == 401
        assert api.post("/admin/reload").json()["error"]["field"] == "X-Admin-Key"
        assert api.post("/admin/reload", headers={"X-Admin-Key": "nope"}).status_code == 403
        response = api.post("/admin/reload", headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 200, response.text
        assert response.json()["swapped"] == {}
        assert response.json()["models"][f"{reg.model_name}@champion"] == reg.champion_version
        predicted = api.post("/predict", json=IRIS_ROW)
        assert predicted.status_code == 200
        assert predicted.headers["x-model-version"] == reg.champion_version
        metrics = api.get("/metrics").text
        assert (
            metric_value(
                metrics,
                'modelyard_api_model_swap_failures_total{model="'
                f'{reg.model_name}",ref="champion"}}',
            )
            == 1
        )
        registry.promote(reg.baseline_version)
        swapped = api.post("/admin/reload", headers={"X-Admin-Key": "s3cret"}).json()
        assert swapped["swapped"][f"{reg.model_name}@champion"] == {
            "from": reg.champion_version,
            "to": reg.baseline_version,
        }
        assert (
            api.post("/predict", json=IRIS_ROW).headers["x-model-version"] == reg.baseline_version
        )
    assert "not swapping" in api.log.read_text()


@dataclass(frozen=True)
class LateRegistry:
    tracking_uri: str
    model_name: str = "iris"


def _register_iris(tracking_uri: str, name: str) -> str:
    """Register a LogisticRegression and make it champion (a quick stand-in for training).

    Both the tracking and the registry URI are set: other tests in the same process leave
    MLflow's registry URI pointing at the session's server, which knows nothing of this
    server's runs (it answers 500 to ``model-versions/create``). Returns the version.
    """
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris(as_frame=True)
    frame = data.data.set_axis(list(IRIS_ROW), axis=1)
    labels = pd.Series(data.target_names[data.target])
    model = LogisticRegression(max_iter=500).fit(frame, labels)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    experiment = mlflow.set_experiment("serving-tests")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, labels),
            input_example=frame.head(2),
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    Registry(tracking_uri, name).promote(version)
    return version


def test_unready_while_mlflow_is_down_then_ready_and_serving_without_it(
    api_factory, tmp_path: Path, api_logs: Path
) -> None:
    port = free_port()
    late = LateRegistry(f"http://127.0.0.1:{port}")
    with api_factory(late, wait_ready=False, load_retry_max_seconds=1) as api:
        assert api.get("/health").status_code == 200
        ready = api.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        error = api.post("/predict", json=IRIS_ROW).json()["error"]
        assert error["code"] == "model_not_ready"
        assert api.post("/predict", json=IRIS_ROW).status_code == 503
        assert (
            api.post("/invocations", json={"instances": [IRIS_ROW]}).json()["error_code"]
            == "TEMPORARILY_UNAVAILABLE"
        )
        assert api.get("/v2/health/ready").status_code == 400
        assert api.get("/ping").status_code == 503
        # MLflow comes up and gets a model: the API loads it and becomes ready
        env = service_env(MODELYARD_HOME=tmp_path / "late-mlflow", MODELYARD_MLFLOW_PORT=port)
        with running(
            modelyard_argv("mlflow"),
            env,
            api_logs / f"mlflow-late-{os.getpid()}.log",
            ready_url=f"{late.tracking_uri}/health",
            timeout=300,
        ):
            version = _register_iris(late.tracking_uri, late.model_name)
            wait_for_http(f"{api.url}/ready", timeout=120)
        # MLflow is gone again: the API keeps serving what it loaded
        response = api.post("/predict", json=IRIS_ROW)
        assert response.status_code == 200
        assert response.json()["label"] == "setosa"
        assert response.headers["x-model-version"] == version == "1"
        assert api.get("/ready").status_code == 200
        assert api.post("/admin/reload").status_code == 200
        assert api.post("/predict", json=IRIS_ROW).status_code == 200
    log = api.log.read_text()
    assert "unreachable" in log
    assert "Traceback" not in log


def test_workers_share_the_port_and_stop_on_sigterm(
    trained_registry, tmp_path: Path, api_logs: Path
) -> None:
    port = free_port()
    env = trained_registry.env(
        tmp_path / "home",
        MODELYARD_API_PORT=port,
        MODELYARD_API_WORKERS=2,
        MODELYARD_REGISTRY_POLL_SECONDS=0,
    )
    log = api_logs / f"workers-{os.getpid()}.log"
    log.unlink(missing_ok=True)
    with running(
        modelyard_argv("serve"), env, log, ready_url=f"http://127.0.0.1:{port}/ready", timeout=180
    ) as proc:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(20):
                assert client.post("/predict", json=IRIS_ROW).status_code == 200
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, check=False, text=True
        ).stdout.split()
        assert len(children) >= 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(child) for child in children):
            time.sleep(0.2)
        assert not [child for child in children if _alive(child)], "orphaned worker processes"
    text = log.read_text()
    assert text.count("API stopped") >= 2
    assert "Traceback" not in text


def _alive(pid: str) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text().lower()
    except OSError:
        return False
