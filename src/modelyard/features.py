"""The feature schema and the one preprocessing step shared by training, serving and scoring.

A :class:`FeatureSchema` is compiled once (from the training frame, or from a logged model's
signature) and then turns rows — dicts from JSON, or a DataFrame — into the float matrix the
model takes, rejecting missing, extra, wrong-typed and non-finite values with a
:class:`~modelyard.errors.FeatureError` that names the field.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.errors import EmptyBatchError, FeatureError

if TYPE_CHECKING:
    import pandas as pd

_NUMERIC_SPEC_TYPES = {"double", "float", "long", "integer"}
# JSON numbers arrive as exactly these types; anything else (bool, str, None, a subclass)
# takes the row-by-row path, which names the offending field.
_PLAIN_NUMBERS = frozenset({float, int})


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered numeric feature names; the model sees them as float64 columns in this order."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("a feature schema needs at least one feature")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate feature names in {self.names}")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})
        getter = itemgetter(*self.names)
        pick: Callable[[Any], tuple[Any, ...]] = (
            (lambda row: (getter(row),)) if len(self.names) == 1 else getter
        )
        object.__setattr__(self, "_pick", pick)

    @property
    def index(self) -> dict[str, int]:
        return self._index  # type: ignore[attr-defined,no-any-return]

    @classmethod
    def from_signature(cls, signature: Any) -> FeatureSchema:
        """Compile from an MLflow model signature whose inputs are named numeric columns."""
        inputs = getattr(signature, "inputs", None)
        if inputs is None:
            raise ValueError("the model was logged without an input signature")
        names: list[str] = []
        for spec in inputs.inputs:
            kind = str(getattr(spec, "type", "")).lower().split(".")[-1]
            name = getattr(spec, "name", None)
            if not name:
                raise ValueError("the model's input signature has unnamed columns")
            if kind not in _NUMERIC_SPEC_TYPES:
                raise ValueError(f"feature {name!r} has type {kind!r}; only numbers are supported")
            names.append(str(name))
        return cls(tuple(names))

    def as_json(self) -> dict[str, Any]:
        """JSON description used in service info and OpenAPI examples."""
        return {
            "type": "object",
            "required": list(self.names),
            "properties": {n: {"type": "number"} for n in self.names},
            "additionalProperties": False,
        }

    # --- rows → matrix ---------------------------------------------------------------------
    def row_to_vector(self, row: Any, row_index: int | None = None) -> np.ndarray:
        """One JSON object → a float64 vector, or FeatureError naming the bad field."""
        out = np.empty(len(self.names), dtype=np.float64)
        self._fill(out, row, row_index)
        return out

    def rows_to_matrix(self, rows: Sequence[Any]) -> np.ndarray:
        """A batch of JSON objects → an (n, features) float64 matrix."""
        if len(rows) == 0:
            raise EmptyBatchError("the batch is empty; send at least one record", field="records")
        fast = self._fast_matrix(rows)
        if fast is not None:
            return fast
        out = np.empty((len(rows), len(self.names)), dtype=np.float64)
        for i, row in enumerate(rows):
            self._fill(out[i], row, i)
        return out

    def partition(
        self, rows: Sequence[Any]
    ) -> tuple[np.ndarray, list[int], list[tuple[int, FeatureError]]]:
        """Split a batch into its valid rows and its invalid ones.

        Returns the matrix of the valid rows (in order), their positions in ``rows``, and
        ``(position, error)`` for every invalid row, with the errors ``row_to_vector`` gives.
        """
        fast = self._fast_matrix(rows) if rows else None
        if fast is not None:
            return fast, list(range(len(rows))), []
        out = np.empty((len(rows), len(self.names)), dtype=np.float64)
        valid: list[int] = []
        invalid: list[tuple[int, FeatureError]] = []
        for i, row in enumerate(rows):
            try:
                self._fill(out[len(valid)], row, None)
            except FeatureError as exc:
                invalid.append((i, exc))
            else:
                valid.append(i)
        return out[: len(valid)], valid, invalid

    def _fast_matrix(self, rows: Sequence[Any]) -> np.ndarray | None:
        """The whole batch at once when every row is plainly valid, else None.

        None sends the caller to the row-by-row path, which finds and names the first
        problem; this path only has to be right about batches with none.
        """
        width = len(self.names)
        if not all(type(row) is dict and len(row) == width for row in rows):
            return None
        pick: Callable[[Any], tuple[Any, ...]] = self._pick  # type: ignore[attr-defined]
        try:
            values = list(itertools.chain.from_iterable(map(pick, rows)))
        except KeyError:
            return None
        return plain_matrix(values, len(rows), width)

    def _fill(self, out: np.ndarray, row: Any, row_index: int | None) -> None:
        if not isinstance(row, Mapping):
            raise FeatureError(
                f"expected an object with the features {list(self.names)}, "
                f"got {type(row).__name__}",
                row=row_index,
            )
        if len(row) != len(self.names) or any(k not in self.index for k in row):
            self._raise_key_error(row, row_index)
        for name, value in row.items():
            out[self.index[name]] = to_number(value, name, row_index)

    def _raise_key_error(self, row: Mapping[str, Any], row_index: int | None) -> None:
        for name in self.names:
            if name not in row:
                raise FeatureError("required feature is missing", field=name, row=row_index)
        for key in row:
            if key not in self.index:
                raise FeatureError(
                    f"unknown feature; expected only {list(self.names)}",
                    field=str(key),
                    row=row_index,
                )

    def frame_to_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """A DataFrame with (at least) the feature columns → the model's float64 matrix."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise FeatureError("required feature is missing", field=missing[0])
        matrix = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            column = frame[name]
            if column.dtype.kind not in "fiu":
                try:
                    column = column.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise FeatureError("expected a number", field=name) from exc
            matrix[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(matrix)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise FeatureError("expected a finite number", field=self.names[col], row=row)
        return matrix

    def validate_rows(self, rows: Iterable[Any]) -> list[FeatureError | None]:
        """Check each row on its own: None where it is valid, the error where it is not."""
        out: list[FeatureError | None] = []
        buf = np.empty(len(self.names), dtype=np.float64)
        for i, row in enumerate(rows):
            try:
                self._fill(buf, row, i)
            except FeatureError as exc:
                out.append(exc)
            else:
                out.append(None)
        return out


def plain_matrix(values: list[Any], rows: int, width: int) -> np.ndarray | None:
    """Row-major ``values`` as a (rows, width) float64 matrix, if all are plain finite numbers.

    None when any value is not a JSON number as parsed (bool, str, None, ...), is not
    finite or overflows float64: the caller's value-by-value path then names the problem.
    """
    if not set(map(type, values)) <= _PLAIN_NUMBERS:
        return None
    try:
        matrix = np.fromiter(values, dtype=np.float64, count=len(values))
    except OverflowError:
        return None
    return matrix.reshape(rows, width) if np.isfinite(matrix).all() else None


def to_number(value: Any, name: str, row: int | None) -> float:
    """One input value as a finite float, or a FeatureError naming ``name`` and ``row``.

    The one rule for a feature value in every layout: a JSON number (not a boolean), finite
    and within float64's range; None (a JSON null, an empty CSV cell) is a missing value.
    """
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise FeatureError("expected a finite number", field=name, row=row)
    if value is None:
        raise FeatureError("the value is missing; send a number", field=name, row=row)
    # bool is an int subclass: a JSON true is not a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeatureError(f"expected a number, got {type(value).__name__}", field=name, row=row)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float64's range
        number = math.inf
    if not math.isfinite(number):
        raise FeatureError("expected a finite number", field=name, row=row)
    return number
