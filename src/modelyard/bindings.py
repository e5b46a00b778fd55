"""Which model, at which reference, a setting names: ``name@ref`` or ``ref``.

``MODELYARD_MODELS`` lists the models the API serves (``iris@champion,digits@champion``);
``MODELYARD_MODEL_REF``, ``MODELYARD_V1_MODEL`` and ``MODELYARD_V2_MODEL`` take either a
reference of the default model (``MODELYARD_MODEL_NAME``) or ``name@ref``. A reference is
anything ``mlflow models serve -m`` takes:

- a version number (``3``) or an alias (``champion``) of the registered model ``name``, also
  written ``models:/name/3`` or ``models:/name@champion`` (the URI names the model itself);
- a run's model, ``runs:/<run_id>/<path>``, or a bare run id (its one logged model);
- a logged model's id, ``m-<id>`` or ``models:/m-<id>``;
- an MLflow model folder on this machine: an absolute path, ``./``, ``../`` or ``~/`` in front
  of a relative one, or a ``file://`` URI.

Versions and aliases are looked up in the registry and followed as they move; the others are
*fixed* (:class:`Source`): they name one model for good and are never swapped. A folder needs
no tracking server at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

# MLflow registered model names may hold most characters; '@' and ',' separate ours.
_NAME = re.compile(r"[^@,\s/][^@,/]*")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_MODELS_URI = re.compile(r"models:/(?P<name>[^@/]+)(?:/(?P<version>\d+)|@(?P<alias>[^@/]+))")
_RUNS_URI = re.compile(r"runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>.*))?")
FOLDER_PREFIXES = ("/", "./", "../", "~/", "file:")
EXAMPLES = "iris@champion, iris@3, models:/iris@champion, runs:/<run_id>/model, ./my_model"

SourceKind = Literal["run", "logged_model", "folder"]


@dataclass(frozen=True, slots=True)
class Source:
    """A fixed reference: one model for good, never swapped (see the module doc).

    ``uri`` is what MLflow downloads: ``runs:/<id>[/<path>]`` (no path: the run's one logged
    model), ``models:/m-<id>``, or the folder's absolute path.
    """

    kind: SourceKind
    uri: str

    @property
    def run_id(self) -> str | None:
        found = _RUNS_URI.fullmatch(self.uri) if self.kind == "run" else None
        return found.group("run") if found else None


def source_of(ref: str) -> Source | None:
    """The fixed source ``ref`` names, or None for a version number or an alias."""
    ref = ref.strip()
    if _RUN_ID.fullmatch(ref):
        return Source("run", f"runs:/{ref}")
    found = _RUNS_URI.fullmatch(ref)
    if found:
        path = (found.group("path") or "").strip("/")
        return Source("run", f"runs:/{found.group('run')}" + (f"/{path}" if path else ""))
    if _LOGGED_MODEL_ID.fullmatch(ref):
        return Source("logged_model", f"models:/{ref}")
    if ref.startswith("models:/") and _LOGGED_MODEL_ID.fullmatch(ref.removeprefix("models:/")):
        return Source("logged_model", ref)
    if ref.startswith(FOLDER_PREFIXES):
        return Source("folder", str(_folder(ref)))
    return None


def _folder(ref: str) -> Path:
    if ref.startswith("file:"):
        parsed = urlparse(ref)
        if parsed.netloc not in {"", "localhost"}:
            raise ValueError(f"{ref!r}: a file URI must name a folder on this machine")
        return Path(unquote(parsed.path)).expanduser().resolve()
    return Path(ref).expanduser().resolve()


@dataclass(frozen=True, slots=True)
class Binding:
    """A model name and a reference of it: a version number, an alias or a fixed source."""

    name: str
    ref: str

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"

    @property
    def source(self) -> Source | None:
        """The fixed source the reference names; None for a version or an alias."""
        return source_of(self.ref)


def parse_binding(text: str, default_name: str) -> Binding:
    """``[name@]ref`` (see the module doc); ValueError saying what is wrong."""
    text = text.strip()
    name, ref, named = default_name, text, False
    if not text.startswith(("models:/", "runs:/", *FOLDER_PREFIXES)):
        head, at, tail = text.partition("@")
        if at:
            name, ref, named = head.strip(), tail.strip(), True
    if not _NAME.fullmatch(name):
        raise ValueError(f"{text!r} does not name a model: use name@ref, e.g. iris@champion")
    if ref.startswith("models:/") and not ref.startswith("models:/m-"):
        found = _MODELS_URI.fullmatch(ref)
        if found is None:
            raise ValueError(
                f"{text!r}: a models:/ URI is models:/NAME/VERSION, models:/NAME@ALIAS or "
                "models:/m-ID"
            )
        uri_name = found.group("name")
        if named and name != uri_name:
            raise ValueError(f"{text!r} names two models: {name!r} and {uri_name!r}")
        name, ref = uri_name, found.group("version") or found.group("alias")
        if not _REF.fullmatch(ref):
            raise ValueError(f"{text!r} has no valid alias")
        return Binding(name, ref)
    try:
        source = source_of(ref)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if source is not None:
        return Binding(name, source.uri)
    if ref.startswith(("runs:/", "models:/")):
        raise ValueError(
            f"{text!r} is not a model URI: use runs:/RUN_ID/PATH (a 32-digit hex run id), "
            "models:/NAME/VERSION, models:/NAME@ALIAS or models:/m-ID"
        )
    if not _REF.fullmatch(ref):
        raise ValueError(f"{text!r} has no valid reference: use one of {EXAMPLES}")
    return Binding(name, ref)


def parse_bindings(text: str, default_name: str) -> tuple[Binding, ...]:
    """A comma separated list of bindings, in order, without repeats."""
    out: list[Binding] = []
    for part in text.split(","):
        if part.strip():
            binding = parse_binding(part, default_name)
            if binding not in out:
                out.append(binding)
    return tuple(out)
