"""The tabular input kind alone: every layout, one set of rules, errors naming field and row."""

from __future__ import annotations

import math
from collections.abc import Callable

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


# --- nullable features: a missing value is NaN where the model handles it -----------------
NULLABLE = FeatureSchema(NAMES, frozenset({"sepal_width", "petal_width"}))
GAPPY = {**ROW, "sepal_width": None}
GAPPY_VALUES = list(GAPPY.values())
BATCH_LAYOUTS = ("records", "rows", "rows_reordered", "columns", "columns_reordered")


def _same(matrix: np.ndarray, expected: list[list[float]]) -> bool:
    return bool(np.array_equal(matrix, np.array(expected), equal_nan=True))


def test_a_schema_built_from_names_alone_has_nothing_nullable() -> None:
    assert FeatureSchema(NAMES).nullable == frozenset()
    assert FeatureSchema(NAMES, {"petal_width"}).nullable == frozenset({"petal_width"})
    assert SCHEMA.allowing_missing().nullable == frozenset(NAMES)
    with pytest.raises(ValueError, match=r"nullable features \['colour'\] are not among"):
        FeatureSchema(NAMES, frozenset({"colour"}))


@pytest.mark.parametrize(
    ("layout", "rows"),
    [("record", 1)] + [(layout, rows) for layout in BATCH_LAYOUTS for rows in (1, 2, 3)],
)
def test_a_null_is_nan_for_a_nullable_feature_in_every_layout(layout: str, rows: int) -> None:
    batch = [GAPPY if i % 2 == 0 else ROW for i in range(rows)]
    layouts: dict[str, Callable[[], TabularInput]] = {
        "record": lambda: Record(GAPPY),
        "records": lambda: Records(batch, "records"),
        "rows": lambda: Rows([list(r.values()) for r in batch], "instances"),
        "rows_reordered": lambda: Rows(
            [list(reversed(r.values())) for r in batch], "data", list(reversed(NAMES))
        ),
        "columns": lambda: Columns({k: [r[k] for r in batch] for k in NAMES}, "inputs"),
        "columns_reordered": lambda: Columns(
            {k: [r[k] for r in batch] for k in reversed(NAMES)}, "inputs"
        ),
    }
    inputs = layouts[layout]()
    matrix = NULLABLE.validate(inputs, 10)
    assert matrix.dtype == np.float64
    assert _same(matrix, [[5.1, math.nan, 1.4, 0.2] if i % 2 == 0 else VALUES for i in range(rows)])
    # the same request to a schema with nothing nullable: the error it always gave
    with pytest.raises(FeatureError) as raised:
        SCHEMA.validate(inputs, 10)
    assert (raised.value.field, raised.value.reason) == (
        "sepal_width",
        "the value is missing; send a number",
    )


@pytest.mark.parametrize(
    ("value", "reason"), [v for v in BAD_VALUES if v[0] is not None] + [("", "got str")]
)
def test_a_nullable_feature_still_refuses_what_is_not_a_number(value: object, reason: str) -> None:
    bad = {**GAPPY, "petal_width": value}  # another row's null beside it takes the fast path
    for inputs in (
        Records([GAPPY, bad], "records"),
        Rows([GAPPY_VALUES, list(bad.values())], "instances"),
        Columns({k: [GAPPY[k], v] for k, v in bad.items()}, "inputs"),
    ):
        with pytest.raises(FeatureError) as raised:
            NULLABLE.validate(inputs, 10)
        assert (raised.value.field, raised.value.row) == ("petal_width", 1)
        assert reason in raised.value.reason


@pytest.mark.parametrize(
    "inputs",
    [
        Records([GAPPY, {**GAPPY, "petal_length": None}], "records"),
        Rows([GAPPY_VALUES, [5.1, 3.5, None, 0.2]], "instances"),
        Columns({**{k: [v, v] for k, v in GAPPY.items()}, "petal_length": [1.0, None]}, "in"),
    ],
)
def test_a_null_beside_nullable_ones_is_refused_for_a_feature_that_is_not(
    inputs: TabularInput,
) -> None:
    with pytest.raises(FeatureError) as raised:
        NULLABLE.validate(inputs, 10)
    assert (raised.value.field, raised.value.row, raised.value.reason) == (
        "petal_length",
        1,
        "the value is missing; send a number",
    )


def test_a_nullable_feature_must_still_be_present() -> None:
    with pytest.raises(FeatureError, match="required feature is missing"):
        NULLABLE.validate(Record({k: v for k, v in ROW.items() if k != "sepal_width"}), 1)


def test_partition_and_validate_rows_follow_the_nullable_features() -> None:
    rows = [GAPPY, {**ROW, "petal_length": None}, {**GAPPY, "petal_width": None}]
    matrix, valid, invalid = NULLABLE.partition(rows)
    assert valid == [0, 2] and [(i, e.field) for i, e in invalid] == [(1, "petal_length")]
    assert _same(matrix, [[5.1, math.nan, 1.4, 0.2], [5.1, math.nan, 1.4, math.nan]])
    clean, valid, invalid = NULLABLE.partition([GAPPY, GAPPY])  # the whole-batch path
    assert valid == [0, 1] and not invalid and np.isnan(clean[:, 1]).all()
    results = NULLABLE.validate_rows(rows)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], FeatureError) and results[1].field == "petal_length"
    assert [e is None for e in SCHEMA.validate_rows(rows)] == [False, False, False]


def test_a_frame_may_hold_nan_only_in_nullable_columns() -> None:
    frame = pd.DataFrame([ROW, {**ROW, "sepal_width": math.nan}, {**ROW, "petal_width": None}])
    assert _same(
        NULLABLE.frame_to_matrix(frame),
        [VALUES, [5.1, math.nan, 1.4, 0.2], [5.1, 3.5, 1.4, math.nan]],
    )
    with pytest.raises(FeatureError) as raised:
        SCHEMA.frame_to_matrix(frame)
    assert (raised.value.field, raised.value.row) == ("sepal_width", 1)
    for column, value in (("petal_length", math.nan), ("sepal_width", math.inf)):
        with pytest.raises(FeatureError, match="expected a finite number"):
            NULLABLE.frame_to_matrix(pd.DataFrame([{**ROW, column: value}]))


def test_nullable_features_round_trip_through_meta_and_show_in_describe() -> None:
    meta = NULLABLE.meta()
    assert meta["nullable"] == ["sepal_width", "petal_width"]  # in feature order
    assert kind_from_meta(meta) == NULLABLE
    assert "nullable" not in SCHEMA.meta()  # an unchanged meta.json for other models
    assert kind_from_meta({"input_kind": "tabular", "features": list(NAMES)}) == SCHEMA
    described = NULLABLE.describe()
    assert described["required"] == list(NAMES)
    assert described["properties"]["sepal_width"] == {"type": ["number", "null"]}
    assert described["properties"]["sepal_length"] == {"type": "number"}
    assert SCHEMA.describe()["properties"]["sepal_width"] == {"type": "number"}


def test_an_optional_column_of_a_signature_is_nullable() -> None:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("double", n, required=n != "petal_width") for n in NAMES])
    )
    schema = FeatureSchema.from_signature(signature)
    assert schema.names == NAMES and schema.nullable == frozenset({"petal_width"})
    plain = ModelSignature(inputs=Schema([ColSpec("double", n) for n in NAMES]))
    assert FeatureSchema.from_signature(plain) == SCHEMA
