"""The tabular input kind alone: every layout, one set of rules, errors naming field and row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError
from modelyard.inputs import KINDS, InputKind, kind_from_meta
from modelyard.inputs.tabular import Columns, FeatureSchema, Record, Records, Rows, TabularInput

NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SCHEMA = FeatureSchema(NAMES)
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VALUES = list(ROW.values())
EXPECTED = np.array([VALUES])


def one(row: object) -> np.ndarray:
    return SCHEMA.validate(Record(row), 1)[0]


def test_the_kind_is_rebuilt_from_what_meta_json_says() -> None:
    kind: InputKind[TabularInput] = SCHEMA
    assert kind.kind == "tabular" and set(KINDS) == {"tabular", "image"}
    assert kind_from_meta(SCHEMA.meta()) == SCHEMA
    assert kind_from_meta({"features": list(NAMES)}) == SCHEMA  # written before input kinds
    with pytest.raises(ValueError, match="input kind 'audio' is not supported"):
        kind_from_meta({"input_kind": "audio"})
    assert SCHEMA.describe()["required"] == list(NAMES)


@pytest.mark.parametrize(
    "inputs",
    [
        Record(ROW),
        Records([ROW], "records"),
        Records([dict(reversed(list(ROW.items())))], "records"),
        Rows([VALUES], "instances"),
        Rows([list(reversed(VALUES))], "data", list(reversed(NAMES))),
        Columns({k: [v] for k, v in ROW.items()}, "inputs"),
        Rows([[5.1, 3.5, 1.4, np.float64(0.2)]], "instances"),  # the value-by-value path
        Columns({k: [v] for k, v in reversed(ROW.items())}, "inputs"),
    ],
)
def test_every_layout_gives_the_same_matrix(inputs: TabularInput) -> None:
    matrix = SCHEMA.validate(inputs, 10)
    assert matrix.dtype == np.float64
    assert np.array_equal(matrix, EXPECTED)


def test_frame_and_records_agree() -> None:
    frame = pd.DataFrame([ROW, {**ROW, "petal_width": 2}])
    assert np.array_equal(
        SCHEMA.frame_to_matrix(frame), SCHEMA.rows_to_matrix(frame.to_dict("records"))
    )


BAD_VALUES = [
    ("3.5", "expected a number, got str"),
    (True, "expected a number, got bool"),
    (None, "the value is missing; send a number"),
    (math.inf, "expected a finite number"),
    (math.nan, "expected a finite number"),
    (10**400, "expected a finite number"),
]


@pytest.mark.parametrize(("value", "reason"), BAD_VALUES)
def test_a_bad_value_is_named_alike_in_every_layout(value: object, reason: str) -> None:
    bad = {**ROW, "sepal_width": value}
    layouts = [
        Records([ROW, bad], "records"),
        Rows([VALUES, list(bad.values())], "instances"),
        Columns({k: [ROW[k], v] for k, v in bad.items()}, "inputs"),
    ]
    for inputs in layouts:
        with pytest.raises(FeatureError) as raised:
            SCHEMA.validate(inputs, 10)
        assert (raised.value.field, raised.value.row, raised.value.reason) == (
            "sepal_width",
            1,
            reason,
        )
        assert str(raised.value) == f"row 1, field 'sepal_width': {reason}"
    with pytest.raises(FeatureError) as single:
        one(bad)
    assert (single.value.field, single.value.row, single.value.reason) == (
        "sepal_width",
        None,
        reason,
    )


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        (Record({**ROW, "colour": 1.0}), "colour", "field 'colour': unknown feature; expected"),
        (Records([ROW, {"sepal_length": 1}], "r"), "sepal_width", "row 1, field 'sepal_width'"),
        (Rows([VALUES], "data", list(NAMES[:3])), "petal_width", "required feature is missing"),
        (Rows([[*VALUES, 1.0]], "data", [*NAMES, "x"]), "x", "unknown feature; expected only"),
        (Rows([VALUES], "data", [*NAMES[:3], "sepal_length"]), "data", "given twice"),
        (Rows([VALUES, VALUES[:3]], "instances"), "instances", "row 1, field 'instances'"),
        (Rows([VALUES, {"a": 1}], "instances"), "instances", "got dict"),
        (Rows({"a": 1}, "instances"), "instances", "expected a list of rows, got dict"),
        (Records({"a": 1}, "records"), "records", "expected a list of records, got dict"),
        (Record([1, 2, 3, 4]), None, "expected an object with the features"),
        (Columns([VALUES], "inputs"), "inputs", "expected an object of columns, got list"),
        (Columns({**{k: [v] for k, v in ROW.items()}, "x": [1]}, "inputs"), "x", "unknown"),
        (Columns({k: [v, v] for k, v in ROW.items()} | {"sepal_length": [1]}, "in"), "in", "len"),
        (Columns({k: v for k, v in ROW.items()}, "inputs"), "sepal_length", "list of values"),
        (
            Columns({k: [v] for k, v in ROW.items() if k != "sepal_width"}, "in", "input tensor"),
            "sepal_width",
            "required input tensor is missing",
        ),
    ],
)
def test_layout_errors_name_the_field(
    inputs: TabularInput, field: str | None, message: str
) -> None:
    with pytest.raises(FeatureError) as raised:
        SCHEMA.validate(inputs, 10)
    assert raised.value.field == field
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "inputs",
    [Records([], "f"), Rows([], "f"), Columns({k: [] for k in NAMES}, "f")],
)
def test_empty_and_oversized_batches(inputs: TabularInput) -> None:
    with pytest.raises(EmptyBatchError) as empty:
        SCHEMA.validate(inputs, 10)
    assert empty.value.field == "f" and "empty" in empty.value.reason
    big = {
        Records: Records([ROW] * 3, "f"),
        Rows: Rows([VALUES] * 3, "f"),
        Columns: Columns({k: [v] * 3 for k, v in ROW.items()}, "f"),
    }[type(inputs)]
    with pytest.raises(BatchTooLargeError) as raised:
        SCHEMA.validate(big, 2)
    assert (raised.value.count, raised.value.limit, raised.value.field) == (3, 2, "f")
    assert SCHEMA.validate(big, 3).shape == (3, 4)


def test_records_without_a_limit_refuse_an_empty_batch() -> None:
    with pytest.raises(FeatureError, match="empty"):
        SCHEMA.rows_to_matrix([])


def test_validate_rows_reports_each_row() -> None:
    results = SCHEMA.validate_rows([ROW, {"sepal_length": 1}, ROW])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], FeatureError) and results[1].field == "sepal_width"


def test_frame_with_non_numeric_column_names_the_field() -> None:
    frame = pd.DataFrame([{**ROW, "sepal_width": "wide"}])
    with pytest.raises(FeatureError) as excinfo:
        SCHEMA.frame_to_matrix(frame)
    assert excinfo.value.field == "sepal_width"


def test_partition_keeps_good_rows_in_order_and_names_each_bad_one() -> None:
    rows = [ROW, {**ROW, "petal_width": "x"}, {**ROW, "sepal_length": 7}, [1, 2, 3, 4], ROW]
    matrix, valid, invalid = SCHEMA.partition(rows)
    assert valid == [0, 2, 4]
    assert matrix.tolist() == [[5.1, 3.5, 1.4, 0.2], [7.0, 3.5, 1.4, 0.2], [5.1, 3.5, 1.4, 0.2]]
    assert [(i, e.field) for i, e in invalid] == [(1, "petal_width"), (3, None)]
    assert all(e.row is None for _, e in invalid)


def test_partition_of_a_clean_batch_matches_row_by_row() -> None:
    rng = np.random.default_rng(7)
    rows = [dict(zip(NAMES, map(float, r), strict=True)) for r in rng.normal(size=(50, 4))]
    rows[3]["sepal_width"] = 2  # a JSON integer is a number too
    matrix, valid, invalid = SCHEMA.partition(rows)
    assert invalid == [] and valid == list(range(50))
    assert np.array_equal(matrix, np.stack([one(r) for r in rows]))


@pytest.mark.parametrize("value", [True, "1.0", None, math.nan, 10**400, np.float64(1.5)])
def test_batch_and_single_row_paths_agree_on_odd_values(value: object) -> None:
    row = {**ROW, "petal_length": value}
    try:
        expected: np.ndarray | str = one(row)
    except FeatureError as exc:
        expected = exc.reason
    try:
        got: np.ndarray | str = SCHEMA.validate(Records([ROW, row], "records"), 10)[1]
    except FeatureError as exc:
        got = exc.reason
    if isinstance(expected, str):
        assert got == expected
    else:
        assert np.array_equal(got, expected)
