"""Serving benchmark: modelyard against `mlflow models serve`, side by side, in one run.

    .venv/bin/python benchmarks/serving/run.py --baseline REV   # full run, writes RESULTS.md
    .venv/bin/python benchmarks/serving/run.py --duration 3 --warmup 1 --output /tmp/r.md

See README.md next to this file for what it measures and how.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlflow.artifacts
from harness import limit_app, report
from harness.baseline import Baseline, export
from harness.load import LoadResult, Request, run_wrk
from harness.models import KEYS, MODEL_NAME, Registered, parse_keys, register
from harness.payloads import (
    Payload,
    good_answer,
    invocations_body,
    iris_rows,
    predict_body,
    write_payload,
)
from harness.procs import (
    Pinning,
    RssSampler,
    Server,
    tree_cpus,
    tree_memory,
    tree_rss_mb,
    wait_idle,
    wait_until,
)
from harness.report import (
    LIMIT,
    OUR_CONST,
    OUR_INV,
    OUR_PREDICT,
    PEER_INV,
    PEER_PING,
    before_label,
)
from harness.servers import (
    imported_from,
    openapi_paths,
    start_limit,
    start_modelyard,
    start_peer,
    start_tracking,
    wait_first_prediction,
)
from harness.spy import Profile, profile_under_load

HERE = Path(__file__).resolve().parent


@dataclass
class Target:
    """One server route under load with one payload."""

    label: str
    server: Server
    path: str
    method: str = "POST"
    payload: Payload | None = None

    @property
    def request(self) -> Request:
        body = self.payload.path if self.payload else None
        return Request(self.server.base_url + self.path, self.method, body)


@dataclass
class Cell:
    model: str
    rows: int
    concurrency: int
    target: str
    load: LoadResult
    rss_peak_mb: float
    loadavg: float  # 1-minute load average of the machine when the cell started
    settle_s: float  # seconds waited for every server to go idle before the cell
    rounds: list[float] = field(default_factory=list)  # req/s per round (before/after pairs)


@dataclass
class Run:
    args: argparse.Namespace
    started: float = field(default_factory=time.time)
    models: list[Registered] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    constant_route: str | None = None
    notes: list[str] = field(default_factory=list)
    active: list[Server] = field(default_factory=list)  # servers that must be idle per cell
    loadavg: list[float] = field(default_factory=list)  # at the start and at the end
    pinning: Pinning = field(default_factory=Pinning)
    cpus_seen: dict[str, list[int]] = field(default_factory=dict)  # server -> its tree's CPUs
    usable_cpus: list[int] = field(default_factory=lambda: sorted(os.sched_getaffinity(0)))
    baseline: Baseline | None = None
    head_module: Path | None = None  # where HEAD's servers import modelyard from

    @property
    def concurrencies(self) -> list[int]:
        return [int(c) for c in self.args.concurrency.split(",")]


@dataclass
class Fleet:
    """The servers one model phase keeps running and drives with load."""

    peer: Server
    ours: Server
    limit: Server
    base: Server | None = None  # modelyard at the --baseline revision

    @property
    def all(self) -> list[Server]:
        return [s for s in (self.peer, self.ours, self.base, self.limit) if s is not None]


@dataclass
class Phase:
    """What one model's phase works with: folders, the registry and the payloads."""

    model: Registered
    work: Path
    tracking_uri: str
    payloads: dict[int, dict[str, Payload]]

    @property
    def home(self) -> Path:
        return self.work / "home"

    @property
    def probe(self) -> Payload:
        return self.payloads[1]["invocations"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _model_keys(text: str) -> tuple[str, ...]:
    try:
        return parse_keys(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per cell")
    parser.add_argument("--concurrency", default="1,8,64", help="wrk connections, comma list")
    parser.add_argument("--batch-rows", type=int, default=1000, help="rows per batch request")
    parser.add_argument("--timeout", type=float, default=10.0, help="wrk request timeout (s)")
    parser.add_argument(
        "--models",
        type=_model_keys,
        default=KEYS,
        metavar="KEYS",
        help=f"comma separated models to register and measure, of {','.join(KEYS)} (default all)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument(
        "--ab-rounds",
        type=int,
        default=4,
        help="alternating rounds of HEAD and the baseline per cell (they share --duration)",
    )
    parser.add_argument(
        "--peer-local",
        action="store_true",
        help="also time `mlflow models serve` cold start from a local copy of the model",
    )
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also serve this git revision's src/ and compare it cell by cell (before/after)",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the servers to one CPU and wrk to another",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


# --- measuring ---------------------------------------------------------------------------------
def _measure(
    run: Run, concurrency: int, target: Target, seconds: float, warmup: float
) -> tuple[LoadResult, float, float, float]:
    """One wrk run on ``target`` after the servers go idle: (load, peak RSS, loadavg, settle)."""
    servers = {s.pid for s in run.active if s.proc.poll() is None} | {target.server.pid}
    settle = wait_idle(sorted(servers))
    loadavg = os.getloadavg()[0]
    cpus = run.pinning.load
    if warmup > 0:
        run_wrk(target.request, concurrency, warmup, run.args.timeout, cpus=cpus)
    with RssSampler(target.server.pid) as rss:
        load = run_wrk(target.request, concurrency, seconds, run.args.timeout, cpus=cpus)
    return load, rss.peak, loadavg, settle


def _record(run: Run, model: str, rows: int, concurrency: int, target: Target, cell: Cell) -> Cell:
    load = cell.load
    log(
        f"  {model:8} rows={rows:<5} c={concurrency:<3} {target.label:32} "
        f"{load.rps:9.1f} req/s  p50 {load.p50_ms:8.2f} ms  p99 {load.p99_ms:8.2f} ms  "
        f"err {load.errors}  rss {cell.rss_peak_mb:5.0f} MB  load {cell.loadavg:.1f}"
    )
    run.cells.append(cell)
    return cell


def run_cell(run: Run, model: str, rows: int, concurrency: int, target: Target) -> Cell:
    load, rss, loadavg, settle = _measure(
        run, concurrency, target, run.args.duration, run.args.warmup
    )
    cell = Cell(model, rows, concurrency, target.label, load, rss, loadavg, settle)
    return _record(run, model, rows, concurrency, target, cell)


def run_pair(
    run: Run, model: str, rows: int, concurrency: int, after: Target, before: Target
) -> None:
    """HEAD's route and the baseline's in ``--ab-rounds`` alternating rounds that share the
    cell's duration; each side's cell is its median round (by req/s), errors summed.

    One machine's speed drifts by more than the 5% the comparison looks for within seconds;
    alternating short rounds puts both sides through the same drift.
    """
    rounds = max(1, run.args.ab_rounds)
    seconds = run.args.duration / rounds
    results: dict[str, list[tuple[LoadResult, float, float, float]]] = {
        after.label: [],
        before.label: [],
    }
    for target in (after, before):
        if run.args.warmup > 0:
            run_wrk(
                target.request,
                concurrency,
                run.args.warmup,
                run.args.timeout,
                cpus=run.pinning.load,
            )
    for r in range(rounds):
        for target in (after, before) if r % 2 == 0 else (before, after):
            results[target.label].append(_measure(run, concurrency, target, seconds, 0))
    for target in (after, before):
        samples = sorted(results[target.label], key=lambda x: x[0].rps)
        load, _, loadavg, settle = samples[len(samples) // 2]
        errors = sum(x[0].errors for x in samples)
        load = dataclasses.replace(
            load,
            non_2xx=errors,
            socket_errors=0,
            timeouts=0,
        )
        rss = max(x[1] for x in samples)
        cell = Cell(model, rows, concurrency, target.label, load, rss, loadavg, settle)
        cell.rounds = [x[0].rps for x in results[target.label]]
        _record(run, model, rows, concurrency, target, cell)


def cold_start(run: Run, phase: Phase, server: Server, how: str) -> None:
    loadavg = os.getloadavg()[0]
    seconds = wait_first_prediction(server, "/invocations", phase.probe, timeout=300)
    run.cold.append(
        {
            "model": phase.model.key,
            "server": server.name,
            "how": how,
            "seconds": seconds,
            "loadavg": loadavg,
        }
    )
    log(f"  cold start {server.name} ({how}): {seconds:.2f}s")


def record_memory(run: Run, model: str, label: str, server: Server, workers: int) -> None:
    run.memory.append(
        {
            "model": model,
            "server": label,
            "workers": workers,
            "processes": [{**vars(p), "role": p.role} for p in tree_memory(server.pid)],
            "tree_rss_mb": tree_rss_mb(server.pid),
        }
    )


def check_agreement(run: Run, model: Registered, targets: list[Target]) -> None:
    """Every route must give the peer's labels for the same batch."""
    answers = {
        t.label: good_answer(t.server.base_url + t.path, t.payload)
        for t in targets
        if t.payload is not None
    }
    reference = answers.get(PEER_INV)
    for label, labels in answers.items():
        same = (
            labels is not None
            and reference is not None
            and [str(x) for x in labels] == [str(x) for x in reference]
        )
        run.agreement.append({"model": model.key, "target": label, "agrees": same})
        if not same:
            log(f"  WARNING: {label} disagrees with {PEER_INV} on {model.key}")


def find_constant_route(server: Server) -> tuple[str, str] | None:
    """The constant-response route the serving code exposes for the physical-limit row."""
    for path, methods in openapi_paths(server).items():
        if any(word in path.lower() for word in ("constant", "noop", "baseline", "static")):
            return path, ("POST" if "POST" in methods else methods[0])
    return None


# --- phases ------------------------------------------------------------------------------------
def make_payloads(
    folder: Path, columns: tuple[str, ...], batch: int
) -> dict[int, dict[str, Payload]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for rows in (1, batch):
        matrix = iris_rows(rows)
        out[rows] = {
            "invocations": write_payload(
                folder, f"inv{rows}", invocations_body(columns, matrix), rows
            ),
            "predict": write_payload(folder, f"pred{rows}", predict_body(columns, matrix), rows),
        }
    return out


def start_servers(run: Run, phase: Phase, stack: ExitStack) -> tuple[Server, Server]:
    """Cold starts one at a time; returns the peer and modelyard left running for the load."""
    model, uri = phase.model, f"models:/{MODEL_NAME}/{phase.model.version}"
    cpus = run.pinning.servers
    if run.args.peer_local:
        local_copy = phase.work / "peer-local" / model.key
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(local_copy))
        with start_peer(
            str(local_copy), phase.tracking_uri, phase.work, f"{model.key}-local", cpus
        ) as s:
            cold_start(run, phase, s, "local folder")
    peer = stack.enter_context(start_peer(uri, phase.tracking_uri, phase.work, model.key, cpus))
    cold_start(run, phase, peer, "from the registry")
    with start_modelyard(
        model.version, phase.tracking_uri, phase.home, phase.work, f"{model.key}-first", cpus=cpus
    ) as s:
        cold_start(run, phase, s, "from the registry (empty cache)")
    ours = stack.enter_context(
        start_modelyard(
            model.version, phase.tracking_uri, phase.home, phase.work, model.key, cpus=cpus
        )
    )
    cold_start(run, phase, ours, "model cached locally")
    return peer, ours


def start_baseline(run: Run, phase: Phase, baseline: Baseline, stack: ExitStack) -> Server:
    """modelyard at the baseline revision, on a copy of HEAD's model cache."""
    home = phase.work / f"home-{baseline.short}"
    shutil.copytree(phase.home, home, dirs_exist_ok=True)
    model = phase.model
    server = stack.enter_context(
        start_modelyard(
            model.version,
            phase.tracking_uri,
            home,
            phase.work,
            f"{model.key}-at-{baseline.short}",
            cpus=run.pinning.servers,
            src=baseline.src,
        )
    )
    cold_start(run, phase, server, f"model cached locally, at {baseline.short}")
    return server


def cell_targets(
    run: Run, fleet: Fleet, rows: int, payload: dict[str, Payload], with_constant: bool
) -> list[Target]:
    """What one (model, rows) block measures; each baseline route next to HEAD's."""
    targets = [Target(PEER_INV, fleet.peer, "/invocations", payload=payload["invocations"])]
    for label, route in ((OUR_INV, "/invocations"), (OUR_PREDICT, "/predict")):
        body = payload[route.strip("/")]
        targets.append(Target(label, fleet.ours, route, payload=body))
        if fleet.base is not None and run.baseline is not None:
            before = before_label(run.baseline.short, route)
            targets.append(Target(before, fleet.base, route, payload=body))
    if rows > 1:
        return targets
    targets.append(Target(LIMIT, fleet.limit, limit_app.PATH, payload=payload["predict"]))
    if with_constant:
        constant = find_constant_route(fleet.ours)
        if constant is None:
            run.notes.append("modelyard exposes no constant-response route in its OpenAPI.")
        else:
            path, method = constant
            run.constant_route = f"{method} {path}"
            const_body = payload["predict"] if method == "POST" else None
            targets.append(Target(OUR_CONST, fleet.ours, path, method, const_body))
        targets.append(Target(PEER_PING, fleet.peer, "/ping", "GET"))
    return targets


def load_cells(run: Run, phase: Phase, fleet: Fleet, with_constant: bool) -> None:
    """Every concurrency for single rows then batches; servers interleaved within each.

    With a baseline, each of HEAD's routes is measured together with the baseline's same
    route in alternating rounds (:func:`run_pair`).
    """
    for rows, payload in phase.payloads.items():
        targets = cell_targets(run, fleet, rows, payload, with_constant)
        if rows > 1:
            check_agreement(run, phase.model, targets)
        twins = {
            t.label: b
            for t in targets
            for b in targets
            if fleet.base is not None
            and t.server is fleet.ours
            and b.server is fleet.base
            and b.path == t.path
        }
        paired = {b.label for b in twins.values()}
        for i, c in enumerate(run.concurrencies):
            # Alternate the order from one concurrency to the next.
            for target in targets if i % 2 == 0 else targets[::-1]:
                if target.label in paired:
                    continue
                if target.label in twins:
                    run_pair(run, phase.model.key, rows, c, target, twins[target.label])
                else:
                    run_cell(run, phase.model.key, rows, c, target)


def profiles(run: Run, phase: Phase, fleet: Fleet, with_limit: bool) -> None:
    folder = phase.work / "profiles"
    folder.mkdir(exist_ok=True)
    batch = run.args.batch_rows
    title = phase.model.title
    single, many = phase.payloads[1], phase.payloads[batch]
    ours, peer = fleet.ours, fleet.peer
    jobs = [  # (server, name, route, payload, connections)
        (ours, "modelyard", "/predict", single["predict"], 64),
        (ours, "modelyard", "/invocations", single["invocations"], 64),
        (ours, "modelyard", "/predict", many["predict"], 8),
        (ours, "modelyard", "/invocations", many["invocations"], 8),
        (peer, "mlflow models serve", "/invocations", single["invocations"], 64),
    ]
    if with_limit:
        jobs.append((fleet.limit, LIMIT, limit_app.PATH, single["predict"], 64))
    for n, (server, name, route, payload, conns) in enumerate(jobs):
        rows = "1 row" if payload.rows == 1 else f"{payload.rows:,} rows"
        label = f"{title}, {name} POST {route}, {rows}, c={conns}"
        if server is fleet.limit:
            label = f"{LIMIT} POST {route}, 1 row, c={conns} (no model)"
        target = Target("", server, route, payload=payload)
        wait_idle([s.pid for s in fleet.all])
        log(f"  profiling {label}")
        prof = profile_under_load(
            server.pid,
            target.request,
            conns,
            run.args.profile_seconds,
            folder / f"{phase.model.key}-{n}.txt",
            label,
            cpus=run.pinning.load,
        )
        if prof is not None:
            run.profiles.append(prof)


def wait_all_workers(server: Server, probe: Payload, streak: int = 40) -> float:
    """Seconds from launch until ``streak`` requests in a row, each on a new connection, succeed.

    The kernel spreads new connections over the workers, so a long enough streak means every
    worker answers.
    """
    url = server.base_url + "/invocations"
    count = 0

    def good() -> bool:
        nonlocal count
        count = count + 1 if good_answer(url, probe) is not None else 0
        return count >= streak

    return wait_until(server, good, timeout=300)


def two_workers(run: Run, phase: Phase) -> None:
    """Memory per worker: the same server with two worker processes, after a loaded cell."""
    model = phase.model
    with start_modelyard(
        model.version,
        phase.tracking_uri,
        phase.home,
        phase.work,
        f"{model.key}-w2",
        workers=2,
        cpus=run.pinning.servers,
    ) as two:
        cold_start(run, phase, two, "model cached locally, 2 workers")
        # The first answer may come from one worker while the other is still loading.
        waited = wait_all_workers(two, phase.probe)
        log(f"  every worker answering after {waited:.2f}s")
        run.cold.append(
            {
                "model": model.key,
                "server": two.name,
                "loadavg": os.getloadavg()[0],
                "how": "model cached locally, 2 workers, all answering",
                "seconds": waited,
            }
        )
        target = Target(
            f"{OUR_PREDICT} (2 workers)", two, "/predict", payload=phase.payloads[1]["predict"]
        )
        run_cell(run, model.key, 1, max(run.concurrencies), target)
        record_memory(run, model.key, "modelyard serve", two, 2)
        note_cpus(run, [two])


def note_cpus(run: Run, servers: list[Server]) -> None:
    """Record the CPUs each server's whole process tree may use (the pinning, as applied)."""
    for server in servers:
        run.cpus_seen[server.name] = sorted(tree_cpus(server.pid))


def model_phase(run: Run, phase: Phase, first: bool, with_workers: bool) -> None:
    log(
        f"{phase.model.title} = models:/{MODEL_NAME}/{phase.model.version}"
        f" (registered via {phase.model.via})"
    )
    with ExitStack() as stack:
        peer, ours = start_servers(run, phase, stack)
        base = start_baseline(run, phase, run.baseline, stack) if run.baseline else None
        limit = stack.enter_context(start_limit(phase.work, run.pinning.servers))
        fleet = Fleet(peer, ours, limit, base)
        run.active = fleet.all
        load_cells(run, phase, fleet, with_constant=first)
        note_cpus(run, fleet.all)
        record_memory(run, phase.model.key, "mlflow models serve", peer, 1)
        record_memory(run, phase.model.key, "modelyard serve", ours, 1)
        if base is not None and run.baseline is not None:
            label = f"modelyard serve @{run.baseline.short}"
            record_memory(run, phase.model.key, label, base, 1)
        if first:
            record_memory(run, phase.model.key, LIMIT, limit, 1)
        if not run.args.no_profile:
            profiles(run, phase, fleet, with_limit=first)
    run.active = []
    if with_workers:
        two_workers(run, phase)


def shown_command(given: list[str]) -> str:
    """The command line as typed from the repository root."""
    python = Path(sys.executable)
    if python.is_relative_to(report.REPO):
        python = python.relative_to(report.REPO)
    return shlex.join([str(python), "benchmarks/serving/run.py", *given])


def prepare(run: Run, work: Path) -> None:
    """Baseline export (fails loudly if it would not be imported) and the pinning's checks."""
    run.head_module = imported_from(None)
    if run.args.baseline:
        run.baseline = export(run.args.baseline, work / "baseline")
        log(
            f"baseline {run.args.baseline} = {run.baseline.sha[:12]} ({run.baseline.subject});"
            f" its servers import {run.baseline.module}"
        )
    if run.pinning.active:
        if shutil.which("taskset") is None:
            raise RuntimeError("taskset (util-linux) is needed to pin; or pass --no-pin")
        servers, load = run.pinning.servers, run.pinning.load
        log(f"pinning: servers on CPU {servers[0]}, wrk, py-spy and the harness on CPU {load[0]}")


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    run = Run(args, pinning=Pinning.choose(not args.no_pin))
    run.loadavg.append(os.getloadavg()[0])
    command = shown_command(given)
    work = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    log(f"working folder {work}")
    try:
        prepare(run, work)
        with start_tracking(work) as tracking:
            log(f"MLflow tracking server at {tracking.base_url}")
            run.models = register(tracking.base_url, work / "home", args.models)
            for m in run.models:
                log(f"registered {m.title} = models:/{MODEL_NAME}/{m.version} via {m.via}")
            if run.pinning.active:
                # The harness (RSS sampling, idle checks) stays off the servers' CPU too.
                os.sched_setaffinity(0, run.pinning.load)
            for n, model in enumerate(run.models):
                payloads = make_payloads(
                    work / "payloads" / model.key, model.columns, args.batch_rows
                )
                phase = Phase(model, work, tracking.base_url, payloads)
                last = n == len(run.models) - 1
                model_phase(run, phase, first=n == 0, with_workers=last)
        seconds = time.time() - run.started
        run.loadavg.append(os.getloadavg()[0])
        args.output.write_text(report.render(run, command, seconds))
        args.output.with_suffix(".json").write_text(json.dumps(report.as_json(run), indent=2))
        log(f"wrote {args.output} ({seconds / 60:.1f} min)")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
