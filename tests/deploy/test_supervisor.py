from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest

from modelyard.deploy.supervisor import StartupError, Supervisor

PY = sys.executable


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that are still running (zombies awaiting a reaper excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


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
