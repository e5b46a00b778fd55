"""`modelyard db upgrade` says where the database is once, not once per logger."""

from __future__ import annotations

import subprocess
from pathlib import Path

from modelyard.db.migrate import head_revision
from support import modelyard_argv, service_env


def test_db_upgrade_prints_its_result_once(tmp_path: Path) -> None:
    env = service_env(MODELYARD_HOME=tmp_path / "home")
    done = subprocess.run(
        modelyard_argv("db", "upgrade"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].endswith(f"modelyard.db is at revision {head_revision()}"), lines
