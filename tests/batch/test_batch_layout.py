"""The columns a batch carries and writes, and the refusals that name them."""

from __future__ import annotations

import pytest
from batch_support import IRIS

from modelyard.batch.layout import parse_keys, plan_layout
from modelyard.errors import ConfigError
from modelyard.inputs.tabular import FeatureSchema

SCHEMA = FeatureSchema(IRIS)
CLASSES = ("setosa", "versicolor", "virginica")


def test_every_non_feature_column_is_carried_by_default() -> None:
    layout = plan_layout(["id", *IRIS, "species"], SCHEMA, CLASSES, None, "input x.csv")
    assert layout.keys == ("id", "species")
    assert layout.output_columns == [
        "id",
        "species",
        "label",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
    ]
    assert layout.rejects_columns == ["row", "reason", "field", "id", "species", *IRIS]


def test_key_names_the_columns_to_carry_and_empty_carries_none() -> None:
    columns = ["id", *IRIS, "species"]
    assert plan_layout(columns, SCHEMA, CLASSES, parse_keys("id"), "x").keys == ("id",)
    assert plan_layout(columns, SCHEMA, CLASSES, parse_keys(""), "x").keys == ()
    assert parse_keys(None) is None


def test_missing_features_are_named_with_what_the_file_has() -> None:
    with pytest.raises(ConfigError) as refused:
        plan_layout(["id", "sepal_length", "petal_len"], SCHEMA, CLASSES, None, "input x.csv")
    assert str(refused.value) == (
        "input x.csv lacks the model's feature columns sepal_width, petal_length, petal_width "
        "(the model takes sepal_length, sepal_width, petal_length, petal_width; the file has "
        "id, sepal_length, petal_len)"
    )


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"--key: input x.csv has no column ident"):
        plan_layout(["id", *IRIS], SCHEMA, CLASSES, ("ident",), "input x.csv")


def test_a_carried_column_may_not_clash_with_the_output() -> None:
    with pytest.raises(ConfigError, match="the column label would clash"):
        plan_layout([*IRIS, "label"], SCHEMA, CLASSES, None, "input x.csv")
    assert plan_layout([*IRIS, "label"], SCHEMA, CLASSES, (), "x").keys == ()
