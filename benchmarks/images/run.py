"""Image-serving benchmark: modelyard, a Flask app under gunicorn and BentoML, in one run.

    .venv/bin/python benchmarks/images/run.py                    # full run, writes RESULTS.md
    .venv/bin/python benchmarks/images/run.py --duration 2 --warmup 1 --output /tmp/r.md

See README.md next to this file for what it measures and how.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "serving"))  # shared harness
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.load import LoadResult, Request, run_wrk
from harness.payloads import http_call
from harness.procs import (
    Pinning,
    RssSampler,
    Server,
    on_cpus,
    tree_cpus,
    tree_memory,
    tree_rss_mb,
    wait_idle,
    wait_until,
)
from harness.servers import VENV_BIN, start_tracking
from harness.spy import Profile, profile_under_load
from imagebench import profiling, report
from imagebench.models import ImageModel, register_all
from imagebench.payloads import Body, request_jpeg, top_labels, write_bodies
from imagebench.servers import (
    Route,
    flask_workers,
    peer_versions,
    peers_venv,
    start_bento,
    start_flask,
    start_ours,
)

HERE = Path(__file__).resolve().parent
OURS = "modelyard"
FLASK = "Flask + gunicorn"
BENTO = "BentoML"
# modelyard again, sent BentoML's multipart body (no base64): what the request form costs.
OURS_MULTIPART = "modelyard, multipart"
SERVERS = (OURS, FLASK, BENTO, OURS_MULTIPART)
ROUTES: dict[str, dict[str, Route]] = {
    OURS: {"v1": Route("/v1/predict", "json"), "v2": Route("/v2/predict", "json")},
    OURS_MULTIPART: {
        "v1": Route("/v1/predict", "multipart"),
        "v2": Route("/v2/predict", "multipart"),
    },
    FLASK: {"v1": Route("/v1/predict", "json"), "v2": Route("/v2/predict", "json")},
    BENTO: {"v1": Route("/classify_v1", "multipart"), "v2": Route("/classify_v2", "multipart")},
}
PROFILED_CONCURRENCY = 16


@dataclass
class Cell:
    version: str
    concurrency: int
    server: str
    load: LoadResult
    rss_peak_mb: float
    loadavg: float  # 1-minute load average when the cell started
    settle_s: float


@dataclass
class Run:
    args: argparse.Namespace
    started: float = field(default_factory=time.time)
    models: list[ImageModel] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    ceilings: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, dict[str, list[Any] | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loadavg: list[float] = field(default_factory=list)
    pinning: Pinning = field(default_factory=Pinning)
    usable_cpus: list[int] = field(default_factory=lambda: sorted(os.sched_getaffinity(0)))
    cpus_seen: dict[str, list[int]] = field(default_factory=dict)
    peers: dict[str, str] = field(default_factory=dict)  # versions in the peers' venv
    gunicorn_workers: int = 0
    jpeg_bytes: int = 0
    body_bytes: dict[str, int] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)  # the ones under load

    @property
    def concurrencies(self) -> list[int]:
        return [int(c) for c in self.args.concurrency.split(",")]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per cell")
    parser.add_argument("--concurrency", default="1,16,64", help="wrk connections, comma list")
    parser.add_argument("--timeout", type=float, default=10.0, help="wrk request timeout (s)")
    parser.add_argument("--versions", default="v1,v2", help="which model versions to drive")
    parser.add_argument("--ceiling-seconds", type=float, default=3.0, help="per in-process stage")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load")
    parser.add_argument(
        "--label", default="", help="a line put at the top of the report (e.g. 'smoke run')"
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


# --- servers ---------------------------------------------------------------------------------
def good_answer(server: Server, route: Route, body: Body) -> list[Any] | None:
    """The top labels if ``server`` answers ``body`` on ``route`` with 200, else None."""
    status, raw = http_call(
        server.base_url + route.path, "POST", body.data, timeout=30, content_type=body.content_type
    )
    if status != 200:
        return None
    try:
        return top_labels(json.loads(raw))
    except ValueError:
        return None


def first_answer(server: Server, route: Route, body: Body, timeout: float) -> float:
    """Seconds from launch to the first 200 answer carrying the top labels."""
    return wait_until(server, lambda: good_answer(server, route, body) is not None, timeout)


def last_refusal(server: Server, route: Route, body: Body) -> str:
    """What the server answers now (for a note when it never answered well)."""
    try:
        status, raw = http_call(
            server.base_url + route.path, "POST", body.data, 10, body.content_type
        )
    except OSError as exc:
        return f"no answer ({exc})"
    return f"HTTP {status}: {raw[:300].decode(errors='replace')}"


def cold_start(
    run: Run, name: str, server: Server, how: str, body: Body, timeout: float = 300
) -> bool:
    """Time launch → first good v1 answer; False (with a note) when it never comes."""
    route = ROUTES[name]["v1"]
    try:
        seconds = first_answer(server, route, body, timeout)
    except (TimeoutError, RuntimeError) as exc:
        seen = last_refusal(server, route, body) if server.proc.poll() is None else "exited"
        run.notes.append(
            f"{name} ({how}) never answered the image request within {timeout:.0f}s: {seen}."
            f" Log tail: {str(exc).splitlines()[-1][:300] if str(exc) else ''}"
        )
        log(f"  {name} ({how}) did not answer: {seen}")
        return False
    run.cold.append({"server": name, "how": how, "seconds": seconds, "loadavg": os.getloadavg()[0]})
    log(f"  cold start {name} ({how}): {seconds:.2f}s")
    return True


def start_all(
    run: Run,
    stack: ExitStack,
    tracking_uri: str,
    work: Path,
    bin_dir: Path,
    bodies: dict[str, Body],
) -> None:
    """Cold starts one at a time; the servers left running go into ``run.servers``."""
    cpus = run.pinning.servers
    models = work / "peer-models"
    home = work / "home"
    versions = (run.models[0].version, run.models[-1].version)
    with start_ours(tracking_uri, home, work, "first", versions, cpus) as first:
        cold_start(run, OURS, first, "from the registry (empty cache)", bodies["json"])
    ours = stack.enter_context(start_ours(tracking_uri, home, work, "cached", versions, cpus))
    if cold_start(run, OURS, ours, "model cached locally", bodies["json"], timeout=120):
        run.servers[OURS] = ours
        run.servers[OURS_MULTIPART] = ours
    run.gunicorn_workers = flask_workers(cpus)
    flask = stack.enter_context(start_flask(bin_dir, models, work, run.gunicorn_workers, cpus))
    if cold_start(run, FLASK, flask, f"{run.gunicorn_workers} sync workers", bodies["json"]):
        run.servers[FLASK] = flask
    bento = stack.enter_context(start_bento(bin_dir, models, work, cpus))
    if cold_start(run, BENTO, bento, "1 worker, batching on", bodies["multipart"]):
        run.servers[BENTO] = bento


# --- measuring -------------------------------------------------------------------------------
def request_for(server: Server, route: Route, bodies: dict[str, Body]) -> Request:
    body = bodies[route.body]
    return Request(server.base_url + route.path, "POST", body.path, body.content_type)


def run_cell(run: Run, version: str, c: int, name: str, bodies: dict[str, Body]) -> None:
    server = run.servers[name]
    request = request_for(server, ROUTES[name][version], bodies)
    settle = wait_idle(sorted(s.pid for s in run.servers.values()))
    loadavg = os.getloadavg()[0]
    cpus = run.pinning.load
    if run.args.warmup > 0:
        run_wrk(request, c, run.args.warmup, run.args.timeout, cpus=cpus)
    with RssSampler(server.pid) as rss:
        load = run_wrk(request, c, run.args.duration, run.args.timeout, cpus=cpus)
    cell = Cell(version, c, name, load, rss.peak, loadavg, settle)
    run.cells.append(cell)
    log(
        f"  {version} c={c:<3} {name:17} {load.rps:8.1f} img/s  p50 {load.p50_ms:8.2f} ms"
        f"  p99 {load.p99_ms:8.2f} ms  err {load.errors}  rss {rss.peak:5.0f} MB"
        f"  load {loadavg:.1f}"
    )


def load_cells(run: Run, bodies: dict[str, Body]) -> None:
    """Every version and concurrency, the servers interleaved (order alternating per cell)."""
    names = [n for n in SERVERS if n in run.servers]
    n = 0
    for version in run.args.versions.split(","):
        for c in run.concurrencies:
            for name in names if n % 2 == 0 else names[::-1]:
                run_cell(run, version, c, name, bodies)
            n += 1


def check_answers(run: Run, bodies: dict[str, Body]) -> None:
    """Each server's top-5 labels for the request image, per version."""
    for version in run.args.versions.split(","):
        run.answers[version] = {
            name: good_answer(server, ROUTES[name][version], bodies[ROUTES[name][version].body])
            for name, server in run.servers.items()
        }


def ceilings(run: Run, work: Path, bodies: dict[str, Body]) -> None:
    """The in-process ceilings (``imagebench/ceiling.py``) on the servers' core, alone."""
    script = HERE / "imagebench" / "ceiling.py"
    argv = [
        str(VENV_BIN / "python"),
        str(script),
        "--jpeg",
        str(work / "bodies" / "request.jpg"),
        "--body",
        str(bodies["json"].path),
        "--seconds",
        str(run.args.ceiling_seconds),
        *(f"{m.key}={m.prepared}" for m in run.models),
    ]
    done = subprocess.run(
        on_cpus(argv, run.pinning.servers), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"ceiling.py failed:\n{done.stderr}")
    run.ceilings = json.loads(done.stdout)
    for key, stages in run.ceilings.items():
        log(
            f"  ceiling {key}: "
            + ", ".join(f"{stage} {v['images_per_s']:,.0f} img/s" for stage, v in stages.items())
        )


def profiles(run: Run, work: Path, bodies: dict[str, Body]) -> None:
    """py-spy on each server at c=16 (ours for every version, the peers for the last)."""
    folder = work / "profiles"
    folder.mkdir(exist_ok=True)
    versions = run.args.versions.split(",")
    jobs = [(OURS, v) for v in versions] + [(n, versions[-1]) for n in (FLASK, BENTO)]
    for n, (name, version) in enumerate(jobs):
        server = run.servers.get(name)
        if server is None:
            continue
        label = f"{name}, {version}, c={PROFILED_CONCURRENCY}"
        wait_idle([s.pid for s in run.servers.values()])
        log(f"  profiling {label}")
        prof = profile_under_load(
            server.pid,
            request_for(server, ROUTES[name][version], bodies),
            PROFILED_CONCURRENCY,
            run.args.profile_seconds,
            folder / f"{n}-{name.split()[0].lower()}-{version}.txt",
            label,
            cpus=run.pinning.load,
            rules=profiling.RULES,
        )
        if prof is not None:
            run.profiles.append(prof)


def record_memory(run: Run) -> None:
    for name, server in run.servers.items():
        if name == OURS_MULTIPART:  # the same server as OURS
            continue
        run.memory.append(
            {
                "server": name,
                "processes": [{**vars(p), "role": p.role} for p in tree_memory(server.pid)],
                "tree_rss_mb": tree_rss_mb(server.pid),
            }
        )
        run.cpus_seen[name] = sorted(tree_cpus(server.pid))


# --- the run ---------------------------------------------------------------------------------
def shown_command(given: list[str]) -> str:
    python = Path(sys.executable)
    if python.is_relative_to(report.REPO):
        python = python.relative_to(report.REPO)
    return shlex.join([str(python), "benchmarks/images/run.py", *given])


def measure(run: Run, work: Path, bin_dir: Path) -> None:
    with start_tracking(work) as tracking:
        log(f"MLflow tracking server at {tracking.base_url}")
        run.models = register_all(tracking.base_url, work / "models", work / "train-home")
        for m in run.models:
            log(
                f"  digits {m.key} = version {m.version}: {m.title}"
                f" (accuracy {m.accuracy:.3f}, via {m.via})"
            )
        peer_models = work / "peer-models"  # <key>/modelyard/{meta.json,model.onnx}
        for m in run.models:
            shutil.copytree(m.prepared, peer_models / m.key / "modelyard")
        jpeg = request_jpeg()
        bodies = write_bodies(work / "bodies", jpeg)
        run.jpeg_bytes = len(jpeg)
        run.body_bytes = {name: len(b.data) for name, b in bodies.items()}
        if run.pinning.active:
            os.sched_setaffinity(0, run.pinning.load)
        log("in-process ceilings")
        ceilings(run, work, bodies)
        with ExitStack() as stack:
            start_all(run, stack, tracking.base_url, work, bin_dir, bodies)
            check_answers(run, bodies)
            load_cells(run, bodies)
            record_memory(run)
            if not run.args.no_profile:
                profiles(run, work, bodies)


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse_args(given)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    run = Run(args, pinning=Pinning.choose(not args.no_pin))
    if run.pinning.active and shutil.which("taskset") is None:
        print("taskset (util-linux) is needed to pin; or pass --no-pin", file=sys.stderr)
        return 2
    log("peers' venv (BentoML, Flask, gunicorn) in benchmarks/images/.venv-peers")
    bin_dir = peers_venv()
    run.peers = peer_versions(bin_dir)
    run.loadavg.append(os.getloadavg()[0])
    work = Path(tempfile.mkdtemp(prefix="modelyard-images-"))
    log(f"working folder {work}")
    if run.pinning.active:
        log(
            f"pinning: servers on CPU {run.pinning.servers[0]},"
            f" wrk and py-spy on CPU {run.pinning.load[0]}"
        )
    try:
        measure(run, work, bin_dir)
        seconds = time.time() - run.started
        run.loadavg.append(os.getloadavg()[0])
        command = shown_command(given)
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
