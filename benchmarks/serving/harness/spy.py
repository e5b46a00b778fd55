"""Where the time goes: py-spy samples of a server under load, grouped by layer."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.load import LoadResult, Request, run_wrk

# First match walking from the innermost frame outwards decides a sample's layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model (scikit-learn / numpy)", ("sklearn/", "threadpoolctl", "joblib/")),
    ("pandas", ("pandas/",)),
    ("JSON parse / render", ("orjson", "json/", "msgspec", "ujson")),
    ("input validation (inputs/)", ("modelyard/inputs/",)),
    ("pydantic", ("pydantic/", "pydantic_core")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("logging", ("logging/",)),
    ("modelyard serving code", ("modelyard/",)),
    ("mlflow scoring code", ("mlflow/",)),
    ("framework (starlette / fastapi)", ("starlette/", "fastapi/")),
    ("HTTP server (uvicorn / httptools / h11)", ("uvicorn/", "httptools", "h11/")),
    ("event loop (asyncio / uvloop / anyio)", ("asyncio/", "uvloop", "anyio/")),
    ("thread pool", ("concurrent/futures", "threading.py")),
)


# Innermost frames that mean "waiting": an idle pool thread, or the event loop inside its C
# core (uvloop's epoll wait and callbacks show no Python frame of their own).
WAITING = (
    ("_worker", "futures/thread.py"),
    ("Runner.run", "asyncio/runners.py"),
    ("run_forever", "asyncio/base_events.py"),
    ("select", "selectors.py"),
    ("wait", "threading.py"),
    ("get", "queue.py"),
)
WAITING_LAYER = "waiting (idle pool threads, event loop in C)"


def py_spy_command() -> list[str] | None:
    """py-spy from PATH, else through uvx; None when neither is there."""
    if found := shutil.which("py-spy"):
        return [found]
    if uvx := shutil.which("uvx"):
        return [uvx, "py-spy"]
    return None


@dataclass(frozen=True)
class Profile:
    label: str
    samples: int
    layers: list[tuple[str, float]]  # (layer, share of the busy samples)
    top_self: list[tuple[str, float]]  # (function, share of busy samples as innermost frame)
    waiting: float  # share of all samples that were waiting, left out of the shares above
    load: LoadResult | None
    raw_path: Path


def _layer(frames: list[str]) -> str:
    name, _, where = frames[-1].partition(" (")
    if any(name == fn and file in where for fn, file in WAITING):
        return WAITING_LAYER
    for frame in reversed(frames):  # innermost last in py-spy's collapsed format
        for name, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    parts = where.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else where
    return f"{name} ({tail})"


def summarize(raw_path: Path, label: str, load: LoadResult | None) -> Profile:
    layers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = waiting = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.strip() and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        layer = _layer(frames)
        if layer == WAITING_LAYER:
            waiting += count
            continue
        total += count
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
    )


def profile_under_load(
    root_pid: int,
    request: Request,
    connections: int,
    seconds: float,
    out: Path,
    label: str,
) -> Profile | None:
    """Run wrk for ``seconds`` and sample the server tree with py-spy in the middle of it."""
    command = py_spy_command()
    if command is None:
        return None
    result: dict[str, LoadResult] = {}
    driver = threading.Thread(
        target=lambda: result.setdefault("load", run_wrk(request, connections, seconds + 3))
    )
    driver.start()
    threading.Event().wait(1.5)
    spy = subprocess.run(
        [
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
        ],
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
    return summarize(out, label, result.get("load"))
