"""Which registered model a training run goes to.

One data set, one registered model: a CSV must not become a new version of the iris demo
(or of any model trained on other data) just because the name was left at its default.
The rule, first match wins:

1. the ``tracking.model_name`` parameter (``modelyard train --model-name NAME``);
2. ``MODELYARD_MODEL_NAME`` when it was set explicitly (environment or ``.env``);
3. for a CSV, the file's name without its extension, sanitised
   (``data/Wine Quality.csv`` → ``wine-quality``);
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
    stem = Path(str(path)).stem.lower()
    name = _UNSAFE.sub("-", stem).strip("-._")[:MAX_NAME_LENGTH].strip("-._")
    if not name:
        raise ConfigError(
            f"cannot derive a model name from the file name {Path(str(path)).name!r}; "
            "choose one with --model-name NAME"
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
    return ModelName(configured, "the default")
