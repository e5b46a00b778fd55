"""Model input kinds behind one interface (:class:`~modelyard.inputs.kind.InputKind`).

Each kind is one module with one validator, used by every protocol and by the streaming
worker; :data:`KINDS` maps the name ``meta.json`` gives to the kind's constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from modelyard.inputs.image import IMAGE, Images, ImageSpec
from modelyard.inputs.kind import InputKind, kind_name
from modelyard.inputs.tabular import TABULAR, FeatureSchema

KINDS: dict[str, Callable[[Mapping[str, Any]], InputKind[Any]]] = {
    TABULAR: FeatureSchema.from_meta,
    IMAGE: ImageSpec.from_meta,
}


def kind_from_meta(meta: Mapping[str, Any]) -> InputKind[Any]:
    """The input kind a model's ``meta.json`` describes; ValueError for an unknown kind."""
    name = kind_name(meta)
    build = KINDS.get(name)
    if build is None:
        raise ValueError(f"input kind {name!r} is not supported; known kinds: {sorted(KINDS)}")
    return build(meta)


__all__ = ["KINDS", "FeatureSchema", "ImageSpec", "Images", "InputKind", "kind_from_meta"]
