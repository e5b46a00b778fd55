"""Turning the tabular layouts the protocols use into the model's float64 matrix.

Records (objects keyed by feature) go through :class:`~modelyard.features.FeatureSchema`;
the other layouts — positional rows, named columns with rows (``dataframe_split``, CSV),
column lists (``inputs``) — are checked here with the same rules: every feature present,
no unknown one, and each value through :func:`~modelyard.features.to_number`. Every failure is a
:class:`~modelyard.errors.FeatureError` naming the field and row.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError
from modelyard.features import FeatureSchema, plain_matrix, to_number


def check_rows(count: int, limit: int, field: str) -> None:
    """Refuse an empty batch and one over the row limit (``MODELYARD_MAX_BATCH_ROWS``)."""
    if count == 0:
        raise EmptyBatchError("the batch is empty; send at least one row", field=field)
    if count > limit:
        raise BatchTooLargeError(count, limit, field)


def from_records(schema: FeatureSchema, records: Any, limit: int, field: str) -> np.ndarray:
    """A list of objects keyed by feature name."""
    if not isinstance(records, list):
        raise FeatureError(f"expected a list of records, got {_kind(records)}", field=field)
    check_rows(len(records), limit, field)
    return schema.rows_to_matrix(records)


def from_positional(
    schema: FeatureSchema, rows: Any, limit: int, field: str, columns: Sequence[str] | None = None
) -> np.ndarray:
    """A list of rows of values, in ``columns`` order (default: the schema's order)."""
    if not isinstance(rows, list):
        raise FeatureError(f"expected a list of rows, got {_kind(rows)}", field=field)
    check_rows(len(rows), limit, field)
    names = list(columns) if columns is not None else list(schema.names)
    order = _column_order(schema, names, field)
    width = len(names)
    matrix = np.empty((len(rows), len(schema.names)), dtype=np.float64)
    fast = _plain_matrix(rows, width)
    if fast is not None:
        matrix[:, order] = fast
        return matrix
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise FeatureError(f"expected a list of {width} values, got {_kind(row)}", field, i)
        if len(row) != width:
            raise FeatureError(f"expected {width} values {names}, got {len(row)}", field, i)
        for j, value in enumerate(row):
            matrix[i, order[j]] = to_number(value, names[j], i)
    return matrix


def from_columns(schema: FeatureSchema, columns: Any, limit: int, field: str) -> np.ndarray:
    """An object of feature name → list of values (one list per column, equal lengths)."""
    if not isinstance(columns, Mapping):
        raise FeatureError(f"expected an object of columns, got {_kind(columns)}", field=field)
    order = _column_order(schema, [str(k) for k in columns], field)
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if -1 in lengths:
        bad = next(k for k, v in columns.items() if not isinstance(v, list))
        raise FeatureError("expected a list of values for the column", field=str(bad))
    if len(lengths) != 1:
        raise FeatureError("columns have different lengths", field=field)
    count = lengths.pop()
    check_rows(count, limit, field)
    matrix = np.empty((count, len(schema.names)), dtype=np.float64)
    fast = _plain_matrix(list(columns.values()), count)
    if fast is not None:
        matrix[:, order] = fast.T
        return matrix
    for j, (name, values) in enumerate(columns.items()):
        col = order[j]
        for i, value in enumerate(values):
            matrix[i, col] = to_number(value, str(name), i)
    return matrix


def _plain_matrix(rows: list[Any], width: int) -> np.ndarray | None:
    """``rows`` as a float64 matrix when every row is a list of ``width`` plain finite numbers.

    Anything else gives None, and the caller's value-by-value loop names the problem.
    """
    if not all(type(row) is list and len(row) == width for row in rows):
        return None
    return plain_matrix(list(itertools.chain.from_iterable(rows)), len(rows), width)


def _column_order(schema: FeatureSchema, names: list[str], field: str) -> list[int]:
    index = schema.index
    for name in names:
        if name not in index:
            raise FeatureError(f"unknown feature; expected only {list(schema.names)}", name)
    if len(set(names)) != len(names):
        raise FeatureError("a feature is given twice", field=field)
    for name in schema.names:
        if name not in names:
            raise FeatureError("required feature is missing", field=name)
    return [index[name] for name in names]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
