from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import FeatureError
from modelyard.features import FeatureSchema

SCHEMA = FeatureSchema(("sepal_length", "sepal_width", "petal_length", "petal_width"))
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_rows_become_a_matrix_in_schema_order() -> None:
    shuffled = dict(reversed(list(ROW.items())))
    matrix = SCHEMA.rows_to_matrix([ROW, shuffled])
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[5.1, 3.5, 1.4, 0.2]] * 2


def test_frame_and_rows_agree() -> None:
    frame = pd.DataFrame([ROW, {**ROW, "petal_width": 2}])
    assert np.array_equal(
        SCHEMA.frame_to_matrix(frame), SCHEMA.rows_to_matrix(frame.to_dict("records"))
    )


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({k: v for k, v in ROW.items() if k != "petal_width"}, "petal_width", "missing"),
        ({**ROW, "colour": 1.0}, "colour", "unknown"),
        ({**ROW, "sepal_width": "3.5"}, "sepal_width", "number"),
        ({**ROW, "sepal_width": True}, "sepal_width", "number"),
        ({**ROW, "sepal_width": None}, "sepal_width", "missing"),
        ({**ROW, "petal_length": math.inf}, "petal_length", "finite"),
        ({**ROW, "petal_length": math.nan}, "petal_length", "finite"),
    ],
)
def test_bad_rows_name_the_field(row: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(FeatureError) as excinfo:
        SCHEMA.rows_to_matrix([ROW, row])
    assert excinfo.value.field == field
    assert excinfo.value.row == 1
    assert words in excinfo.value.reason


def test_empty_batch_and_non_objects_are_refused() -> None:
    with pytest.raises(FeatureError, match="empty"):
        SCHEMA.rows_to_matrix([])
    with pytest.raises(FeatureError, match="object"):
        SCHEMA.row_to_vector([5.1, 3.5, 1.4, 0.2])


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
    rows = [dict(zip(SCHEMA.names, map(float, r), strict=True)) for r in rng.normal(size=(50, 4))]
    rows[3]["sepal_width"] = 2  # a JSON integer is a number too
    matrix, valid, invalid = SCHEMA.partition(rows)
    assert invalid == [] and valid == list(range(50))
    assert np.array_equal(matrix, np.stack([SCHEMA.row_to_vector(r) for r in rows]))


@pytest.mark.parametrize("value", [True, "1.0", None, math.nan, 10**400, np.float64(1.5)])
def test_batch_and_single_row_paths_agree_on_odd_values(value: object) -> None:
    row = {**ROW, "petal_length": value}
    try:
        expected: np.ndarray | str = SCHEMA.row_to_vector(row)
    except FeatureError as exc:
        expected = exc.reason
    try:
        got: np.ndarray | str = SCHEMA.rows_to_matrix([ROW, row])[1]
    except FeatureError as exc:
        got = exc.reason
    if isinstance(expected, str):
        assert got == expected
    else:
        assert np.array_equal(got, expected)
