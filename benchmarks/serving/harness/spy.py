"""Where the time goes: py-spy samples of a server under load, grouped by layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.load import LoadResult, Request, run_wrk
from harness.procs import on_cpus

REPO = Path(__file__).resolve().parents[3]

SERVER = "server (uvicorn, httptools, uvloop, asyncio event loop)"
MIDDLEWARE = "middleware (MetricsMiddleware, Starlette middleware and exception handling)"
ROUTING = "routing (Starlette routing, FastAPI, route functions)"
METRICS = "metrics (prometheus_client, observe_*)"
CODEC = "parsing and encoding (body, JSON, protocol codecs, inputs)"
ENGINE = "engine and batcher hop (engine, batching, scoring, futures and tasks)"
MODEL = "model (scikit-learn, numpy, inference)"
PEER = "mlflow scoring server (the peer only)"
OTHER = "other"
LAYER_ORDER = (SERVER, MIDDLEWARE, ROUTING, METRICS, CODEC, ENGINE, MODEL, PEER, OTHER)


@dataclass(frozen=True)
class Rule:
    """Frames in a file whose path contains ``path`` (and, if given, whose function name
    contains one of ``functions``) belong to ``layer``.

    A ``deferring`` rule (numpy, pandas) gives its frame to the nearest caller that a
    non-deferring rule recognises, so numpy called by the input parser counts as parsing and
    numpy called by scikit-learn as the model; with no such caller it keeps ``layer``.
    """

    layer: str
    path: str
    functions: tuple[str, ...] = ()
    deferring: bool = False

    def matches(self, function: str, path: str) -> bool:
        if self.path not in path:
            return False
        return not self.functions or any(f in function for f in self.functions)


SERVING = "modelyard/serving/"
# Path fragments chosen to stay true while src/modelyard/serving is reorganised: a codec is
# anything under serving/protocols/, body reading and responses under http.py, body.py or
# responses.py (or the router's `_send`, which writes a reply); the router that finds the
# endpoint and the route functions are routing. The first rule that matches a frame decides.
RULES: tuple[Rule, ...] = (
    Rule(METRICS, SERVING + "metrics.py", ("observe", "ServingMetrics.")),
    Rule(MIDDLEWARE, SERVING + "metrics.py"),
    Rule(METRICS, "prometheus_client/"),
    Rule(MIDDLEWARE, "starlette/middleware/"),
    Rule(MIDDLEWARE, "starlette/_exception_handler.py"),
    Rule(MIDDLEWARE, "starlette/applications.py"),
    Rule(MIDDLEWARE, "fastapi/applications.py"),
    Rule(ROUTING, "starlette/routing.py"),
    Rule(ROUTING, "fastapi/"),
    Rule(CODEC, SERVING + "router.py", ("_send",)),
    Rule(ROUTING, SERVING + "router.py"),
    Rule(ROUTING, SERVING + "routes/"),
    Rule(ROUTING, "harness/limit_app.py"),
    Rule(ROUTING, SERVING + "errors.py"),
    Rule(CODEC, SERVING + "protocols/"),
    Rule(CODEC, SERVING + "http.py"),
    Rule(CODEC, SERVING + "body.py"),
    Rule(CODEC, SERVING + "responses.py"),
    Rule(CODEC, "modelyard/inputs/"),
    Rule(CODEC, "starlette/requests.py"),
    Rule(CODEC, "starlette/responses.py"),
    Rule(CODEC, "starlette/datastructures.py"),
    Rule(CODEC, "orjson"),
    Rule(CODEC, "/json/"),
    Rule(CODEC, "pydantic"),
    Rule(ENGINE, SERVING + "engine.py"),
    Rule(ENGINE, SERVING + "batching.py"),
    Rule(ENGINE, SERVING + "scoring.py"),
    Rule(ENGINE, "asyncio/futures.py"),
    Rule(ENGINE, "asyncio/tasks.py"),
    Rule(ENGINE, "concurrent/futures/"),
    Rule(MODEL, "sklearn/"),
    Rule(MODEL, "modelyard/inference/"),
    Rule(MODEL, "onnxruntime"),
    Rule(MODEL, "scipy/"),
    Rule(MODEL, "threadpoolctl"),
    Rule(MODEL, "joblib/"),
    Rule(MODEL, "numpy/", deferring=True),
    Rule(MODEL, "pandas/", deferring=True),
    Rule(PEER, "mlflow/"),
    Rule(SERVER, "uvicorn/"),
    Rule(SERVER, "httptools"),
    Rule(SERVER, "h11/"),
    Rule(SERVER, "uvloop"),
    Rule(SERVER, "asyncio/"),
    Rule(SERVER, "anyio/"),
)

# Innermost frames of threads that wait: idle pool threads and a selector-based loop's poll.
# (py-spy leaves out threads the kernel reports asleep; these catch the rest.)
WAITING = (
    ("_worker", "futures/thread.py"),
    ("select", "selectors.py"),
    ("wait", "threading.py"),
    ("get", "queue.py"),
)
WAITING_LAYER = "waiting (idle pool threads)"
# Innermost frames that mean "uvloop's C core is running": the loop's entry point is the last
# Python frame while it polls sockets, reads, writes and runs its callbacks in C.
LOOP_IN_C = (
    ("run", "asyncio/runners.py"),
    ("run_forever", "asyncio/base_events.py"),
    ("run_until_complete", "asyncio/base_events.py"),
)


def _parts(frame: str) -> tuple[str, str]:
    """``"func (path/to/module.py:123)"`` -> ``("func", "path/to/module.py")``."""
    name, _, where = frame.partition(" (")
    return name, where.rstrip(")").rsplit(":", 1)[0]


def _is(frame: str, table: tuple[tuple[str, str], ...]) -> bool:
    name, where = _parts(frame)
    return any(name.rsplit(".", 1)[-1] == fn and file in where for fn, file in table)


def py_spy_command() -> list[str] | None:
    """py-spy from the venv or PATH, else through uvx (PATH or the repo's own uv); or None."""
    venv = Path(sys.executable).parent / "py-spy"
    if venv.exists():
        return [str(venv)]
    if found := shutil.which("py-spy"):
        return [found]
    uvx = shutil.which("uvx") or REPO / ".tools" / "uv" / "bin" / "uvx"
    return [str(uvx), "py-spy"] if Path(uvx).exists() else None


@dataclass(frozen=True)
class Profile:
    label: str
    samples: int
    layers: list[tuple[str, float]]  # (layer, share of the busy samples)
    top_self: list[tuple[str, float]]  # (function, share of busy samples as innermost frame)
    waiting: float  # share of all samples that were waiting, left out of the shares above
    load: LoadResult | None
    raw_path: Path
    loop_in_c: float = 0.0  # share of busy samples in uvloop's C core (part of the server)

    def share(self, layer: str) -> float:
        return dict(self.layers).get(layer, 0.0)


def layer_of(frames: list[str], rules: Sequence[Rule] = RULES) -> str:
    """The layer of one stack (outermost frame first), by its innermost recognisable frame."""
    if _is(frames[-1], WAITING):
        return WAITING_LAYER
    if _is(frames[-1], LOOP_IN_C):
        return SERVER
    deferred: str | None = None
    for frame in reversed(frames):
        name, where = _parts(frame)
        rule = next((r for r in rules if r.matches(name, where)), None)
        if rule is None:
            continue
        if not rule.deferring:
            return rule.layer if deferred is None or rule.layer != SERVER else deferred
        deferred = deferred or rule.layer
    return deferred or OTHER


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (to/module.py)"
    name, where = _parts(frame)
    parts = where.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else where
    return f"{name} ({tail})"


def summarize(
    raw_path: Path, label: str, load: LoadResult | None, rules: Sequence[Rule] = RULES
) -> Profile:
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = waiting = loop = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.strip() and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        layer = layer_of(frames, rules)
        if layer == WAITING_LAYER:
            waiting += count
            continue
        total += count
        loop += count if _is(frames[-1], LOOP_IN_C) else 0
        layers[layer] += count
        leaves[_short(frames[-1])] += count

    def share(n: int) -> float:
        return n / total if total else 0.0

    return Profile(
        label=label,
        samples=total,
        layers=[(name, share(n)) for name, n in layers.most_common()],
        top_self=[(name, share(n)) for name, n in leaves.most_common(8)],
        waiting=waiting / (total + waiting) if total + waiting else 0.0,
        load=load,
        raw_path=raw_path,
        loop_in_c=share(loop),
    )


def profile_under_load(
    root_pid: int,
    request: Request,
    connections: int,
    seconds: float,
    out: Path,
    label: str,
    cpus: Sequence[int] = (),
    rules: Sequence[Rule] = RULES,
) -> Profile | None:
    """Run wrk for ``seconds`` and sample the server tree with py-spy in the middle of it.

    wrk and py-spy both run on ``cpus`` (any when empty), away from the server's; samples go
    to layers by ``rules`` (another benchmark passes its own, e.g. with image decoding).
    """
    command = py_spy_command()
    if command is None:
        return None
    result: dict[str, LoadResult] = {}
    driver = threading.Thread(
        target=lambda: result.setdefault(
            "load", run_wrk(request, connections, seconds + 3, cpus=cpus)
        )
    )
    driver.start()
    threading.Event().wait(1.5)
    argv = [
        *command,
        "record",
        "--pid",
        str(root_pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "200",
        "--duration",
        str(max(1, round(seconds))),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    spy = subprocess.run(
        on_cpus(argv, cpus),
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    driver.join()
    if spy.returncode != 0 or not out.exists():
        return Profile(
            label,
            0,
            [("py-spy failed: " + spy.stderr.strip()[-200:], 0.0)],
            [],
            0.0,
            result.get("load"),
            out,
        )
    return summarize(out, label, result.get("load"), rules)
