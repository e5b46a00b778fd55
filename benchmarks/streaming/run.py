"""Streaming benchmark: rows/s scored and insert-to-prediction latency, SQLite and PostgreSQL.

    uv run python benchmarks/streaming/run.py                    # full run, writes RESULTS.md
    uv run python benchmarks/streaming/run.py --rows 20000 --latency-seconds 5 --output /tmp/r.md

What it does, with real processes only:

1. starts ``modelyard mlflow`` on a free port in a temporary home and trains the demo's
   RandomForest through the real training pipeline (it becomes ``champion``);
2. for each database (a temporary SQLite file; a fresh ``modelyard_bench_<random>``
   database on the local PostgreSQL) and for 1 and 2 ``modelyard worker`` processes:
   - **throughput**: bulk-loads ``--rows`` observations, starts the workers, and counts the
     predictions written between the moment every worker is ready and the moment the queue
     is empty: sustained rows/s with batch scoring (``--batch-size`` rows per batch);
   - **latency**: with fresh workers idle, runs the stream at ``--rate`` rows/s for
     ``--latency-seconds`` and reports p50/p95/p99/max of ``predictions.created_at -
     observations.created_at`` (both stamped just before their transaction commits), after
     a one-second warm-up.
3. writes a Markdown report with the exact command, the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine, func, select, text

from modelyard.config import Settings
from modelyard.db.engine import make_engine
from modelyard.db.migrate import upgrade_database
from modelyard.db.models import PENDING, Observation, Prediction
from modelyard.streaming.producer import Streamer, StreamOptions
from modelyard.streaming.replay import Replay, training_holdout

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))  # the tests' process helpers
from support import free_port, service_env  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PG_SERVER = "postgresql://modelyard:modelyard@127.0.0.1:5432"  # scripts/ensure-postgres.sh


def base_env(**values: object) -> dict[str, str]:
    """The environment of a modelyard process, as the tests give it (tests/support.py)."""
    return service_env(**values)


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not up after {timeout}s")


# --- the registry -----------------------------------------------------------------------------
@contextlib.contextmanager
def tracking_server(work: Path) -> Iterator[str]:
    port = free_port()
    home = work / "mlflow-home"
    log = work / "logs" / "mlflow.log"
    proc = start(
        [str(VENV_BIN / "modelyard"), "mlflow"],
        base_env(
            MODELYARD_HOME=home,
            MODELYARD_MLFLOW_PORT=port,
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # no job runners: ~2 GB, slow to stop
        ),
        log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, log)
        yield url
    finally:
        stop(proc)


def train_champion(tracking_uri: str, work: Path) -> str:
    from modelyard.training import train

    for key, value in (
        ("KEDRO_DISABLE_TELEMETRY", "true"),
        ("DO_NOT_TRACK", "1"),
        ("MLFLOW_ENABLE_TELEMETRY", "false"),
    ):
        os.environ.setdefault(key, value)
    settings = Settings(
        _env_file=None,
        home=work / "train-home",  # type: ignore[call-arg]
        mlflow_tracking_uri=tracking_uri,
        model_name="iris",
    )
    result = train(settings, {"model": {"estimator": "random_forest"}})
    return result.version


# --- databases --------------------------------------------------------------------------------
@dataclass
class Database:
    kind: str
    url: str

    def fresh(self) -> Engine:
        """An empty, migrated schema."""
        engine = make_engine(self.url)
        if self.kind == "postgres":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(self.url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            engine = make_engine(self.url)
        upgrade_database(engine)
        return engine


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    import psycopg

    name = f"modelyard_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG_SERVER}/modelyard", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/modelyard", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bulk_load(engine: Engine, rows: int, replay: Replay) -> dt.datetime:
    """Make ``rows`` pending observations visible at once (one transaction); its commit time.

    The rows cycle through the held-out iris rows. On PostgreSQL the server generates them
    from one JSON array (the insert trigger notifies the workers once, at commit).
    """
    features, _ = replay.take(0, len(replay))
    if engine.dialect.name == "postgresql":
        stmt = text(
            "INSERT INTO observations (created_at, source, features, status) "
            "SELECT now(), 'bench', CAST(:rows AS JSONB) -> (i % :n), 0 "
            "FROM generate_series(0, :total - 1) AS i"
        )
        with engine.begin() as conn:
            conn.execute(stmt, {"rows": json.dumps(features), "n": len(features), "total": rows})
    else:
        table = Observation.__table__
        now = dt.datetime.now(dt.UTC)
        params = [
            {
                "created_at": now,
                "source": "bench",
                "features": features[i % len(features)],
                "status": PENDING,
            }
            for i in range(rows)
        ]
        with engine.begin() as conn:
            conn.execute(table.insert(), params)  # type: ignore[attr-defined]
    return dt.datetime.now(dt.UTC)


# --- workers ----------------------------------------------------------------------------------
@contextlib.contextmanager
def workers(
    count: int, db: Database, tracking_uri: str, work: Path, batch_size: int, tag: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = []
        for i in range(count):
            port = free_port()
            ports.append(port)
            env = base_env(
                MLFLOW_TRACKING_URI=tracking_uri,
                MODELYARD_MODEL_NAME="iris",
                MODELYARD_HOME=work / f"worker-home-{i}",
                MODELYARD_DATABASE_URL=db.url,
                MODELYARD_WORKER_BATCH_SIZE=batch_size,
                MODELYARD_WORKER_METRICS_PORT=port,
                MODELYARD_REGISTRY_POLL_SECONDS=0,
                MODELYARD_WORKER_POLL_SECONDS=1.0,
                MODELYARD_LOG_LEVEL="WARNING",
            )
            log = work / "logs" / f"{tag}-worker-{i}.log"
            procs.append(start([str(VENV_BIN / "modelyard"), "worker"], env, log))
        for proc, port, i in zip(procs, ports, range(count), strict=True):
            wait_http(
                f"http://127.0.0.1:{port}/metrics", proc, work / "logs" / f"{tag}-worker-{i}.log"
            )
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(Observation).where(Observation.status == PENDING)
            ).scalar_one()
        )


def throughput(
    db: Database,
    tracking_uri: str,
    work: Path,
    n_workers: int,
    rows: int,
    batch_size: int,
    replay: Replay,
) -> dict[str, float]:
    """Idle, ready workers; ``rows`` appear at once; rows/s until the last prediction."""
    engine = db.fresh()
    try:
        with workers(n_workers, db, tracking_uri, work, batch_size, f"{db.kind}-tp-{n_workers}"):
            visible = bulk_load(engine, rows, replay)
            while pending(engine) > 0:
                time.sleep(0.2)
        with engine.connect() as conn:
            end = conn.execute(select(func.max(Prediction.created_at))).scalar_one()
            total = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
        seconds = max((end - visible).total_seconds(), 1e-6)
        return {"rows_per_second": total / seconds, "timed_rows": total, "seconds": seconds}
    finally:
        engine.dispose()


def latency(
    db: Database,
    tracking_uri: str,
    work: Path,
    n_workers: int,
    rate: float,
    seconds: float,
    batch_size: int,
    replay: Replay,
) -> dict[str, float]:
    engine = db.fresh()
    try:
        with workers(n_workers, db, tracking_uri, work, batch_size, f"{db.kind}-lat-{n_workers}"):
            stop_event = threading.Event()
            options = StreamOptions(rate=rate, limit=int(rate * seconds), labels=False)
            stats = Streamer(engine, replay, options, stop_event).run()
            deadline = time.monotonic() + 30
            while pending(engine) > 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        with engine.connect() as conn:
            pairs = conn.execute(
                select(Observation.created_at, Prediction.created_at)
                .join(Prediction, Prediction.observation_id == Observation.id)
                .order_by(Observation.id)
            ).all()
        first = pairs[0][0] if pairs else None
        lat = np.asarray(
            [
                (p - o).total_seconds() * 1000.0
                for o, p in pairs
                if first is not None and (o - first).total_seconds() >= 1.0
            ]
        )
        return {
            "rows": float(len(lat)),
            "achieved_rate": stats.inserted / stats.seconds if stats.seconds else 0.0,
            "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
        }
    finally:
        engine.dispose()


# --- report -----------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    pg = ""
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/modelyard") as conn:
            row = conn.execute("SHOW server_version").fetchone()
            pg = f", PostgreSQL {row[0] if row else '?'}"
    import sqlite3

    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}){mem}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}{pg}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per throughput run")
    parser.add_argument(
        "--sqlite-rows",
        type=int,
        default=None,
        help="rows per SQLite throughput run (default: --rows / 2)",
    )
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    command = "uv run python benchmarks/streaming/run.py " + shlex.join(sys.argv[1:])
    results: list[tuple[str, int, dict[str, float], dict[str, float]]] = []
    load_before = os.getloadavg()
    started = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        tracking_uri = stack.enter_context(tracking_server(work))
        version = train_champion(tracking_uri, work)
        print(f"champion: iris version {version} (RandomForest)", flush=True)
        replay = training_holdout(Settings(_env_file=None, home=work / "train-home"))  # type: ignore[call-arg]
        for kind in args.databases.split(","):
            if kind == "postgres":
                db = Database("postgres", stack.enter_context(postgres_database()))
            else:
                db = Database("sqlite", f"sqlite:///{work / 'bench.db'}")
            rows = args.rows if kind == "postgres" else (args.sqlite_rows or args.rows // 2)
            for n in (int(w) for w in args.workers.split(",")):
                tp = throughput(db, tracking_uri, work, n, rows, args.batch_size, replay)
                print(f"{kind} x{n} throughput: {tp['rows_per_second']:,.0f} rows/s", flush=True)
                lat = latency(
                    db,
                    tracking_uri,
                    work,
                    n,
                    args.rate,
                    args.latency_seconds,
                    args.batch_size,
                    replay,
                )
                print(
                    f"{kind} x{n} latency at {args.rate:g} rows/s: p50 {lat['p50_ms']:.0f} ms,"
                    f" p95 {lat['p95_ms']:.0f} ms",
                    flush=True,
                )
                results.append((kind, n, tp, lat))
    load_after = os.getloadavg()
    write_report(args, command, results, load_before, load_after, time.time() - started)
    print(f"wrote {args.output}")
    return 0


def rows_per_database(args: argparse.Namespace) -> str:
    counts = {
        "postgres": f"{args.rows:,} rows on PostgreSQL",
        "sqlite": f"{args.sqlite_rows or args.rows // 2:,} rows on SQLite",
    }
    return ", ".join(counts[k] for k in args.databases.split(",") if k in counts)


def write_report(
    args: argparse.Namespace,
    command: str,
    results: list[tuple[str, int, dict[str, float], dict[str, float]]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    took: float,
) -> None:
    lines = [
        "# Streaming benchmark results",
        "",
        f"- Command: `{command}`",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, took {took / 60:.1f} min",
        f"- Machine: {machine()}",
        f"- Load average (1/5/15 min) before: {load_before[0]:.1f} / {load_before[1]:.1f} / "
        f"{load_before[2]:.1f}; after: {load_after[0]:.1f} / {load_after[1]:.1f} / "
        f"{load_after[2]:.1f}",
        "- Model: the demo's RandomForest (100 trees, StandardScaler) trained by the real "
        "pipeline, served as `champion` from a local `modelyard mlflow`.",
        f"- Throughput: {rows_per_database(args)}, `modelyard worker` processes "
        f"with batches of {args.batch_size:,}: with every worker ready and idle, the rows "
        "become visible in one commit; rows/s = rows / (last prediction - that commit).",
        f"- Latency: `Streamer` at {args.rate:g} rows/s for {args.latency_seconds:g} s into idle "
        "workers (first second dropped); latency = `predictions.created_at - "
        "observations.created_at`.",
        "",
        "| Database | Workers | Sustained rows/s | Rows | Seconds | "
        f"Latency at {args.rate:g} rows/s p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, n, tp, lat in results:
        lines.append(
            f"| {kind} | {n} | {tp['rows_per_second']:,.0f} | {tp['timed_rows']:,.0f} | "
            f"{tp['seconds']:.1f} | "
            f"{lat['p50_ms']:.0f} ms | {lat['p95_ms']:.0f} ms | {lat['p99_ms']:.0f} ms | "
            f"{lat['max_ms']:.0f} ms |"
        )
    lines += [
        "",
        "Targets: >= 20,000 rows/s sustained on PostgreSQL with batch scoring; p95 <= 250 ms "
        f"at {args.rate:g} rows/s on PostgreSQL (LISTEN/NOTIFY) and <= 1 s on SQLite.",
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
