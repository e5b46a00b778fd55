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
        ({**ROW, "sepal_width": None}, "sepal_width", "null"),
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
