"""The load generator: wrk with a Lua script that replays one request and reports JSON."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.procs import on_cpus

LUA_SCRIPT = Path(__file__).resolve().parent.parent / "post.lua"


@dataclass(frozen=True)
class Request:
    """One request replayed by wrk: where, how, and the body file (None for GET)."""

    url: str
    method: str = "POST"
    body_path: Path | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    timeouts: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = asdict(self)
        out["errors"] = self.errors
        return out


_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")


def run_wrk(
    request: Request,
    connections: int,
    duration_s: float,
    timeout_s: float = 10.0,
    threads: int = 1,
    cpus: Sequence[int] = (),
) -> LoadResult:
    """Drive ``request`` with ``connections`` connections for ``duration_s`` s, on ``cpus``."""
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        request.url,
        "--",
        request.method,
        str(request.body_path) if request.body_path else "-",
        request.content_type,
    ]
    done = subprocess.run(
        on_cpus(argv, cpus),
        capture_output=True,
        text=True,
        timeout=duration_s + timeout_s + 30,
        check=False,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    match = _NON_2XX.search(done.stdout)
    non_2xx = max(int(match.group(1)) if match else 0, int(raw["status"]))
    seconds = raw["duration_us"] / 1e6
    return LoadResult(
        connections=connections,
        duration_s=seconds,
        requests=int(raw["requests"]),
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non_2xx=non_2xx,
        socket_errors=int(raw["connect"] + raw["read"] + raw["write"]),
        timeouts=int(raw["timeout"]),
    )
