"""Scaling benchmark: API throughput per replica count behind the swarm proxy, worker rows/s
per worker count on PostgreSQL. Not a test; writes RESULTS.md.

    flock -o /tmp/docker.lock .venv/bin/python benchmarks/scale/run.py
    .venv/bin/python benchmarks/scale/run.py --parts workers --output /tmp/scale.md

What it does, with real processes only:

1. **workers** (the pieces of benchmarks/streaming/run.py): a local ``modelyard mlflow`` with
   the demo's RandomForest as champion, a fresh database on the local PostgreSQL, then for
   each worker count: ``--rows`` pending observations appear in one commit before idle, ready
   ``modelyard worker`` processes; rows/s = rows / (last prediction - that commit).
2. **api**: ``.ci/swarm.sh up`` deploys deploy/swarm/stack.yaml on a single-node swarm (no
   workers, no stream, so the API replicas have the CPUs), then for each replica count
   (``docker service scale``, waiting until the proxy has every replica up) wrk drives
   single-row ``POST /predict`` through the proxy's published port for ``--seconds`` after a
   warm-up; ``.ci/swarm.sh down`` removes everything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "serving"))  # the serving benchmark's load generator
sys.path.insert(0, str(HERE.parent / "streaming"))  # the streaming benchmark's pieces

from harness.load import LoadResult, Request, run_wrk  # noqa: E402
from streaming_module import streaming_benchmark  # noqa: E402

from modelyard.config import Settings  # noqa: E402

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


# --- workers ----------------------------------------------------------------------------------
def measure_workers(counts: list[int], rows: int, batch_size: int) -> list[dict[str, float]]:
    bench = streaming_benchmark()
    out = []
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-scale-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        tracking_uri = stack.enter_context(bench.tracking_server(work))
        version = bench.train_champion(tracking_uri, work)
        print(f"champion: iris version {version} (RandomForest)", flush=True)
        replay = bench.training_holdout(Settings(_env_file=None, home=work / "train-home"))  # type: ignore[call-arg]
        db = bench.Database("postgres", stack.enter_context(bench.postgres_database()))
        for n in counts:
            result = bench.throughput(db, tracking_uri, work, n, rows, batch_size, replay)
            print(f"postgres x{n} workers: {result['rows_per_second']:,.0f} rows/s", flush=True)
            out.append({"workers": n, **result})
    return out


# --- API replicas behind the swarm proxy ------------------------------------------------------
def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def running_replicas(stack: str) -> int:
    """API tasks running and healthy (the swarm lists a task with a healthcheck as running,
    and puts it in the DNS answer the proxy resolves, once it is healthy)."""
    tasks = docker(
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
        f"{stack}_api",
    )
    return sum(1 for line in tasks.splitlines() if line.startswith("Running"))


def scale_api(stack: str, replicas: int, timeout: float = 300) -> None:
    docker("service", "scale", "--detach", f"{stack}_api={replicas}")
    deadline = time.monotonic() + timeout
    while running_replicas(stack) != replicas:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{stack}_api did not reach {replicas} running replicas")
        time.sleep(2)
    time.sleep(3)  # the proxy's checks (every second, rise 1) and DNS (1 s) catch up


@contextlib.contextmanager
def swarm_stack(state: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "API_REPLICAS": "1",
        "WORKER_REPLICAS": "0",
        "STREAM_REPLICAS": "0",
        "MODELYARD_SWARM_STACK": "modelyard-scale",
        "MODELYARD_SWARM_STATE": str(state),
    }
    try:
        subprocess.run(["bash", str(ROOT / ".ci" / "swarm.sh"), "up"], env=env, check=True)
        values = dict(line.split("=", 1) for line in state.read_text().splitlines() if "=" in line)
        yield values
    finally:
        subprocess.run(["bash", str(ROOT / ".ci" / "swarm.sh"), "down"], env=env, check=False)


def measure_api(
    replica_counts: list[int], connections: int, seconds: float
) -> list[tuple[int, LoadResult]]:
    out = []
    with tempfile.TemporaryDirectory(prefix="modelyard-scale-") as tmp:
        body = Path(tmp) / "row.json"
        body.write_text(json.dumps(ROW))
        with swarm_stack(Path(tmp) / "state") as values:
            stack = values["STACK"]
            request = Request(f"http://127.0.0.1:{values['HOST_API_PORT']}/predict", body_path=body)
            for replicas in replica_counts:
                scale_api(stack, replicas)
                run_wrk(request, connections, 5)  # warm-up: connections, caches, the batcher
                result = run_wrk(request, connections, seconds, threads=2)
                print(
                    f"api x{replicas}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, errors {result.errors}",
                    flush=True,
                )
                out.append((replicas, result))
    return out


# --- report -----------------------------------------------------------------------------------
def write_report(
    args: argparse.Namespace,
    command: str,
    api: list[tuple[int, LoadResult]],
    workers: list[dict[str, float]],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
    took: float,
) -> None:
    before, after = loads
    lines = [
        "# Scaling benchmark results",
        "",
        f"- Command: `{command}`",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, took {took / 60:.1f} min",
        f"- Machine: {streaming_benchmark().machine()}",
        "- Load average (1/5/15 min) before: "
        + " / ".join(f"{x:.1f}" for x in before)
        + "; after: "
        + " / ".join(f"{x:.1f}" for x in after),
        "",
    ]
    if api:
        lines += [
            "## API replicas behind the swarm proxy",
            "",
            "deploy/swarm/stack.yaml on a single-node swarm (`.ci/swarm.sh up`, no worker or "
            "stream), each API replica one uvicorn process limited to 1 CPU, HAProxy in front; "
            f"wrk, {args.connections} connections, {args.seconds:g} s after a 5 s warm-up, "
            "single-row `POST /predict` (the demo's iris champion on ONNX Runtime) to the "
            "proxy's published port.",
            "",
            "| API replicas | req/s | p50 | p90 | p99 | errors |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {n} | {r.rps:,.0f} | {r.p50_ms:.1f} ms | {r.p90_ms:.1f} ms | "
            f"{r.p99_ms:.1f} ms | {r.errors} |"
            for n, r in api
        ]
        lines.append("")
    if workers:
        lines += [
            "## Workers on PostgreSQL",
            "",
            f"benchmarks/streaming/run.py's throughput measurement: {args.rows:,} rows appear in "
            f"one commit before idle, ready `modelyard worker` processes (batches of "
            f"{args.batch_size:,}, the demo's RandomForest champion on ONNX Runtime); rows/s = "
            "rows / (last prediction - that commit).",
            "",
            "| Workers | rows/s | Rows | Seconds |",
            "|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {w['workers']:.0f} | {w['rows_per_second']:,.0f} | {w['timed_rows']:,.0f} | "
            f"{w['seconds']:.1f} |"
            for w in workers
        ]
        lines.append("")
    args.output.write_text("\n".join(lines), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="workers,api", help="workers, api or both")
    parser.add_argument("--replicas", default="1,2", help="API replica counts")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="wrk duration per count")
    parser.add_argument("--workers", default="1,2,3", help="worker counts")
    parser.add_argument("--rows", type=int, default=200_000, help="rows per worker run")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    command = ".venv/bin/python benchmarks/scale/run.py " + shlex.join(sys.argv[1:])
    parts = set(args.parts.split(","))
    load_before = os.getloadavg()
    started = time.time()
    workers = (
        measure_workers([int(n) for n in args.workers.split(",")], args.rows, args.batch_size)
        if "workers" in parts
        else []
    )
    api = (
        measure_api([int(n) for n in args.replicas.split(",")], args.connections, args.seconds)
        if "api" in parts
        else []
    )
    write_report(args, command, api, workers, (load_before, os.getloadavg()), time.time() - started)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
