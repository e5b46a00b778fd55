"""The sample images the "Try it" page offers: a folder of ``<class>/<file>`` images.

``modelyard demo images DIR`` writes such a folder of held-out images; the dashboard reads
it from ``MODELYARD_IMAGE_SAMPLES_DIR`` (default ``<home>/demo/images``). Only JPEG and PNG
files are offered, and a sample is read only by its name relative to the folder, so that a
value sent by the browser cannot name a file outside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
PER_CLASS = 20
"""The most samples listed of each class (the first ones by file name)."""
MAX_SAMPLES = 500
"""The most samples listed in all."""


@dataclass(frozen=True)
class Sample:
    """One sample image: its class (the folder it is in) and its name relative to the root."""

    label: str
    name: str  # "<class>/<file>", with forward slashes

    @property
    def title(self) -> str:
        return f"{self.label} · {self.name.partition('/')[2]}"

    @property
    def mime(self) -> str:
        return SUFFIXES[Path(self.name).suffix.lower()]


def list_samples(root: Path, per_class: int = PER_CLASS, limit: int = MAX_SAMPLES) -> list[Sample]:
    """The images under ``root/<class>/``, by class and then by file name (empty if none);
    at most ``per_class`` of each class, so that every class is offered."""
    if not root.is_dir():
        return []
    found: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p)):
        images = sorted(
            path.name
            for path in folder.iterdir()
            if path.is_file() and not _hidden(path) and path.suffix.lower() in SUFFIXES
        )
        found += [Sample(label=folder.name, name=f"{folder.name}/{n}") for n in images[:per_class]]
        if len(found) >= limit:
            return found[:limit]
    return found


def read_sample(root: Path, name: str) -> tuple[Sample, bytes]:
    """The sample ``name`` (``<class>/<file>``) and its bytes.

    Raises ``LookupError`` for a name that is not a sample image directly in a class folder
    of ``root`` (another folder, a path that leaves it, another kind of file).
    """
    label, sep, file_name = name.partition("/")
    if not sep or not label or not file_name or "/" in file_name or "\\" in name:
        raise LookupError(f"{name!r} is not a <class>/<file> sample name")
    if label in {".", ".."} or file_name in {".", ".."} or _hidden(Path(file_name)):
        raise LookupError(f"{name!r} is not a <class>/<file> sample name")
    if Path(file_name).suffix.lower() not in SUFFIXES:
        raise LookupError(f"{name!r} is not a PNG or JPEG file")
    base = root.resolve()
    path = (base / label / file_name).resolve()
    if path.parent.parent != base or not path.is_file():
        raise LookupError(f"no sample {name!r} in {root}")
    return Sample(label=label, name=name), path.read_bytes()


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")
