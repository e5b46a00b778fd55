"""Child processes for ``modelyard up``: start, prefix their output, wait, stop as a group.

Each child runs in a process group of its own and is told to die with its parent
(``PR_SET_PDEATHSIG``), so stopping ``up`` — by Ctrl-C, SIGTERM, or even SIGKILL —
leaves no orphan behind. Stopping asks every group to stop (SIGTERM) at once and waits
for them all within one grace period; only a group still running after it is killed,
and the output says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 15.0
PROGRESS_SECONDS = 10.0
_CLEAN_EXITS = frozenset({0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM})


def _child_setup() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class StartupError(RuntimeError):
    """A service exited or did not become healthy in time."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    health_url: str | None = None
    pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Owns every process ``up`` starts and stops them all, last started first."""

    def __init__(self, env: Mapping[str, str], out: IO[str] | None = None) -> None:
        self.env = dict(env)
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def echo(self, name: str, line: str) -> None:
        """Write one line prefixed with ``name`` (thread-safe; not from a signal handler)."""
        with self._lock:
            self.out.write(f"{name:<7}| {line}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        stream = child.process.stdout
        assert stream is not None
        for raw in iter(stream.readline, b""):
            self.echo(child.name, raw.decode(errors="replace").rstrip())
        stream.close()

    def start(self, name: str, argv: Sequence[str], health_url: str | None = None) -> Child:
        self.echo(name, f"starting: {' '.join(argv)}")
        process = subprocess.Popen(
            list(argv),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only setsid and prctl, no Python state
        )
        child = Child(name, process, health_url)
        child.pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.pump.start()
        self.children.append(child)
        return child

    def run_once(self, name: str, argv: Sequence[str]) -> int:
        """Run a one-shot step to completion (training, migrations); its exit code."""
        child = self.start(name, argv)
        while child.process.poll() is None:
            if self.stopping.wait(0.2):
                self.stop_child(child)
        if child.pump is not None:
            child.pump.join(timeout=5)
        self.children.remove(child)
        return child.process.returncode

    def wait_healthy(
        self,
        child: Child,
        timeout: float,
        ok: Callable[[httpx.Response], bool] | None = None,
        waiting_for: str = "",
    ) -> float:
        """Poll the child's health URL until it answers 200; seconds it took.

        Unless the first answer is healthy, says what it waits for, and again every
        ``PROGRESS_SECONDS``, so that a slow start is never a silent one.
        """
        assert child.health_url is not None
        started = time.monotonic()
        deadline = started + timeout
        next_progress = started
        last = "no answer yet"
        what = waiting_for or f"{child.name} to answer at {child.health_url}"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.stopping.is_set():
                    raise StartupError("stopping")
                if not child.running:
                    raise StartupError(
                        f"{child.name} exited with code {child.process.returncode} while starting"
                    )
                try:
                    response = client.get(child.health_url)
                    if response.status_code == 200 and (ok is None or ok(response)):
                        return time.monotonic() - started
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = _describe(exc)
                now = time.monotonic()
                if now >= next_progress:
                    if next_progress == started:
                        self.echo("up", f"waiting for {what} (up to {timeout:.0f}s)")
                    else:
                        waited = f"{now - started:.0f}s"
                        self.echo("up", f"still waiting for {child.name}: {waited} ({last})")
                    next_progress = now + PROGRESS_SECONDS
                self.stopping.wait(0.3)
        raise StartupError(
            f"{child.name} did not become healthy at {child.health_url} within "
            f"{timeout:.0f}s ({last})"
        )

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if not c.running), None)

    def stop_child(self, child: Child, timeout: float = STOP_GRACE_SECONDS) -> None:
        self._stop([child], timeout)

    def stop_all(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """Ask every child to stop at once; kill only what is still running after ``timeout``."""
        self.stopping.set()
        children = list(reversed(self.children))
        self._stop(children, timeout)
        for child in children:
            code = child.process.returncode
            clean = code in _CLEAN_EXITS
            self.echo(child.name, "stopped" if clean else f"stopped (exit code {code})")
        self.children.clear()

    def _stop(self, children: Sequence[Child], timeout: float) -> None:
        for child in children:
            if child.running:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in children:
            # the group, not only its leader: a server's workers may outlive the leader
            if not _wait_group(child, deadline):
                self.echo(child.name, f"did not stop within {timeout:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=5)
            if child.pump is not None:
                child.pump.join(timeout=2)


def _wait_group(child: Child, deadline: float) -> bool:
    """Wait until the child has exited and no process is left running in its group."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    while _group_running(child.process.pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return child.process.poll() is not None


@dataclass(frozen=True)
class ProcessEntry:
    """One process as ``/proc/<pid>/stat`` describes it."""

    pid: int
    state: str  # "Z": exited, waiting for its parent to reap it
    ppid: int
    pgid: int

    @property
    def live(self) -> bool:
        return self.state != "Z"


def process_table() -> list[ProcessEntry]:
    """Every process of this machine (Linux ``/proc``); those that vanish meanwhile are left out."""
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields after the last ")"
        fields = stat[stat.rindex(")") + 2 :].split()
        table.append(ProcessEntry(int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return table


def _group_running(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting for a reaper do not)."""
    return any(p.live and p.pgid == pgid for p in process_table())


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer within 2s"
    return type(exc).__name__
