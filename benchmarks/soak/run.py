"""Soak: minutes of high concurrency on the API, a hot swap and a worker restart midway.

    uv run python benchmarks/soak/run.py                          # 3 minutes, writes RESULTS.md
    uv run python benchmarks/soak/run.py --minutes 1 --output /tmp/soak.md

What it does, with real processes only (as ``benchmarks/streaming/run.py``, whose helpers
it uses):

1. starts ``modelyard mlflow`` in a temporary home and trains the demo twice through the
   real pipeline: version 1 (LogisticRegression), version 2 (RandomForest, ``champion``);
2. on a fresh PostgreSQL database, starts ``modelyard serve`` (registry poll every 2 s)
   and ``modelyard worker``; a thread streams observations into the database all along;
3. drives ``POST /predict`` with wrk at ``--connections`` for ``--minutes``; at a third of
   the time promotes version 1 to ``champion`` (the API hot-swaps it), at two thirds stops
   the worker with SIGTERM and starts another;
4. samples the API process's RSS, open file descriptors and threads every 2 s;
5. passes when wrk saw no failed request (non-2xx, socket error or timeout), the API
   swapped, every streamed row was scored exactly once, RSS grew less than
   ``--max-growth-mb`` from the first sample after warm-up to the end, and the descriptors
   and threads came back to at most their warm-up count plus a small slack.

Writes the figures to ``--output`` (Markdown) and exits 1 when a bound is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))

from harness.load import LoadResult, Request, run_wrk  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from modelyard.registry import Registry  # noqa: E402
from modelyard.streaming import store  # noqa: E402

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
FD_SLACK = 8  # descriptors a busy server may hold for a moment (sockets, the model cache)
THREAD_SLACK = 4


def _streaming_helpers() -> ModuleType:
    """``benchmarks/streaming/run.py``: MLflow, training, processes and PostgreSQL."""
    spec = importlib.util.spec_from_file_location(
        "streaming_bench", HERE.parent / "streaming" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _streaming_helpers()


@dataclass
class Sample:
    at: float
    rss_mb: float
    fds: int
    threads: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    streamed: int = 0

    def note(self, start: float, what: str) -> None:
        line = f"{time.monotonic() - start:6.1f}s {what}"
        self.events.append(line)
        print(line, flush=True)


def sample(pid: int, start: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kb = int(values["VmRSS"].split()[0])
    return Sample(
        round(time.monotonic() - start, 1),
        rss_kb / 1024,
        len(os.listdir(f"/proc/{pid}/fd")),
        int(values["Threads"]),
    )


def train_two(tracking_uri: str, work: Path) -> None:
    from modelyard.config import Settings
    from modelyard.training import train

    for estimator in ("logistic_regression", "random_forest"):
        settings = Settings(
            _env_file=None,
            home=work / "train-home",
            mlflow_tracking_uri=tracking_uri,
            model_name="iris",
        )
        train(settings, {"model": {"estimator": estimator}})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stream-rate", type=int, default=200, help="observations per second")
    parser.add_argument("--max-growth-mb", type=float, default=50.0)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    seconds = args.minutes * 60
    soak = Soak()
    with tempfile.TemporaryDirectory(prefix="modelyard-soak-") as tmp:
        work = Path(tmp)
        with bench.tracking_server(work) as tracking_uri, bench.postgres_database() as db:
            train_two(tracking_uri, work)
            engine = bench.Database("postgres", db).fresh()
            api_port = bench.free_port()
            env = dict(
                MODELYARD_HOME=work / "home",
                MLFLOW_TRACKING_URI=tracking_uri,
                MODELYARD_MODEL_NAME="iris",
                MODELYARD_DATABASE_URL=db,
                MODELYARD_API_PORT=api_port,
                MODELYARD_REGISTRY_POLL_SECONDS=2,
                MODELYARD_WORKER_METRICS_PORT=0,
                MODELYARD_LOG_LEVEL="INFO",
            )
            modelyard = str(bench.VENV_BIN / "modelyard")
            api_log, worker_log = work / "logs" / "api.log", work / "logs" / "worker.log"
            api = bench.start([modelyard, "serve"], bench.base_env(**env), api_log)
            worker = bench.start([modelyard, "worker"], bench.base_env(**env), worker_log)
            url = f"http://127.0.0.1:{api_port}"
            stop = threading.Event()
            try:
                bench.wait_http(f"{url}/ready", api, api_log)
                start = time.monotonic()
                soak.note(start, "API ready; load starts")
                body = work / "row.json"
                body.write_text(json.dumps(ROW))
                result: dict[str, object] = {}
                load = threading.Thread(
                    target=lambda: result.update(
                        load=run_wrk(
                            Request(f"{url}/predict", body_path=body),
                            args.connections,
                            seconds,
                            timeout_s=10.0,
                            threads=2,
                        )
                    )
                )
                streamer = threading.Thread(
                    target=stream, args=(engine, args.stream_rate, stop, soak), daemon=True
                )
                load.start()
                streamer.start()
                swapped = restarted = False
                while load.is_alive():
                    elapsed = time.monotonic() - start
                    soak.samples.append(sample(api.pid, start))
                    if not swapped and elapsed > seconds / 3:
                        Registry(tracking_uri, "iris").promote("1")
                        soak.note(start, "promoted version 1 to champion (hot swap)")
                        swapped = True
                    if not restarted and elapsed > 2 * seconds / 3:
                        bench.stop(worker)
                        soak.note(start, f"worker stopped (SIGTERM), exit {worker.returncode}")
                        worker = bench.start(
                            [modelyard, "worker"], bench.base_env(**env), worker_log
                        )
                        soak.note(start, "worker started again")
                        restarted = True
                    load.join(timeout=2)
                stop.set()
                streamer.join(timeout=10)
                soak.samples.append(sample(api.pid, start))
                soak.note(start, "load done; waiting for the worker to drain the stream")
                deadline = time.monotonic() + 120
                while bench.pending(engine) and time.monotonic() < deadline:
                    time.sleep(0.5)
                version = api_version(url)
                scored, doubled = exactly_once(engine)
            finally:
                stop.set()
                bench.stop(worker)
                bench.stop(api)
            api_text = api_log.read_text()
            worker_text = worker_log.read_text()
            engine.dispose()
    figures = summarize(args, soak, result["load"], version, scored, doubled, api_text, worker_text)
    write_report(args, soak, figures)
    print(json.dumps(figures, indent=1))
    return 0 if figures["passed"] else 1


def stream(engine: Engine, rate: int, stop: threading.Event, soak: Soak) -> None:
    """Insert ``rate`` observations a second (in tenths) until ``stop``."""
    rows = [ROW] * max(1, rate // 10)
    while not stop.is_set():
        store.insert_observations(engine, rows, "soak")
        soak.streamed += len(rows)
        stop.wait(0.1)


def api_version(url: str) -> str:
    import httpx

    return str(httpx.post(f"{url}/predict", json=ROW, timeout=10).headers["x-model-version"])


def exactly_once(engine: Engine) -> tuple[int, int]:
    """(observations scored, observations with more than one prediction)."""
    from sqlalchemy import text

    with engine.connect() as conn:
        scored = conn.execute(text("SELECT count(DISTINCT observation_id) FROM predictions"))
        doubled = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT observation_id FROM predictions "
                "GROUP BY observation_id HAVING count(*) > 1) d"
            )
        )
        return int(scored.scalar_one()), int(doubled.scalar_one())


def summarize(
    args: argparse.Namespace,
    soak: Soak,
    load: LoadResult,
    version: str,
    scored: int,
    doubled: int,
    api_log: str,
    worker_log: str,
) -> dict[str, object]:
    samples = soak.samples
    warm = next((s for s in samples if s.at >= 15), samples[0])  # after warm-up
    last = samples[-1]
    peak = max(s.rss_mb for s in samples)
    figures: dict[str, object] = {
        "load": load.as_dict(),
        "swapped_to": version,
        "streamed": soak.streamed,
        "scored": scored,
        "scored_twice": doubled,
        "rss_mb": {
            "warm": round(warm.rss_mb, 1),
            "end": round(last.rss_mb, 1),
            "peak": round(peak, 1),
        },
        "rss_growth_mb": round(last.rss_mb - warm.rss_mb, 1),
        "fds": {"warm": warm.fds, "end": last.fds, "max": max(s.fds for s in samples)},
        "threads": {
            "warm": warm.threads,
            "end": last.threads,
            "max": max(s.threads for s in samples),
        },
        "api_tracebacks": api_log.count("Traceback"),
        "worker_tracebacks": worker_log.count("Traceback"),
    }
    checks = {
        "no failed request": load.errors == 0,
        "hot swap to version 1": version == "1",
        "every row scored exactly once": scored == soak.streamed and doubled == 0,
        f"RSS growth under {args.max_growth_mb:g} MB": last.rss_mb - warm.rss_mb
        < args.max_growth_mb,
        "no descriptor leak": last.fds <= warm.fds + FD_SLACK,
        "no thread leak": last.threads <= warm.threads + THREAD_SLACK,
        "no traceback in the logs": "Traceback" not in api_log + worker_log,
    }
    figures["checks"] = checks
    figures["passed"] = all(checks.values())
    return figures


def write_report(args: argparse.Namespace, soak: Soak, figures: dict[str, object]) -> None:
    fig: Any = figures
    load = fig["load"]
    lines = [
        "# Soak: high concurrency, a hot swap and a worker restart",
        "",
        f"Command: `uv run python benchmarks/soak/run.py --minutes {args.minutes:g} "
        f"--connections {args.connections} --stream-rate {args.stream_rate}`",
        "",
        f"Machine: {bench.machine()}",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| requests (wrk, POST /predict, {args.connections} connections) | {load['requests']:,} |",
        f"| requests/s | {load['rps']:,.0f} |",
        f"| failed (non-2xx, socket errors, timeouts) | {load['errors']} |",
        f"| latency p50 / p99 / max (ms) | {load['p50_ms']} / {load['p99_ms']} / "
        f"{load['max_ms']} |",
        f"| observations streamed / scored / scored twice | {fig['streamed']:,} / "
        f"{fig['scored']:,} / {fig['scored_twice']} |",
        f"| API RSS after warm-up / end / peak (MB) | {fig['rss_mb']['warm']} / "
        f"{fig['rss_mb']['end']} / {fig['rss_mb']['peak']} |",
        f"| API RSS growth (MB), bound {args.max_growth_mb:g} | {fig['rss_growth_mb']} |",
        f"| API open descriptors after warm-up / end / max | {fig['fds']['warm']} / "
        f"{fig['fds']['end']} / {fig['fds']['max']} |",
        f"| API threads after warm-up / end / max | {fig['threads']['warm']} / "
        f"{fig['threads']['end']} / {fig['threads']['max']} |",
        "",
        "Checks:",
        "",
        *(f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in fig["checks"].items()),
        "",
        "Events:",
        "",
        "```",
        *soak.events,
        "```",
        "",
    ]
    args.output.write_text("\n".join(lines))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
