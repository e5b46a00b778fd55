"""What every input kind provides: its name, its ``meta.json`` entries, and one validator.

A model's ``meta.json`` names its input kind (``"input_kind"``; ``tabular`` when absent) and
holds the entries the kind is rebuilt from (:func:`modelyard.inputs.kind_from_meta`). The
protocols decode their request layouts into the kind's input type and call
:meth:`InputKind.validate`, which returns the array the model scores or raises a
:class:`~modelyard.errors.FeatureError` naming the field and row. The streaming worker calls
the same validator on stored rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import numpy as np

InputT_contra = TypeVar("InputT_contra", contravariant=True)


class InputKind(Protocol[InputT_contra]):
    """One kind of model input (``tabular`` now; ``image``: bytes in, a decoded tensor out)."""

    @property
    def kind(self) -> str:
        """The kind's name, as ``meta.json`` says it."""
        ...

    @property
    def blocking(self) -> bool:
        """Whether validating takes long enough (decoding images) to run off the event loop."""
        ...

    def meta(self) -> dict[str, Any]:
        """The ``meta.json`` entries this kind is rebuilt from (its name included)."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON Schema of one input, for service info and documentation."""
        ...

    def validate(self, inputs: InputT_contra, limit: int) -> np.ndarray:
        """The array the model scores; a FeatureError naming field and row if ``inputs``
        break a rule, an EmptyBatchError or BatchTooLargeError for 0 or over ``limit`` rows."""
        ...


def kind_name(meta: Mapping[str, Any]) -> str:
    """The input kind a ``meta.json`` document names (documents before kinds: tabular)."""
    return str(meta.get("input_kind") or "tabular")
