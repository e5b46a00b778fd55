"""Loading an image folder: ``<root>/<class_name>/*.{jpg,jpeg,png}``, one class per folder.

Every file is decoded and preprocessed by :meth:`ImagePreprocessing.from_bytes`, the
function serving calls on every image it scores. A file that cannot be read or decoded
(corrupt, truncated, over the pixel limit, an unsupported mode) is skipped, counted and
listed with its reason; it never stops the run. What is refused, before anything is fitted:
a folder that is not one, fewer than two classes, and a class with fewer usable images than
``min_per_class``.

Images are ordered by class, then by the hash of their bytes, so that the split depends on
the folder's content only (renaming a file changes nothing), as the held-out fingerprint
does (:mod:`modelyard.training.images.identity`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.errors import ConfigError, ModelyardError
from modelyard.inputs.image import ImagePreprocessing, InvalidImageError
from modelyard.training.images.progress import progress_bar

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = ("jpg", "jpeg", "png")
DEFAULT_MIN_PER_CLASS = 5


class ImageFolderError(ModelyardError):
    """The image folder cannot be trained on; the message says why and what to fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"training images: {reason}")


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of training, and why."""

    path: str  # relative to the folder: <class>/<file>
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class ImageSet:
    """Preprocessed images with their labels, files and content hashes (one row each)."""

    root: str
    classes: tuple[str, ...]  # sorted class names: the model's output order
    x: np.ndarray  # (n, *tensor_shape) float32
    y: np.ndarray  # (n,) int64 indices into classes
    files: tuple[str, ...]  # relative paths, <class>/<file>
    digests: tuple[str, ...]  # sha256 of each file's bytes
    preprocessing: ImagePreprocessing
    skipped: tuple[SkippedFile, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> list[str]:
        return [self.classes[i] for i in self.y]

    def counts(self) -> dict[str, int]:
        found = np.bincount(self.y, minlength=len(self.classes))
        return {name: int(found[i]) for i, name in enumerate(self.classes)}

    def subset(self, index: Sequence[int] | np.ndarray) -> ImageSet:
        rows = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            x=self.x[rows],
            y=self.y[rows],
            files=tuple(self.files[i] for i in rows),
            digests=tuple(self.digests[i] for i in rows),
        )

    def path(self, relative: str) -> Path:
        return Path(self.root) / relative


def extensions_from(value: Any) -> tuple[str, ...]:
    """``images.extensions`` as lower-case suffixes without the dot."""
    if value is None:
        return DEFAULT_EXTENSIONS
    items = [value] if isinstance(value, str) else list(value)
    found = tuple(str(v).lower().lstrip(".") for v in items if str(v).strip(". "))
    if not found:
        raise ConfigError("images.extensions: name at least one file extension (jpg, png, ...)")
    return found


def min_per_class_from(value: Any) -> int:
    try:
        count = int(DEFAULT_MIN_PER_CLASS if value is None else value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"images.min_per_class: expected a whole number, got {value!r}") from exc
    if count < 2:
        raise ConfigError(
            "images.min_per_class: at least 2 (one image to train on, one to hold out)"
        )
    return count


def scan(root: Path, extensions: Iterable[str]) -> dict[str, list[Path]]:
    """The image files of each class folder, sorted; hidden files and folders are left out."""
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise ImageFolderError(
            f"{root} {what}; point --images at a folder with one sub-folder per class"
        )
    wanted = {f".{e}" for e in extensions}
    found: dict[str, list[Path]] = {}
    ignored = 0
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        files = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            if path.suffix.lower() in wanted:
                files.append(path)
            else:
                ignored += 1
        found[folder.name] = files
    if ignored:
        log.info(
            "ignored %d files in %s without an image extension (%s)",
            ignored,
            root,
            ", ".join(sorted(wanted)),
        )
    return found


def check_classes(counts: Mapping[str, int], min_per_class: int, root: Path) -> None:
    """Refuse fewer than two classes, or a class with fewer than ``min_per_class`` images."""
    if len(counts) < 2:
        named = f" (found only {', '.join(map(repr, counts))})" if counts else ""
        raise ImageFolderError(
            f"{root} needs at least two class folders with images in them{named}: "
            "lay it out as <folder>/<class_name>/<image>.png"
        )
    few = {name: n for name, n in counts.items() if n < min_per_class}
    if few:
        listed = ", ".join(f"{name!r} has {n}" for name, n in sorted(few.items()))
        raise ImageFolderError(
            f"every class needs at least {min_per_class} usable images (images.min_per_class): "
            f"{listed}; add images or remove those folders"
        )


def load_folder(
    root: Path,
    preprocessing: ImagePreprocessing,
    *,
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
) -> ImageSet:
    """Decode and preprocess every image under ``root`` (see the module doc)."""
    root = root.expanduser().resolve()
    by_class = scan(root, extensions)
    total = sum(len(files) for files in by_class.values())
    # refuse what no decoding can mend before decoding anything
    check_classes({name: len(files) for name, files in by_class.items()}, min_per_class, root)
    classes = tuple(by_class)
    started = time.perf_counter()
    rows: list[tuple[int, str, str, np.ndarray]] = []
    skipped: list[SkippedFile] = []
    with progress_bar(f"loading {total} images", total) as bar:
        for index, name in enumerate(classes):
            for path in by_class[name]:
                relative = f"{name}/{path.name}"
                bar.advance()
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    skipped.append(SkippedFile(relative, f"cannot read the file: {exc.strerror}"))
                    continue
                try:
                    tensor = preprocessing.from_bytes(data, field=relative)
                except InvalidImageError as exc:
                    skipped.append(SkippedFile(relative, exc.reason))
                    continue
                rows.append((index, hashlib.sha256(data).hexdigest(), relative, tensor))
    for item in skipped:
        log.warning("skipped %s: %s", item.path, item.reason)
    rows.sort(key=lambda row: row[:3])
    y = np.asarray([row[0] for row in rows], dtype=np.int64)
    counts = {name: int((y == i).sum()) for i, name in enumerate(classes)}
    check_classes(counts, min_per_class, root)
    x = np.stack([row[3] for row in rows]).astype(np.float32, copy=False)
    log.info(
        "loaded %d images of %d classes from %s in %.1fs (%s); %d skipped",
        len(rows),
        len(classes),
        root,
        time.perf_counter() - started,
        _shape(preprocessing),
        len(skipped),
    )
    return ImageSet(
        root=str(root),
        classes=classes,
        x=x,
        y=y,
        files=tuple(row[2] for row in rows),
        digests=tuple(row[1] for row in rows),
        preprocessing=preprocessing,
        skipped=tuple(skipped),
    )


def _shape(p: ImagePreprocessing) -> str:
    return f"{p.width}x{p.height} {p.mode}, {p.layout} tensors of {p.tensor_shape}"
