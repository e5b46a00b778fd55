"""Which registered model a training run goes to.

One data set, one registered model: a CSV must not become a new version of the iris demo
(or of any model trained on other data) just because the name was left at its default.
The rule, first match wins:

1. the ``tracking.model_name`` parameter (``modelyard train --model-name NAME``);
2. ``MODELYARD_MODEL_NAME`` when it was set explicitly (environment or ``.env``);
3. for a CSV, the file's name without its extension, sanitised
   (``data/Wine Quality.csv`` → ``wine-quality``); for an image folder, the folder's name
   (``photos/Flowers/`` → ``flowers``);
4. the setting's default (``iris``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.errors import ConfigError

_UNSAFE = re.compile(r"[^a-z0-9_.-]+")
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class ModelName:
    """The chosen name and where it came from, in words."""

    name: str
    source: str


def name_from_file(path: str | Path) -> str:
    """A registered model name from a data file: the lower-cased stem, other characters → ``-``."""
    return _sanitised(Path(str(path)).stem, f"the file name {Path(str(path)).name!r}")


def name_from_folder(path: str | Path) -> str:
    """A registered model name from an image folder: its lower-cased name, sanitised."""
    folder = Path(str(path)).expanduser().resolve()
    return _sanitised(folder.name, f"the folder name {folder.name!r}")


def _sanitised(text: str, what: str) -> str:
    name = _UNSAFE.sub("-", text.lower()).strip("-._")[:MAX_NAME_LENGTH].strip("-._")
    if not name:
        raise ConfigError(
            f"cannot derive a model name from {what}; choose one with --model-name NAME"
        )
    return name


def check_name(name: str, what: str) -> str:
    """Refuse names MLflow's registry would reject, with the option that set them."""
    name = name.strip()
    if not name or "/" in name or ":" in name:
        raise ConfigError(f"{what}: {name!r} is not a model name (no '/' or ':', not empty)")
    return name


def choose_model_name(
    *,
    requested: str | None,
    configured: str,
    configured_explicitly: bool,
    data: Mapping[str, Any],
) -> ModelName:
    """Apply the rule in this module's docstring."""
    if requested:
        name = check_name(str(requested), "tracking.model_name")
        return ModelName(name, "set by --model-name / tracking.model_name")
    if configured_explicitly:
        return ModelName(check_name(configured, "MODELYARD_MODEL_NAME"), "MODELYARD_MODEL_NAME")
    if data.get("source") == "csv" and data.get("path"):
        file_name = Path(str(data["path"])).name
        return ModelName(name_from_file(file_name), f"named after {file_name}")
    if data.get("source") == "images" and data.get("path"):
        name = name_from_folder(str(data["path"]))
        return ModelName(name, f"named after the folder {Path(str(data['path'])).name or name}")
    return ModelName(configured, "the default")
