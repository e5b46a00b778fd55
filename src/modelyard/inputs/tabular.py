"""The tabular input kind: named features, and the one validator of their rules.

A :class:`FeatureSchema` is compiled once (from the training frame, a logged model's
signature or ``meta.json``). Protocols decode their layouts into one of :data:`TabularInput`
— one :class:`Record`, :class:`Records` keyed by feature, positional :class:`Rows`, named
:class:`Columns` — and :meth:`FeatureSchema.validate` turns it into the float64 matrix the
model takes. The rules, the same for every layout: every feature present, no unknown one,
each value a JSON number (not a boolean), finite and within float64's range. A categorical
feature (one the schema gives ``categories``) takes one of its categories as a string instead,
and the matrix holds the category's position in that list (its code). None (a JSON
null, an empty CSV cell) is a missing value: it becomes NaN for a feature the schema marks
``nullable`` (the model imputes it or handles it natively), and is refused for any other
feature. Every failure is a
:class:`~modelyard.errors.FeatureError` naming the field and row. Training's DataFrames go
through :meth:`FeatureSchema.frame_to_matrix`, the streaming worker's stored rows through
:meth:`FeatureSchema.partition`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError

if TYPE_CHECKING:
    import pandas as pd

TABULAR = "tabular"
_NUMERIC_SPEC_TYPES = {"double", "float", "long", "integer"}
# Most categories a categorical feature may have: more is an identifier, not a category.
MAX_CATEGORIES = 1000
# How many of a feature's categories an error message lists.
SHOWN_CATEGORIES = 20
# JSON numbers arrive as exactly these types; anything else (bool, str, None, a subclass)
# takes the value-by-value path, which names the offending field.
_PLAIN_NUMBERS = frozenset({float, int})
_PLAIN_OR_MISSING = frozenset({float, int, type(None)})


# --- layouts: what the protocols decode their requests into ------------------------------
# Plain (not frozen) slotted classes: one is made per request, and frozen ones cost twice as
# much to make. Nothing changes them after they are made.
@dataclass(slots=True)
class Record:
    """One object keyed by feature name: a single-row request."""

    row: Any


@dataclass(slots=True)
class Records:
    """A list of objects keyed by feature name; ``field`` is where the list stood."""

    rows: Any
    field: str


@dataclass(slots=True)
class Rows:
    """A list of rows of values in ``columns`` order (default: the schema's order)."""

    rows: Any
    field: str
    columns: Sequence[str] | None = None


@dataclass(slots=True)
class Columns:
    """An object of column name → list of values; ``noun`` is what a column is called."""

    columns: Any
    field: str
    noun: str = "feature"


TabularInput = Record | Records | Rows | Columns


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered feature names; the model sees them as float64 columns in this order.

    ``nullable`` names the features that may be missing (None → NaN): those of a model that
    imputes missing values or handles them natively. Every other feature must have a value.
    ``categories`` gives each categorical feature its categories (strings, in code order): such
    a feature takes one of them, and its column holds the category's code (its position).
    """

    names: tuple[str, ...]
    nullable: frozenset[str] = frozenset()
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    kind: ClassVar[str] = TABULAR
    blocking: ClassVar[bool] = False  # validating rows takes microseconds: stay on the loop

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("a feature schema needs at least one feature")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate feature names in {self.names}")
        nullable = frozenset(self.nullable)
        unknown = sorted(nullable.difference(self.names))
        if unknown:
            raise ValueError(f"nullable features {unknown} are not among {list(self.names)}")
        categories = _checked_categories(self.categories, self.names)
        if nullable & categories.keys():
            raise ValueError(
                f"categorical features {sorted(nullable & categories.keys())} cannot be nullable"
            )
        object.__setattr__(self, "nullable", nullable)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})
        # Where values may be missing: None (no schema work on the hot paths) when nowhere,
        # else one flag per feature; and the value converter of the value-by-value paths.
        allowed = np.array([n in nullable for n in self.names]) if nullable else None
        object.__setattr__(self, "_allowed", allowed)
        convert = _nullable_number(nullable) if nullable else to_number
        if categories:
            convert = _categorical(categories, convert)
        object.__setattr__(self, "_convert", convert)
        getter = itemgetter(*self.names)
        pick: Callable[[Any], tuple[Any, ...]] = (
            (lambda row: (getter(row),)) if len(self.names) == 1 else getter
        )
        object.__setattr__(self, "_pick", pick)

    @property
    def index(self) -> dict[str, int]:
        return self._index  # type: ignore[attr-defined,no-any-return]

    @property
    def categorical(self) -> bool:
        """Whether any feature is categorical."""
        return bool(self.categories)

    def allowing_missing(self, names: Iterable[str] | None = None) -> FeatureSchema:
        """This schema with ``names`` (default: every numeric feature) nullable as well."""
        added = [n for n in self.names if n not in self.categories] if names is None else names
        return FeatureSchema(self.names, self.nullable.union(added), self.categories)

    def with_categories(self, categories: Mapping[str, Sequence[str]]) -> FeatureSchema:
        """This schema with ``categories`` for (some of) its features."""
        merged = {**self.categories, **{n: tuple(v) for n, v in categories.items()}}
        return FeatureSchema(self.names, self.nullable.difference(merged), merged)

    @classmethod
    def from_signature(
        cls, signature: Any, categories: Mapping[str, Sequence[str]] | None = None
    ) -> FeatureSchema:
        """Compile from an MLflow model signature whose inputs are named columns: numbers, or
        strings (categorical features, whose ``categories`` the model itself tells: the
        signature does not); a column spec with ``required=False`` is a nullable feature."""
        inputs = getattr(signature, "inputs", None)
        if inputs is None:
            raise ValueError("the model was logged without an input signature")
        known = dict(categories or {})
        names: list[str] = []
        optional: set[str] = set()
        strings: dict[str, tuple[str, ...]] = {}
        for spec in inputs.inputs:
            kind = str(getattr(spec, "type", "")).lower().split(".")[-1]
            name = getattr(spec, "name", None)
            if not name:
                raise ValueError("the model's input signature has unnamed columns")
            name = str(name)
            if kind == "string":
                if name not in known:
                    raise ValueError(
                        f"feature {name!r} is a string column whose categories the model does "
                        "not tell (only a one-hot or ordinal encoder's categories are read)"
                    )
                strings[name] = tuple(known[name])
            elif kind not in _NUMERIC_SPEC_TYPES:
                raise ValueError(
                    f"feature {name!r} has type {kind!r}; only numbers and strings are supported"
                )
            elif getattr(spec, "required", True) is False:
                optional.add(name)
            names.append(name)
        return cls(tuple(names), frozenset(optional), strings)

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> FeatureSchema:
        """The schema :meth:`meta` wrote (an older one without ``nullable`` or
        ``categories``: no feature is)."""
        nullable = frozenset(str(n) for n in meta.get("nullable") or ())
        categories = {
            str(n): tuple(str(c) for c in values)
            for n, values in (meta.get("categories") or {}).items()
        }
        return cls(tuple(str(n) for n in meta["features"]), nullable, categories)

    def meta(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"input_kind": TABULAR, "features": list(self.names)}
        if self.nullable:
            doc["nullable"] = [n for n in self.names if n in self.nullable]
        if self.categories:
            doc["categories"] = {n: list(self.categories[n]) for n in self.categorical_names}
        return doc

    @property
    def categorical_names(self) -> list[str]:
        """The categorical features, in the schema's order."""
        return [n for n in self.names if n in self.categories]

    def describe(self) -> dict[str, Any]:
        """JSON Schema of one record, used in service info and OpenAPI examples."""
        number: dict[str, Any] = {"type": "number"}
        nullable: dict[str, Any] = {"type": ["number", "null"]}

        def spec(name: str) -> dict[str, Any]:
            if name in self.categories:
                return {"type": "string", "enum": list(self.categories[name])}
            return nullable if name in self.nullable else number

        return {
            "type": "object",
            "required": list(self.names),
            "properties": {n: spec(n) for n in self.names},
            "additionalProperties": False,
        }

    def category_codes(self, name: str, values: Iterable[Any]) -> np.ndarray:
        """The codes of a categorical feature's ``values`` (NaN for one not among its
        categories): the scale its profile and drift are measured on."""
        return category_codes(values, self.categories[name])

    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """The validated ``matrix`` as the DataFrame a model fitted on named columns takes:
        numeric features as float64 columns, categorical ones as their categories (strings)."""
        import pandas as pd

        columns: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            values = matrix[:, j]
            if name in self.categories:
                vocabulary = np.asarray(self.categories[name], dtype=object)
                columns[name] = vocabulary[values.astype(np.intp)]
            else:
                columns[name] = values
        return pd.DataFrame(columns)

    # --- the validator ---------------------------------------------------------------------
    def validate(self, inputs: TabularInput, limit: int) -> np.ndarray:
        """The (rows, features) float64 matrix of ``inputs``, or the error naming the problem."""
        if type(inputs) is Record:  # the hot single-row path first
            out = np.empty((1, len(self.names)), dtype=np.float64)
            self._fill(out[0], inputs.row, None)
            return out
        if isinstance(inputs, Records):
            return self._records(inputs, limit)
        if isinstance(inputs, Rows):
            return self._rows(inputs, limit)
        if isinstance(inputs, Columns):
            return self._columns(inputs, limit)
        raise FeatureError(
            "this model takes tabular features, not images: send an object of "
            f"{len(self.names)} numeric features",
            getattr(inputs, "field", None),
        )

    def rows_to_matrix(self, rows: Sequence[Any]) -> np.ndarray:
        """A batch of records (no row limit) → an (n, features) float64 matrix."""
        if len(rows) == 0:
            raise EmptyBatchError("the batch is empty; send at least one record", field="records")
        # One row is faster value by value than through numpy's whole-batch calls.
        fast = self._fast_matrix(rows) if len(rows) > 1 else None
        if fast is not None:
            return fast
        out = np.empty((len(rows), len(self.names)), dtype=np.float64)
        for i, row in enumerate(rows):
            self._fill(out[i], row, i)
        return out

    def partition(
        self, rows: Sequence[Any]
    ) -> tuple[np.ndarray, list[int], list[tuple[int, FeatureError]]]:
        """Split a batch of records into its valid rows and its invalid ones.

        Returns the matrix of the valid rows (in order), their positions in ``rows``, and
        ``(position, error)`` for every invalid row (errors without a row number).
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

    def validate_rows(self, rows: Iterable[Any]) -> list[FeatureError | None]:
        """Check each record on its own: None where it is valid, the error where it is not."""
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

    def frame_to_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """A DataFrame with (at least) the feature columns → the model's float64 matrix."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise FeatureError("required feature is missing", field=missing[0])
        columns: dict[str, np.ndarray] = {}
        for name in self.names:
            column = frame[name]
            if name in self.categories:
                columns[name] = self._frame_codes(column, name)
                continue
            if column.dtype.kind not in "fiu":
                try:
                    column = column.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise FeatureError("expected a number", field=name) from exc
            columns[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return self.columns_to_matrix(columns, len(frame))

    def columns_to_matrix(self, columns: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        """Numeric columns by feature name (a missing value as NaN, a categorical feature as
        its codes) → the model's float64 matrix: a FeatureError naming the first feature and
        row (from 0) that holds a missing value the model does not take, or a value that is
        not finite."""
        matrix = np.empty((rows, len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            if name not in columns:
                raise FeatureError("required feature is missing", field=name)
            matrix[:, j] = columns[name]
        bad = ~np.isfinite(matrix)
        if self._allowed is not None and bad.any():  # type: ignore[attr-defined]
            bad &= ~(np.isnan(matrix) & self._allowed)  # type: ignore[attr-defined]
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise FeatureError("expected a finite number", field=self.names[col], row=row)
        return matrix

    def _frame_codes(self, column: pd.Series, name: str) -> np.ndarray:
        import pandas as pd

        vocabulary = self.categories[name]
        strings = column.astype(object).where(column.notna(), None)
        if column.dtype.kind in "biuf":  # numbers naming categories
            strings = strings.map(category_text)
        codes = pd.Categorical(strings, categories=list(vocabulary)).codes
        if (codes < 0).any():
            row = int(np.flatnonzero(codes < 0)[0])
            raise self._category_error(name, strings.iloc[row], row)
        return codes.astype(np.float64)

    def _category_error(self, name: str, value: Any, row: int | None) -> FeatureError:
        return category_error(name, self.categories[name], value, row)

    # --- one layout each -------------------------------------------------------------------
    def _records(self, inputs: Records, limit: int) -> np.ndarray:
        rows = inputs.rows
        if not isinstance(rows, list):
            raise FeatureError(f"expected a list of records, got {_kind(rows)}", inputs.field)
        check_rows(len(rows), limit, inputs.field)
        return self.rows_to_matrix(rows)

    def _rows(self, inputs: Rows, limit: int) -> np.ndarray:
        rows, field = inputs.rows, inputs.field
        if not isinstance(rows, list):
            raise FeatureError(f"expected a list of rows, got {_kind(rows)}", field)
        check_rows(len(rows), limit, field)
        names: Sequence[str] = self.names
        order: list[int] | None = None  # None: the values come in the schema's order
        if inputs.columns is not None:
            names = list(inputs.columns)
            order = self._column_order(names, field, "feature")
            if order == list(range(len(order))):
                order = None
        width = len(names)
        fast = _plain_rows(rows, width) if len(rows) > 1 else None
        if fast is None and self._allowed is not None and len(rows) > 1:  # type: ignore[attr-defined]
            allowed = self._allowed if order is None else self._allowed[order]  # type: ignore[attr-defined]
            fast = _plain_rows(rows, width, allowed)
        if fast is not None and order is None:
            return fast
        matrix = np.empty((len(rows), len(self.names)), dtype=np.float64)
        if fast is not None:
            matrix[:, order] = fast
            return matrix
        convert: Callable[[Any, str, int | None], float] = self._convert  # type: ignore[attr-defined]
        for i, row in enumerate(rows):
            if not isinstance(row, list):
                raise FeatureError(f"expected a list of {width} values, got {_kind(row)}", field, i)
            if len(row) != width:
                message = f"expected {width} values {list(names)}, got {len(row)}"
                raise FeatureError(message, field, i)
            out = matrix[i]
            if order is None:
                for j, value in enumerate(row):
                    out[j] = convert(value, names[j], i)
            else:
                for j, value in enumerate(row):
                    out[order[j]] = convert(value, names[j], i)
        return matrix

    def _columns(self, inputs: Columns, limit: int) -> np.ndarray:
        columns, field = inputs.columns, inputs.field
        if not isinstance(columns, Mapping):
            raise FeatureError(f"expected an object of columns, got {_kind(columns)}", field)
        order = self._column_order([str(k) for k in columns], field, inputs.noun)
        lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
        if -1 in lengths:
            bad = next(k for k, v in columns.items() if not isinstance(v, list))
            raise FeatureError("expected a list of values for the column", field=str(bad))
        if len(lengths) != 1:
            raise FeatureError("columns have different lengths", field=field)
        count = lengths.pop()
        check_rows(count, limit, field)
        matrix = np.empty((count, len(self.names)), dtype=np.float64)
        fast = _plain_rows(list(columns.values()), count) if count > 1 else None
        if fast is None and self._allowed is not None and count > 1:  # type: ignore[attr-defined]
            allowed = self._allowed[order][:, np.newaxis]  # type: ignore[attr-defined]
            fast = _plain_rows(list(columns.values()), count, allowed)
        if fast is not None:
            matrix[:, order] = fast.T
            return matrix
        convert: Callable[[Any, str, int | None], float] = self._convert  # type: ignore[attr-defined]
        for j, (name, values) in enumerate(columns.items()):
            for i, value in enumerate(values):
                matrix[i, order[j]] = convert(value, str(name), i)
        return matrix

    def _column_order(self, names: list[str], field: str, noun: str) -> list[int]:
        index = self.index
        for name in names:
            if name not in index:
                raise FeatureError(f"unknown {noun}; expected only {list(self.names)}", name)
        if len(set(names)) != len(names):
            raise FeatureError(f"a {noun} is given twice", field=field)
        for name in self.names:
            if name not in names:
                raise FeatureError(f"required {noun} is missing", field=name)
        return [index[name] for name in names]

    # --- records: the rules of one object ---------------------------------------------------
    def _fast_matrix(self, rows: Sequence[Any]) -> np.ndarray | None:
        """The whole batch at once when every record is plainly valid, else None.

        None sends the caller to the record-by-record path, which finds and names the first
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
        matrix = plain_matrix(values, len(rows), width)
        if matrix is None and self._allowed is not None:  # type: ignore[attr-defined]
            return missing_matrix(values, (len(rows), width), self._allowed)  # type: ignore[attr-defined]
        return matrix

    def _fill(self, out: np.ndarray, row: Any, row_index: int | None) -> None:
        if not isinstance(row, Mapping):
            raise FeatureError(
                f"expected an object with the features {list(self.names)}, "
                f"got {type(row).__name__}",
                row=row_index,
            )
        if len(row) != len(self.names) or any(k not in self.index for k in row):
            self._raise_key_error(row, row_index)
        convert: Callable[[Any, str, int | None], float] = self._convert  # type: ignore[attr-defined]
        for name, value in row.items():
            out[self.index[name]] = convert(value, name, row_index)

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


def check_rows(count: int, limit: int, field: str) -> None:
    """Refuse an empty batch and one over the row limit (``MODELYARD_MAX_BATCH_ROWS``)."""
    if count == 0:
        raise EmptyBatchError("the batch is empty; send at least one row", field=field)
    if count > limit:
        raise BatchTooLargeError(count, limit, field)


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


def missing_matrix(
    values: list[Any], shape: tuple[int, int], allowed: np.ndarray
) -> np.ndarray | None:
    """Row-major ``values`` as a float64 matrix of ``shape``, None (missing) becoming NaN.

    ``allowed`` (broadcast to ``shape``) flags where a value may be missing. None when a
    value is missing where it may not be, or is anything :func:`plain_matrix` refuses: the
    caller's value-by-value path then names the problem.
    """
    if not set(map(type, values)) <= _PLAIN_OR_MISSING:
        return None
    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    missing = missing.reshape(shape)
    if (missing & ~allowed).any():
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(shape)  # None → NaN
    except OverflowError:
        return None
    return matrix if (np.isfinite(matrix) | missing).all() else None


def _plain_rows(
    rows: list[Any], width: int, allowed: np.ndarray | None = None
) -> np.ndarray | None:
    """``rows`` as a float64 matrix when every row is a list of ``width`` plain finite numbers
    (or, with ``allowed``, missing values where :func:`missing_matrix` takes them)."""
    if not all(type(row) is list and len(row) == width for row in rows):
        return None
    values = list(itertools.chain.from_iterable(rows))
    if allowed is None:
        return plain_matrix(values, len(rows), width)
    return missing_matrix(values, (len(rows), width), allowed)


def to_number(value: Any, name: str, row: int | None) -> float:
    """One input value as a finite float, or a FeatureError naming ``name`` and ``row``."""
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


def category_error(
    name: str, categories: Sequence[str], value: Any, row: int | None
) -> FeatureError:
    """The error for a value of a categorical feature that is not one of its categories."""
    shown = list(categories[:SHOWN_CATEGORIES])
    more = f" and {len(categories) - len(shown)} more" if len(categories) > len(shown) else ""
    text = category_text(value)
    if value is None:
        got = "the value is missing"
    elif text is not None:
        got = f"unknown category {text[:80]!r}"
    else:
        got = f"expected a string, got {_kind(value)}"
    return FeatureError(f"{got}; expected one of {shown}{more}", field=name, row=row)


def _checked_categories(
    categories: Mapping[str, Sequence[str]], names: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    checked: dict[str, tuple[str, ...]] = {}
    for name, values in categories.items():
        if name not in names:
            raise ValueError(f"categorical feature {name!r} is not among {list(names)}")
        vocabulary = tuple(values)
        if not vocabulary or not all(type(v) is str for v in vocabulary):
            raise ValueError(f"categorical feature {name!r} needs a list of string categories")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError(f"categorical feature {name!r} has a category twice")
        if len(vocabulary) > MAX_CATEGORIES:
            raise ValueError(
                f"categorical feature {name!r} has {len(vocabulary)} categories; "
                f"at most {MAX_CATEGORIES} are supported"
            )
        checked[name] = vocabulary
    return checked


def _categorical(
    categories: Mapping[str, tuple[str, ...]],
    number: Callable[[Any, str, int | None], float],
) -> Callable[[Any, str, int | None], float]:
    """A value converter that takes a categorical feature's category as its code, and
    leaves every other feature to ``number``."""
    codes = {name: {c: float(i) for i, c in enumerate(v)} for name, v in categories.items()}

    def convert(value: Any, name: str, row: int | None) -> float:
        table = codes.get(name)
        if table is None:
            return number(value, name, row)
        text = value if type(value) is str else category_text(value)
        code = None if text is None else table.get(text)
        if code is None:
            raise category_error(name, categories[name], value, row)
        return code

    return convert


def category_codes(values: Iterable[Any], categories: Sequence[str]) -> np.ndarray:
    """``values`` as codes over ``categories`` (a category's position; NaN for a value that
    names none of them): the scale profiles, drift and the dashboard measure categories on."""
    codes = {c: float(i) for i, c in enumerate(categories)}
    texts = (category_text(v) for v in values)
    return np.fromiter(
        (math.nan if t is None else codes.get(t, math.nan) for t in texts), dtype=np.float64
    )


def category_text(value: Any) -> str | None:
    """A value as the category it names: text as it is, and a number as the text of a
    category that is a number (a code such as ``7`` or ``2.5``, as CSV readers and JSON
    clients give them), an integral one without its ``.0``. None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating) and math.isfinite(value):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return None


def _nullable_number(nullable: frozenset[str]) -> Callable[[Any, str, int | None], float]:
    """:func:`to_number`, but None is NaN (a missing value) for the ``nullable`` features."""

    def convert(value: Any, name: str, row: int | None) -> float:
        if value is None and name in nullable:
            return math.nan
        return to_number(value, name, row)

    return convert


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
