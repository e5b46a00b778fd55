"""Categorical features in the tabular validator: categories in, codes out, one rule set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import FeatureError
from modelyard.inputs.tabular import Columns, FeatureSchema, Record, Records, Rows

SCHEMA = FeatureSchema(
    ("size", "colour", "zone"), categories={"colour": ("blue", "red"), "zone": ("1", "10")}
)


@pytest.mark.parametrize(
    "inputs",
    [
        Records(
            [
                {"size": 1.5, "colour": "red", "zone": "10"},
                {"size": 2, "colour": "blue", "zone": "1"},
            ],
            "records",
        ),
        Rows([[1.5, "red", "10"], [2, "blue", "1"]], "rows"),
        Rows([["red", 1.5, 10], ["blue", 2, 1]], "rows", ["colour", "size", "zone"]),
        Columns({"zone": [10, 1.0], "size": [1.5, 2], "colour": ["red", "blue"]}, "columns"),
    ],
)
def test_every_layout_gives_the_codes_of_the_categories(inputs: object) -> None:
    matrix = SCHEMA.validate(inputs, 10)  # type: ignore[arg-type]
    assert matrix.tolist() == [[1.5, 1.0, 1.0], [2.0, 0.0, 0.0]]
    assert SCHEMA.frame(matrix).to_dict("records") == [
        {"size": 1.5, "colour": "red", "zone": "10"},
        {"size": 2.0, "colour": "blue", "zone": "1"},
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("green", "unknown category 'green'"),
        (3, "unknown category '3'"),
        (None, "the value is missing"),
        (True, "expected a string, got bool"),
        ([1], "expected a string, got list"),
    ],
)
def test_a_value_that_is_not_a_category_names_the_feature_and_its_categories(
    value: object, reason: str
) -> None:
    with pytest.raises(FeatureError) as caught:
        SCHEMA.validate(Record({"size": 1.0, "colour": value, "zone": "1"}), 10)
    assert caught.value.field == "colour"
    assert reason in str(caught.value) and "['blue', 'red']" in str(caught.value)


def test_frames_take_categories_and_numbers_that_name_them() -> None:
    frame = pd.DataFrame({"size": [1.0, 2.0], "colour": ["red", "blue"], "zone": [10, 1]})
    assert SCHEMA.frame_to_matrix(frame).tolist() == [[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]]
    frame.loc[1, "colour"] = "teal"
    with pytest.raises(FeatureError) as caught:
        SCHEMA.frame_to_matrix(frame)
    assert (caught.value.field, caught.value.row) == ("colour", 1)


def test_the_schema_round_trips_and_describes_its_categories() -> None:
    assert FeatureSchema.from_meta(SCHEMA.meta()) == SCHEMA
    described = SCHEMA.describe()["properties"]
    assert described["colour"] == {"type": "string", "enum": ["blue", "red"]}
    assert described["size"] == {"type": "number"}
    assert SCHEMA.allowing_missing().nullable == {"size"}  # a category is never missing
    codes = SCHEMA.category_codes("zone", ["10", 1, "nope"])
    assert codes[:2].tolist() == [1.0, 0.0] and np.isnan(codes[2])


@pytest.mark.parametrize(
    "categories",
    [{"colour": ()}, {"colour": ("a", "a")}, {"colour": (1, 2)}, {"other": ("a",)}],
)
def test_bad_categories_are_refused(categories: dict[str, tuple[object, ...]]) -> None:
    with pytest.raises(ValueError, match="categor"):
        FeatureSchema(("size", "colour"), categories=categories)  # type: ignore[arg-type]
