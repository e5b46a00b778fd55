"""Server processes: launch, wait for the first good answer, measure memory, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Pinning:
    """The CPUs the servers run on and the CPUs of the load side (wrk, py-spy, the harness).

    Empty tuples mean "not pinned": the scheduler puts everything anywhere.
    """

    servers: tuple[int, ...] = ()
    load: tuple[int, ...] = ()

    @classmethod
    def choose(cls, enabled: bool) -> Pinning:
        """Servers on the first usable CPU and the load on the second, when there are two."""
        usable = sorted(os.sched_getaffinity(0))
        if not enabled or len(usable) < 2:
            return cls()
        return cls((usable[0],), (usable[1],))

    @property
    def active(self) -> bool:
        return bool(self.servers)


def on_cpus(argv: Sequence[str], cpus: Sequence[int]) -> list[str]:
    """``argv`` run through ``taskset`` on ``cpus`` (children inherit it); as is when empty."""
    if not cpus:
        return list(argv)
    return ["taskset", "-c", ",".join(str(c) for c in cpus), *argv]


def tree_cpus(root: int) -> set[int]:
    """Every CPU that some process of the tree under ``root`` may run on."""
    out: set[int] = set()
    for pid in tree_pids(root):
        try:
            out |= os.sched_getaffinity(pid)
        except OSError:
            continue
    return out


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A process group started for the benchmark, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    launched_at: float
    base_url: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the whole group, then SIGKILL if it does not go in time."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Children that outlive the group leader (workers) still belong to its group.
        deadline = time.monotonic() + timeout
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def launch(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    base_url: str,
    cwd: Path | None = None,
    cpus: Sequence[int] = (),
) -> Server:
    """Start ``argv`` in its own process group on ``cpus`` (any when empty), output to a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(
        on_cpus(argv, cpus),
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=cwd,
    )
    log.close()
    return Server(name, proc, log_path, started, base_url)


def wait_until(server: Server, check: Callable[[], bool], timeout: float) -> float:
    """Poll ``check`` every 20 ms; seconds from launch to its first success."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if check():
                return time.perf_counter() - server.launched_at
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{server.name} not ready after {timeout:.0f}s:\n{server.log_tail()}")


# --- memory -------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces; ppid follows it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def rss_mb(pid: int) -> float:
    return _status_kib(pid, "VmRSS") * 1024 / 1e6


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages divided among the processes that share them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return 0.0
    return 0.0


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    ppid_depth: int
    rss_mb: float
    pss_mb: float
    command: str

    @property
    def role(self) -> str:
        if "resource_tracker" in self.command:
            return "multiprocessing resource tracker"
        if "spawn_main" in self.command or "multiprocessing-fork" in self.command:
            return "worker (spawned)"
        words = self.command.split()
        return " ".join([Path(words[0]).name, *words[1:4]]) if words else "?"


def tree_memory(root: int) -> list[ProcessMemory]:
    """Memory (MB, 10^6 bytes) of every process in the tree, parents before children."""
    children = _children_map()
    out: list[ProcessMemory] = []
    todo = [(root, 0)]
    while todo:
        pid, depth = todo.pop(0)
        out.append(ProcessMemory(pid, depth, rss_mb(pid), pss_mb(pid), cmdline(pid)))
        todo[0:0] = [(child, depth + 1) for child in sorted(children.get(pid, []))]
    return out


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(
    roots: Sequence[int], threshold: float = 0.05, window: float = 0.5, max_wait: float = 60.0
) -> float:
    """Wait until the trees under ``roots`` use less than ``threshold`` of one core.

    A server may still be working through requests that a finished load run left queued;
    measuring the next cell before it is done would charge that work to another server.
    Returns the seconds waited.
    """
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        pids = [pid for root in roots for pid in tree_pids(root)]
        before = sum(_cpu_ticks(pid) for pid in pids)
        time.sleep(window)
        used = (sum(_cpu_ticks(pid) for pid in pids) - before) / ticks_per_s
        if used / window < threshold:
            break
    return time.monotonic() - started


def tree_rss_mb(root: int) -> float:
    return sum(rss_mb(pid) for pid in tree_pids(root))


class RssSampler:
    """Samples the tree's summed RSS in a thread; ``peak`` is the largest sample."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mb(self.root))
