"""Fixed references resolved: a run's model, a logged model, a model folder on this machine.

A registered version or alias is resolved by :class:`~modelyard.registry.Registry`; a fixed
reference (:class:`~modelyard.bindings.Source`) by :class:`FixedSource`, which answers the
same :class:`~modelyard.registry.VersionInfo` without asking the registry, always the same
one, so that a slot never swaps it. Its ``version`` is a label that tells sources apart
(``run-<id>``, the logged model's ``m-<id>``, a folder's ``sha-<content hash>``) and its
``uri`` what it names. A folder is read here only: it needs no tracking server at all.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelyard.bindings import Source, source_of
from modelyard.errors import ModelLoadError
from modelyard.inference.fetch import place
from modelyard.registry import VersionInfo

if TYPE_CHECKING:
    from modelyard.config import MlflowCredentials

FOLDER_DIGEST_CHARS = 12
# A version label is stored with every prediction (model_version, 50 characters).
MAX_LABEL_CHARS = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Resolver(Protocol):
    """What a model slot asks where a reference points: a registry or a fixed source."""

    name: str
    tracking_uri: str
    credentials: MlflowCredentials | None

    def resolve(self, ref: str) -> VersionInfo: ...


class FixedSource:
    """The one model a fixed reference names, as the version a slot serves."""

    def __init__(
        self,
        name: str,
        source: Source,
        tracking_uri: str,
        credentials: MlflowCredentials | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.tracking_uri = tracking_uri
        self.credentials = credentials
        self._info: VersionInfo | None = None

    def resolve(self, ref: str = "") -> VersionInfo:
        """The same VersionInfo every time (a folder is read on the first call)."""
        if self._info is None:
            self._info = VersionInfo(
                name=self.name,
                version=label(self.source),
                run_id=self.source.run_id,
                aliases=(),
                created_at=0.0,
                source=self.source.uri,
                uri=self.source.uri,
            )
        return self._info


def label(source: Source) -> str:
    """The version label of a fixed source: unique per source, safe in a URL path segment."""
    if source.kind == "folder":
        return f"sha-{folder_digest(Path(source.uri))[:FOLDER_DIGEST_CHARS]}"
    if source.kind == "logged_model":
        return source.uri.removeprefix("models:/")
    run_id = source.run_id or ""
    path = source.uri.removeprefix(f"runs:/{run_id}").strip("/")
    if not path:
        return f"run-{run_id}"
    named = f"run-{run_id}-{_UNSAFE.sub('-', path)}"
    if len(named) <= MAX_LABEL_CHARS:
        return named
    return f"run-{run_id}-{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def folder_digest(folder: Path) -> str:
    """SHA-256 of an MLflow model folder's files (names and contents), or why it is none."""
    if not (folder / "MLmodel").is_file():
        reason = "does not exist" if not folder.exists() else "has no MLmodel file"
        raise ModelLoadError(f"the model folder {folder} {reason}")
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def cache_folder(cache_dir: Path, info: VersionInfo) -> Path:
    """Where a version is kept in the local model cache: ``<name>/<version>`` for registered
    versions, ``_sources/<label>`` for fixed ones (a folder's label changes with its files)."""
    source = source_of(info.uri) if info.uri else None
    if source is None:
        return cache_dir / info.name / info.version
    return cache_dir / "_sources" / info.version


def copy_folder(folder: Path, target: Path) -> None:
    """Copy a model folder into the cache at ``target`` (atomically, as downloads are)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        shutil.copytree(folder, partial / "model")
        place(partial / "model", target, str(folder))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
