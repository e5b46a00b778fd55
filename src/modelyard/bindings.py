"""Which registered model, at which reference, a setting names: ``name@ref`` or ``ref``.

``MODELYARD_MODELS`` lists the models the API serves (``iris@champion,digits@champion``);
``MODELYARD_MODEL_REF``, ``MODELYARD_V1_MODEL`` and ``MODELYARD_V2_MODEL`` take either a
reference of the default model (``MODELYARD_MODEL_NAME``) or ``name@ref``. A reference is a
version number or an alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# MLflow registered model names may hold most characters; '@' and ',' separate ours.
_NAME = re.compile(r"[^@,\s/][^@,/]*")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered model and a reference (version number or alias) of it."""

    name: str
    ref: str

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}"


def parse_binding(text: str, default_name: str) -> Binding:
    """``name@ref`` or ``ref`` (of ``default_name``); ValueError saying what is wrong."""
    name, at, ref = text.strip().rpartition("@")
    name = name.strip() if at else default_name
    ref = ref.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(f"{text!r} does not name a model: use name@ref, e.g. iris@champion")
    if not _REF.fullmatch(ref):
        raise ValueError(
            f"{text!r} has no valid reference: use a version number or an alias, "
            "e.g. iris@champion or iris@3"
        )
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
