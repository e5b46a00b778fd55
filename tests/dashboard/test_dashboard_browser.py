"""The dashboard in headless Chromium against a real stack: MLflow, a trained model, the
worker scoring a short stream into SQLite, and ``modelyard ui`` as its own process.

Every value the page shows is compared with what the database and the registry hold.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import assert_no_traceback, eventually, plot_data, service_level
from sqlalchemy import create_engine, text

from modelyard.loop.requests import REQUEST_TAG
from modelyard.registry import Registry
from support import REPO_ROOT, free_port, modelyard_argv, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# tests/conftest.py's TrainedRegistry: tracking_uri, model_name, baseline_version,
# champion_version, env(home, **values)
TrainedRegistry = Any

STREAM_ROWS = 100  # enough for PSI on every feature (monitoring.min_window)


@dataclass(frozen=True)
class LiveStack:
    env: dict[str, str]
    db_url: str
    registry: TrainedRegistry


def _run(argv: list[str], env: dict[str, str], timeout: float = 180) -> None:
    done = subprocess.run(
        argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _scalar(db_url: str, sql: str) -> Any:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _rows(db_url: str, sql: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def _base_env(
    registry: TrainedRegistry, home: Path, db_url: str, **extra: object
) -> dict[str, str]:
    return registry.env(
        home,
        MODELYARD_DATABASE_URL=db_url,
        MODELYARD_API_PORT=free_port(),  # nothing listens there: the API tile must say so
        MODELYARD_VIZ_PORT=free_port(),
        MODELYARD_WORKER_METRICS_PORT=free_port(),
        **extra,
    )


@pytest.fixture(scope="module")
def live_stack(
    trained_registry: TrainedRegistry,
    tmp_path_factory: pytest.TempPathFactory,
    artifacts_dir: Path,
) -> Iterator[LiveStack]:
    """Migrated SQLite, a running worker, and a 100-row labelled stream fully scored."""
    home = tmp_path_factory.mktemp("dashboard-live")
    db_url = f"sqlite:///{home / 'live.db'}"
    env = _base_env(
        trained_registry,
        home,
        db_url,
        MODELYARD_WORKER_MONITOR_SECONDS=1,
        MODELYARD_WORKER_POLL_SECONDS=0.2,
        MODELYARD_QUALITY_WINDOW=100,
        MODELYARD_DRIFT_WINDOW=STREAM_ROWS,
    )
    _run(modelyard_argv("db", "upgrade"), env)
    metrics = f"http://127.0.0.1:{env['MODELYARD_WORKER_METRICS_PORT']}/metrics"
    log = artifacts_dir / "logs" / "dashboard-worker.log"
    with running(modelyard_argv("worker"), env, log, ready_url=metrics, timeout=180):
        _run(
            modelyard_argv(
                "stream", "--limit", str(STREAM_ROWS), "--rate", "0", "--label-delay", "0"
            ),
            env,
        )

        def settled() -> bool:
            scored = _scalar(db_url, "SELECT count(*) FROM predictions")
            labelled = _scalar(
                db_url,
                "SELECT labelled_rows FROM quality_snapshots ORDER BY id DESC LIMIT 1",
            )
            drifts = _scalar(db_url, "SELECT count(*) FROM drift_snapshots")
            return scored == STREAM_ROWS and labelled == STREAM_ROWS and drifts > 0

        eventually(settled, timeout=120, interval=0.5)
        yield LiveStack(env=env, db_url=db_url, registry=trained_registry)


def _table_rows(page: Any) -> list[dict[str, str]]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => [...document.querySelectorAll('#predictions-table tr')]
            .map(tr => Object.fromEntries([...tr.querySelectorAll('td[data-dash-column]')]
                .map(td => [td.dataset.dashColumn, td.innerText.trim()])))
            .filter(row => Object.keys(row).length > 0)"""
    )


def test_live_page_shows_the_database_and_the_registry(
    live_stack: LiveStack, start_dashboard: Any, page: Any, artifacts_dir: Path
) -> None:
    dashboard = start_dashboard(live_stack.env, "live")
    page.goto(dashboard.url)

    # --- live predictions: the newest rows of the database, in order --------------------
    expected = _rows(
        live_stack.db_url,
        "SELECT p.observation_id, p.label, p.model_version, o.label FROM predictions p "
        "JOIN observations o ON o.id = p.observation_id ORDER BY p.id DESC LIMIT 12",
    )
    shown = eventually(lambda: _table_rows(page), timeout=60)
    assert len(shown) == len(expected) == 12
    for row, (obs_id, predicted, version, truth) in zip(shown, expected, strict=True):
        assert row["observation_id"] == str(obs_id)
        assert row["prediction"] == predicted
        assert row["model_version"] == f"v{version}"
        assert row["true_label"] == truth
        assert row["outcome"] == ("✓ correct" if truth == predicted else "✗ wrong")
    assert page.inner_text("#stat-observations .stat-value") == str(STREAM_ROWS)
    assert page.inner_text("#stat-scored .stat-value") == str(STREAM_ROWS)
    rate = eventually(lambda: plot_data(page, "predictions-rate-chart"))
    per_class = _rows(live_stack.db_url, "SELECT label, count(*) FROM predictions GROUP BY label")
    assert {t["name"]: sum(t["y"]) for t in rate} == {label: n for label, n in per_class}

    # --- quality: the stored rolling accuracy, and the errors among labelled rows --------
    accuracy = _scalar(
        live_stack.db_url, "SELECT accuracy FROM quality_snapshots ORDER BY id DESC LIMIT 1"
    )
    wrong = _scalar(
        live_stack.db_url,
        "SELECT count(*) FROM predictions p JOIN observations o ON o.id = p.observation_id "
        "WHERE o.label IS NOT NULL AND o.label != p.label",
    )
    eventually(lambda: page.inner_text("#stat-accuracy .stat-value") == f"{accuracy:.1%}")
    assert page.inner_text("#stat-errors .stat-value") == str(wrong)
    traces = eventually(lambda: plot_data(page, "accuracy-chart"))
    line = next(t for t in traces if t["name"].startswith("rolling accuracy"))
    assert line["y"][-1] == pytest.approx(accuracy)
    assert all(0.0 <= y <= 1.0 for y in line["y"])

    # --- drift: one line per feature, and the two distributions ---------------------------
    features = {
        r[0] for r in _rows(live_stack.db_url, "SELECT DISTINCT feature FROM drift_snapshots")
    }
    drift = eventually(lambda: plot_data(page, "drift-chart"))
    assert {t["name"] for t in drift} == {*features, "alert threshold"}
    in_force = _scalar(
        live_stack.db_url,
        "SELECT max(threshold) FROM drift_snapshots "
        "WHERE created_at = (SELECT max(created_at) FROM drift_snapshots)",
    )
    threshold = next(t for t in drift if t["name"] == "alert threshold")
    assert threshold["y"][-1] == pytest.approx(in_force)
    distribution = eventually(lambda: plot_data(page, "distribution-chart"))
    assert [t["name"] for t in distribution] == ["training", f"recent ({STREAM_ROWS} rows)"]

    # --- models: every registered version with its metrics, aliases and run link ----------
    registry = Registry(live_stack.registry.tracking_uri, live_stack.registry.model_name)
    versions = registry.versions()
    aliases = registry.aliases()
    page.wait_for_selector(f"#model-row-{versions[0].version}")
    assert page.inner_text("#champion-version") == f"v{aliases['champion']}"
    for info in versions:
        row = f"#model-row-{info.version}"
        cell = page.inner_text(f"{row} td[data-metric='accuracy']")
        assert cell == f"{info.metrics['accuracy']:.4f}"
        href = page.get_attribute(f"{row} a.run-link", "href")
        assert href is not None and href.endswith(f"/runs/{info.run_id}")
        assert "/#/experiments/" in href
        for alias in info.aliases:
            assert alias in page.inner_text(f"{row} td.aliases")

    # --- services -------------------------------------------------------------------------
    eventually(lambda: service_level(page, "worker") == "green")
    assert service_level(page, "database") == "green"
    assert service_level(page, "mlflow") == "green"
    assert service_level(page, "api") == "red"
    assert "unreachable" in page.inner_text("#service-api")
    assert_no_traceback(page)

    shot = artifacts_dir / "dashboard" / "live.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def _accept_dialogs(page: Any) -> list[str]:
    """Accept every confirmation dialog of the page; the list receives their messages."""
    seen: list[str] = []

    def accept(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return seen


def _choose_version(page: Any, version: str) -> None:
    page.click("#promote-version")
    page.get_by_role("option", name=re.compile(rf"^v{version}\b")).click()
    eventually(lambda: page.inner_text("#promote-version-value").startswith(f"v{version}"))


def test_promote_and_roll_back_from_the_page(
    isolated_registry: TrainedRegistry,
    tmp_path: Path,
    start_dashboard: Any,
    page: Any,
    artifacts_dir: Path,
) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    baseline, champion = isolated_registry.baseline_version, isolated_registry.champion_version
    assert registry.aliases()["champion"] == champion
    db_url = f"sqlite:///{tmp_path / 'loop.db'}"
    env = _base_env(isolated_registry, tmp_path / "home", db_url, MODELYARD_ADMIN_KEY="open-sesame")
    _run(modelyard_argv("db", "upgrade"), env)  # where the decisions are recorded
    # a slower refresh leaves the browser's connections free for the actions
    dashboard = start_dashboard(env, "promote", refresh_seconds=3.0)
    dialogs = _accept_dialogs(page)
    page.goto(dashboard.url)
    page.wait_for_selector(f"#model-row-{baseline}")
    _choose_version(page, baseline)

    # a wrong admin key changes nothing
    page.fill("#admin-key", "guess")
    page.click("#promote-button")
    eventually(
        lambda: "admin key is wrong" in page.inner_text("#models-action-result"), timeout=120
    )
    assert len(dialogs) == 1 and f"Make version {baseline} the champion" in dialogs[0]
    assert registry.aliases()["champion"] == champion

    # the right key, confirmed: the alias moves in MLflow and the page shows it
    page.fill("#admin-key", "open-sesame")
    page.click("#promote-button")
    page.wait_for_selector("#action-ok", timeout=120_000)
    assert registry.aliases()["champion"] == baseline
    eventually(lambda: page.inner_text("#champion-version") == f"v{baseline}")
    assert "champion" in page.inner_text(f"#model-row-{baseline} td.aliases")
    shot = artifacts_dir / "dashboard" / "promoted.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#models-panel").screenshot(path=str(shot))
    print(f"screenshot: {shot}")

    # roll back, confirmed: champion returns to the previous holder
    page.click("#rollback-button")
    # waiting inside Playwright lets it run the dialog handler (the sync API only
    # dispatches events during its own calls)
    page.wait_for_function(
        "() => (document.querySelector('#action-ok') || {}).innerText?.includes('Rolled back')",
        timeout=180_000,
    )
    assert registry.aliases()["champion"] == champion
    assert len(dialogs) == 3 and f"back to version {champion}" in dialogs[2]
    eventually(lambda: page.inner_text("#champion-version") == f"v{champion}")

    # both moves are recorded and shown in the Closed loop panel, newest first
    decided = _rows(
        db_url,
        "SELECT action, decided_by, from_version, to_version FROM promotion_decisions ORDER BY id",
    )
    assert decided == [
        ("promote", "dashboard", champion, baseline),
        ("rollback", "dashboard", baseline, champion),
    ]
    eventually(lambda: page.locator("#loop-decisions-table tbody tr").count() == 2, timeout=60)
    assert page.inner_text("#loop-decisions-table tbody tr").startswith(
        tuple(f"20{n}" for n in range(10))
    )
    assert "rollback" in page.inner_text("#loop-decisions-table tbody tr:first-child")

    # Retrain now leaves a request in the registry for the worker
    page.click("#retrain-button")
    page.wait_for_selector("#retrain-ok", timeout=120_000)
    page.locator("#loop-panel").screenshot(path=str(shot.with_name("closed-loop.png")))
    request = json.loads(registry.model_tag(REQUEST_TAG) or "{}")
    assert (request["source"], request["reason"]) == ("manual", "asked for on the dashboard")
    assert_no_traceback(page)


def test_empty_database_says_what_to_do(
    trained_registry: TrainedRegistry,
    tmp_path: Path,
    start_dashboard: Any,
    page: Any,
    artifacts_dir: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = _base_env(trained_registry, tmp_path / "home", db_url)
    dashboard = start_dashboard(env, "empty")
    page.goto(dashboard.url)

    # no schema yet: every database panel says to migrate, the database tile is amber
    for panel in ("predictions", "quality", "drift"):
        eventually(lambda p=panel: "modelyard db upgrade" in page.inner_text(f"#{p}-message"))
    eventually(lambda: service_level(page, "database") == "amber")
    assert "modelyard db upgrade" in page.inner_text("#service-database")
    assert_no_traceback(page)
    shot = artifacts_dir / "dashboard" / "empty-database.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # migrated but empty: the panels say that nothing was scored yet
    _run(modelyard_argv("db", "upgrade"), env)
    eventually(lambda: "No predictions yet" in page.inner_text("#predictions-message"))
    eventually(lambda: "No quality measured yet" in page.inner_text("#quality-message"))
    eventually(lambda: service_level(page, "database") == "green")
    assert page.inner_text("#stat-observations .stat-value") == "0"
    # the registry is still shown
    page.wait_for_selector(f"#model-row-{trained_registry.champion_version}")
    assert_no_traceback(page)


def test_mlflow_outage_is_a_message_not_a_traceback(
    tmp_path: Path, start_dashboard: Any, page: Any, artifacts_dir: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = service_env(
        MODELYARD_HOME=tmp_path / "home",
        MLFLOW_TRACKING_URI=dead,
        MODELYARD_DATABASE_URL=db_url,
        MODELYARD_API_PORT=free_port(),
        MODELYARD_VIZ_PORT=free_port(),
        MODELYARD_WORKER_METRICS_PORT=free_port(),
    )
    _run(modelyard_argv("db", "upgrade"), env)
    dashboard = start_dashboard(env, "mlflow-down")
    page.goto(dashboard.url)

    eventually(lambda: "MLflow is unreachable" in page.inner_text("#models-message"))
    assert dead in page.inner_text("#models-message")
    eventually(lambda: service_level(page, "mlflow") == "red")
    assert "unreachable" in page.inner_text("#service-mlflow")
    # the database panels do not depend on MLflow
    eventually(lambda: "No predictions yet" in page.inner_text("#predictions-message"))
    assert service_level(page, "database") == "green"
    # promoting while MLflow is down says so, too
    dialogs = _accept_dialogs(page)
    page.click("#promote-button")
    eventually(lambda: "Choose a version" in page.inner_text("#models-action-result"))
    assert not dialogs  # nothing to confirm without a version
    assert_no_traceback(page)
    shot = artifacts_dir / "dashboard" / "mlflow-down.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_missing_model_says_to_train(
    trained_registry: TrainedRegistry, tmp_path: Path, start_dashboard: Any, page: Any
) -> None:
    env = _base_env(trained_registry, tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}")
    env["MODELYARD_MODEL_NAME"] = "never-trained"
    dashboard = start_dashboard(env, "missing-model")
    page.goto(dashboard.url)
    eventually(lambda: "run `modelyard train`" in page.inner_text("#models-message"))
    assert "never-trained" in page.inner_text("#models-message")
    assert page.query_selector("#models-table") is None
    eventually(lambda: service_level(page, "mlflow") == "green")
    assert_no_traceback(page)
