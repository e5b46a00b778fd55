from __future__ import annotations

import io
import os
import signal
import sys
import time

import pytest

from modelyard.deploy.supervisor import StartupError, Supervisor, process_table

PY = sys.executable


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that are still running (zombies awaiting a reaper excluded)."""
    return [p.pid for p in process_table() if p.live and p.pgid == pgid]


def test_output_is_prefixed_and_one_shot_exit_codes_returned() -> None:
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), out=out)
    assert sup.run_once("job", [PY, "-c", "print('hello'); raise SystemExit(3)"]) == 3
    assert "job    | hello" in out.getvalue()


def test_stop_all_kills_the_whole_group() -> None:
    sup = Supervisor(dict(os.environ), out=io.StringIO())
    # a child that starts a grandchild which ignores nothing and sleeps
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('up', flush=True); time.sleep(60)"
    )
    child = sup.start("svc", [PY, "-c", code])
    time.sleep(1.0)
    pgid = child.process.pid
    sup.stop_all()
    assert child.process.returncode is not None
    time.sleep(0.5)
    assert not _live_members(pgid)


def test_wait_healthy_fails_when_the_child_exits() -> None:
    sup = Supervisor(dict(os.environ), out=io.StringIO())
    child = sup.start("bad", [PY, "-c", "raise SystemExit(2)"], health_url="http://127.0.0.1:9/")
    with pytest.raises(StartupError, match="exited with code 2"):
        sup.wait_healthy(child, timeout=10)
    sup.stop_all()


def test_children_that_stop_on_sigterm_are_stopped_without_a_kill() -> None:
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), out=out)
    # a server-like child: stops cleanly on SIGTERM after a short drain, with a worker
    # process in its group that exits on SIGTERM too
    code = (
        "import signal, subprocess, sys, time\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "def stop(*_):\n"
        "    time.sleep(0.3); worker.wait(); print('drained', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    children = [sup.start(name, [PY, "-c", code]) for name in ("one", "two")]
    deadline = time.monotonic() + 30
    while out.getvalue().count("| up") < 2:
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)
    sup.stop_all(timeout=20)
    text = out.getvalue()
    assert "killing" not in text, text
    assert text.count("| drained") == 2
    assert "one    | stopped\n" in text and "two    | stopped\n" in text
    assert all(not _live_members(c.process.pid) for c in children)


def test_a_child_that_ignores_sigterm_is_killed_and_says_so() -> None:
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), out=out)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    child = sup.start("stuck", [PY, "-c", code])
    deadline = time.monotonic() + 30
    while "| up" not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)
    sup.stop_all(timeout=1)
    assert "stuck  | did not stop within 1s; killing it" in out.getvalue()
    assert f"stuck  | stopped (exit code -{int(signal.SIGKILL)})" in out.getvalue()
    assert not _live_members(child.process.pid)


def test_a_slow_start_says_what_it_waits_for() -> None:
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), out=out)
    child = sup.start("slow", [PY, "-c", "import time; time.sleep(60)"], health_url=_closed_url())
    with pytest.raises(StartupError, match="did not become healthy"):
        sup.wait_healthy(child, timeout=1.5, waiting_for="slow to open its port")
    sup.stop_all()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("up     |")]
    assert lines[0] == "up     | waiting for slow to open its port (up to 2s)"


def _closed_url() -> str:
    from support import free_port

    return f"http://127.0.0.1:{free_port()}/health"
