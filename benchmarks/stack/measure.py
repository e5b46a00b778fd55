"""The local stack's footprint: first-start time, memory and idle CPU of `modelyard up`.

Starts ``modelyard up`` on a fresh state folder (so the demo models are trained, as on a
first run), waits for "the stack is ready", lets it settle, then samples every process of
its tree from /proc: the sum of RSS (what ``ps`` shows; shared pages counted once per
process), the sum of PSS (shared pages divided among their users) and the CPU time used
over the sample window. Then stops it with SIGTERM and checks that nothing had to be killed.

    .venv/bin/python benchmarks/stack/measure.py [--settle 30] [--window 60] [-- UP_OPTIONS]

Ports come from MODELYARD_*_PORT when set, else free ones are picked. Linux only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PORT_SETTINGS = (
    "MODELYARD_MLFLOW_PORT",
    "MODELYARD_API_PORT",
    "MODELYARD_UI_PORT",
    "MODELYARD_VIZ_PORT",
    "MODELYARD_WORKER_METRICS_PORT",
)


@dataclass
class Proc:
    pid: int
    name: str
    rss_kb: int
    pss_kb: int
    cpu_ticks: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _name(pid: int) -> str:
    """What the process is, in a few words, from its command line."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in args if a]
    line = " ".join(words)
    if "huey_consumer" in line or "_job_runner" in line:
        return "mlflow job runner"
    if "-m uvicorn" in line and "mlflow" in line:
        return "mlflow server (uvicorn)"
    if any(w.endswith("/mlflow") for w in words) and "server" in words:
        return "mlflow server (its CLI, waiting on uvicorn)"
    for i, word in enumerate(words):
        if word == "modelyard" or word.endswith("/modelyard"):
            return " ".join(["modelyard", *words[i + 1 : i + 2]])
    return line[:60]


def snapshot(root: int) -> list[Proc]:
    """Every live process of the tree under ``root`` (``root`` included)."""
    tree = _children()
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier.extend(tree.get(pid, []))
    procs = []
    for pid in found:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] == "Z":
                continue
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().split("\n")
            values = {ln.split(":")[0]: int(ln.split()[1]) for ln in rollup if ln.endswith("kB")}
            procs.append(
                Proc(
                    pid, _name(pid), values["Rss"], values["Pss"], int(fields[11]) + int(fields[12])
                )
            )
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return procs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after ready")
    parser.add_argument("--window", type=float, default=60.0, help="CPU sample window (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="most seconds to ready")
    parser.add_argument("--home", type=Path, help="state folder (default: a new temporary one)")
    parser.add_argument("up_options", nargs="*", help="passed to `modelyard up`")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="modelyard-stack-"))
    env = dict(os.environ, MODELYARD_HOME=str(home), PYTHONUNBUFFERED="1")
    for setting in PORT_SETTINGS:
        env.setdefault(setting, str(_free_port()))
    log_path = home.parent / f"{home.name}-up.log"
    modelyard = Path(sys.executable).with_name("modelyard")
    print(f"state {home}; log {log_path}; load {os.getloadavg()[0]:.1f}", flush=True)

    started = time.monotonic()
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [str(modelyard), "up", *args.up_options],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while "the stack is ready" not in log_path.read_text(errors="replace"):
            if up.poll() is not None or time.monotonic() - started > args.timeout:
                print(log_path.read_text(errors="replace")[-3000:])
                return 1
            time.sleep(0.5)
        ready = time.monotonic() - started
        print(f"first start: {ready:.0f}s to 'the stack is ready'", flush=True)
        time.sleep(args.settle)
        before = {p.pid: p for p in snapshot(up.pid)}
        time.sleep(args.window)
        after = snapshot(up.pid)
    finally:
        stop_started = time.monotonic()
        if up.poll() is None:
            os.kill(up.pid, signal.SIGTERM)
        code = up.wait(timeout=120)
        stopped = time.monotonic() - stop_started

    cpu = {
        p.pid: (p.cpu_ticks - before[p.pid].cpu_ticks) / CLOCK_TICKS / args.window * 100
        for p in after
        if p.pid in before
    }
    print(f"\n| process | RSS MB | PSS MB | CPU % of a core over {args.window:.0f}s |")
    print("| --- | --- | --- | --- |")
    for p in sorted(after, key=lambda p: -p.rss_kb):
        rss_mb, pss_mb = p.rss_kb / 1024, p.pss_kb / 1024
        print(f"| {p.name} | {rss_mb:.0f} | {pss_mb:.0f} | {cpu.get(p.pid, 0):.1f} |")
    rss = sum(p.rss_kb for p in after) / 1024
    pss = sum(p.pss_kb for p in after) / 1024
    total_cpu = sum(cpu.values())
    print(
        f"| **all {len(after)} processes** | **{rss:.0f}** | **{pss:.0f}** | **{total_cpu:.1f}** |"
    )
    text = log_path.read_text(errors="replace")
    killed = [line for line in text.splitlines() if "killing it" in line]
    print(f"\nfirst start {ready:.0f}s; RSS {rss:.0f} MB; PSS {pss:.0f} MB; CPU {total_cpu:.1f}%")
    print(f"stop: exit code {code} after {stopped:.1f}s; killed: {killed or 'nothing'}")
    print(f"load average at the end: {os.getloadavg()}")
    return 0 if code == 0 and not killed else 1


if __name__ == "__main__":
    raise SystemExit(main())
