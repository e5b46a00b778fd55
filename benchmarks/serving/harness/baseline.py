"""The "before" side of a before-and-after run: another revision's ``src/``, served beside HEAD."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.servers import imported_from

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Baseline:
    """A revision of this repository exported into a folder, ready for PYTHONPATH."""

    rev: str  # as the user gave it
    sha: str  # the commit it names
    subject: str  # the commit's first line
    src: Path  # the exported src/ folder
    module: Path  # where `import modelyard` resolves with ``src`` on PYTHONPATH

    @property
    def short(self) -> str:
        return self.sha[:7]


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def export(rev: str, folder: Path) -> Baseline:
    """Export ``rev``'s ``src/`` into ``folder`` and check that the server would import it.

    Raises RuntimeError if ``rev`` is no commit, or if `import modelyard` with the exported
    folder on PYTHONPATH still finds another copy (then the "before" numbers would be HEAD's).
    """
    try:
        sha = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except RuntimeError:
        raise RuntimeError(f"--baseline {rev}: no such commit in {REPO}") from None
    subject = _git("log", "-1", "--format=%s", sha)
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(
        ["git", "-C", str(REPO), "archive", sha, "src"], stdout=subprocess.PIPE
    )
    untar = subprocess.run(["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=False)
    if archive.stdout is not None:
        archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(f"could not export src/ of {rev} ({sha}) into {folder}")
    src = (folder / "src").resolve()
    module = imported_from(src)
    if not module.is_relative_to(src / "modelyard"):
        raise RuntimeError(
            f"with PYTHONPATH={src}, `import modelyard` resolves to {module}, not to the"
            f" exported {rev}: the baseline server would run other code"
        )
    return Baseline(rev, sha, subject, src, module)
