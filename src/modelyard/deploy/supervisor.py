"""Child processes for ``modelyard up``: start, prefix their output, wait, stop as a group.

Each child runs in a process group of its own and is told to die with its parent
(``PR_SET_PDEATHSIG``), so stopping ``up`` — by Ctrl-C, SIGTERM, or even SIGKILL —
leaves no orphan behind.
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
from typing import IO

import httpx

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


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

    def _echo(self, name: str, line: str) -> None:
        with self._lock:
            self.out.write(f"{name:<7}| {line}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        stream = child.process.stdout
        assert stream is not None
        for raw in iter(stream.readline, b""):
            self._echo(child.name, raw.decode(errors="replace").rstrip())
        stream.close()

    def start(self, name: str, argv: Sequence[str], health_url: str | None = None) -> Child:
        self._echo(name, f"starting: {' '.join(argv)}")
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
        self, child: Child, timeout: float, ok: Callable[[httpx.Response], bool] | None = None
    ) -> float:
        """Poll the child's health URL until it answers 200; seconds it took."""
        assert child.health_url is not None
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer yet"
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
                    last = type(exc).__name__
                self.stopping.wait(0.3)
        raise StartupError(
            f"{child.name} did not become healthy at {child.health_url} within "
            f"{timeout:.0f}s ({last})"
        )

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if not c.running), None)

    def stop_child(self, child: Child, timeout: float = 15.0) -> None:
        if child.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._echo(child.name, f"did not stop within {timeout:.0f}s; killing it")
        # Whatever is left in the group (e.g. server workers) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
        if child.pump is not None:
            child.pump.join(timeout=2)

    def stop_all(self) -> None:
        self.stopping.set()
        for child in reversed(self.children):
            self.stop_child(child)
            self._echo(child.name, f"stopped (exit code {child.process.returncode})")
        self.children.clear()
