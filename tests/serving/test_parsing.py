"""Each protocol's tabular layout becomes the same matrix, and bad input names its field."""

from __future__ import annotations

import math

import numpy as np
import pytest
from serving_models import IRIS, SCHEMA, iris_model

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError
from modelyard.inputs.tabular import Columns, Records, Rows
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError, known_error
from modelyard.serving.http import CSV, JSON, media_type, parse_json
from modelyard.serving.protocols import kserve_v1, mlflow_scoring, open_inference

ROW = [5.1, 3.5, 1.4, 0.2]
RECORD = dict(zip(IRIS, ROW, strict=True))
EXPECTED = np.array([ROW])


def json_matrix(payload: object, limit: int = 10) -> np.ndarray:
    return SCHEMA.validate(mlflow_scoring.json_inputs(payload), limit)


def csv_matrix(body: bytes, limit: int = 10) -> np.ndarray:
    return SCHEMA.validate(mlflow_scoring.csv_inputs(body), limit)


def tensors_to_matrix(inputs: object, limit: int = 10) -> np.ndarray:
    return SCHEMA.validate(open_inference.tensor_inputs(SCHEMA.names, inputs), limit)


def test_kserve_v1_instances_layouts() -> None:
    assert kserve_v1.decode({"instances": [ROW]}) == Rows([ROW], "instances")
    assert kserve_v1.decode({"instances": [RECORD]}) == Records([RECORD], "instances")
    assert kserve_v1.decode({"instances": []}) == Records([], "instances")
    with pytest.raises(ApiError, match="'instances'"):
        kserve_v1.decode({"inputs": [ROW]})


def test_protocols_decode_their_layouts_without_the_schema_rules() -> None:
    columns = {k: [v] for k, v in RECORD.items()}
    assert mlflow_scoring.json_inputs({"inputs": columns}) == Columns(columns, "inputs")
    split = {"dataframe_split": {"columns": list(IRIS), "data": [ROW]}}
    assert mlflow_scoring.json_inputs(split) == Rows([ROW], "dataframe_split", list(IRIS))
    per_feature = [tensor(n, [1], [v]) for n, v in RECORD.items()]
    assert open_inference.tensor_inputs(SCHEMA.names, per_feature) == Columns(
        columns, "inputs", "input tensor"
    )
    one = [tensor("input-0", [2, 4], ROW + ROW)]
    assert open_inference.tensor_inputs(SCHEMA.names, one) == Rows([ROW, ROW], "input-0")


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ({k: v for k, v in RECORD.items() if k != "petal_width"}, "petal_width", "missing"),
        ({**RECORD, "colour": 1.0}, "colour", "unknown feature"),
        ({**RECORD, "sepal_length": "5.1"}, "sepal_length", "got str"),
        ({**RECORD, "sepal_length": None}, "sepal_length", "value is missing"),
        ({**RECORD, "sepal_length": True}, "sepal_length", "got bool"),
        ({**RECORD, "sepal_length": math.nan}, "sepal_length", "finite"),
        ({**RECORD, "sepal_length": math.inf}, "sepal_length", "finite"),
    ],
)
def test_bad_records_name_the_field(row: dict, field: str, reason: str) -> None:
    with pytest.raises(FeatureError) as raised:
        SCHEMA.validate(Records([RECORD, row], "records"), 10)
    assert raised.value.field == field
    assert raised.value.row == 1
    assert reason in str(raised.value)
    error = known_error(raised.value)
    assert error.status == 422
    assert error.body()["error"]["field"] == field


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ([5.1, 3.5, 1.4, "x"], "petal_width"),
        ([5.1, 3.5, None, 0.2], "petal_length"),
        ([5.1, False, 1.4, 0.2], "sepal_width"),
        ([5.1, 3.5, 1.4, math.inf], "petal_width"),
    ],
)
def test_bad_positional_values_name_the_field(values: list, field: str) -> None:
    with pytest.raises(FeatureError) as raised:
        SCHEMA.validate(Rows([ROW, values], "instances"), 10)
    assert (raised.value.field, raised.value.row) == (field, 1)


def test_positional_rows_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(FeatureError, match="expected 4 values"):
        SCHEMA.validate(Rows([ROW, ROW[:3]], "instances"), 10)


def test_empty_and_oversized_batches() -> None:
    with pytest.raises(EmptyBatchError):
        SCHEMA.validate(Records([], "records"), 10)
    with pytest.raises(BatchTooLargeError) as raised:
        SCHEMA.validate(Records([RECORD] * 11, "records"), 10)
    error = known_error(raised.value)
    assert (error.status, error.code, error.field) == (413, "batch_too_large", "records")
    assert known_error(EmptyBatchError("empty", "records")).code == "empty_batch"


def test_json_parsing_errors_and_non_finite_literals() -> None:
    with pytest.raises(ApiError) as raised:
        parse_json(b'{"sepal_length": ')
    assert (raised.value.status, raised.value.code) == (400, "malformed_json")
    with pytest.raises(ApiError):
        parse_json(b"")
    parsed = parse_json(b'{"a": NaN, "b": 1e999}')
    assert math.isnan(parsed["a"])
    assert parsed["b"] == math.inf


# --- MLflow scoring layouts ------------------------------------------------------------
@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": list(IRIS), "data": [ROW]}},
        {"dataframe_split": {"data": [ROW]}},
        {"dataframe_records": [RECORD]},
        {"instances": [RECORD]},
        {"instances": [ROW]},
        {"inputs": {k: [v] for k, v in RECORD.items()}},
        {"inputs": [RECORD], "params": {"anything": 1}},
    ],
)
def test_mlflow_json_layouts(payload: dict) -> None:
    assert np.array_equal(json_matrix(payload), EXPECTED)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([RECORD], "exactly one of"),
        ({"records": [RECORD]}, "exactly one of"),
        ({"instances": [RECORD], "inputs": [RECORD]}, "exactly one of"),
        ({"dataframe_split": [ROW]}, "dataframe_split"),
        ({"instances": [RECORD], "params": [1]}, "params"),
    ],
)
def test_mlflow_json_layout_errors(payload: object, message: str) -> None:
    with pytest.raises(ApiError) as raised:
        json_matrix(payload)
    assert raised.value.status == 400
    assert message in raised.value.message


def test_mlflow_csv() -> None:
    body = b"petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n"
    assert np.array_equal(csv_matrix(body), EXPECTED)
    with pytest.raises(FeatureError) as raised:
        csv_matrix(b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,abc,0.2\n")
    assert raised.value.field == "petal_length"
    assert "got str" in raised.value.reason
    with pytest.raises(ApiError, match="line 2 has 3 fields"):
        csv_matrix(b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4\n")


@pytest.mark.parametrize("cell", ["", " "])
def test_an_empty_csv_cell_is_a_missing_value(cell: str) -> None:
    header = b"sepal_length,sepal_width,petal_length,petal_width\n"
    body = header + b"5.1,3.5,1.4,0.2\n5.1," + cell.encode() + b",1.4,0.2\n"
    with pytest.raises(FeatureError) as raised:
        csv_matrix(body)
    assert (raised.value.field, raised.value.row) == ("sepal_width", 1)
    assert str(raised.value) == "row 1, field 'sepal_width': the value is missing; send a number"


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", None),
        ("application/json; charset=utf-8", None),
        ("text/csv", None),
        ("text/plain", 415),
        ("application/json; charset=latin-1", 415),
        ("application/json; format=pandas-split", 415),
        (None, 415),
    ],
)
def test_mlflow_content_types(content_type: str | None, status: int | None) -> None:
    if status is None:
        assert media_type(content_type, (CSV, JSON)) in (JSON, CSV)
        return
    with pytest.raises(ApiError) as raised:
        media_type(content_type, (CSV, JSON))
    assert raised.value.status == status
    assert raised.value.field == "Content-Type"


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", "got 'text/plain'"),
        ("text/csv", "got 'text/csv'"),
        (None, "header is missing"),
        ("application/json; charset=utf-16", "UTF-8"),
    ],
)
def test_json_must_be_declared_as_json(content_type: str | None, text: str) -> None:
    assert media_type("Application/JSON; charset=UTF-8", (JSON,)) == JSON
    with pytest.raises(ApiError) as raised:
        media_type(content_type, (JSON,))
    assert raised.value.status == 415
    assert text in raised.value.message


# --- Open Inference Protocol tensors -------------------------------------------------------
def tensor(name: str, shape: list, data: list, datatype: str = "FP64") -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


@pytest.mark.parametrize(
    "inputs",
    [
        [tensor("input-0", [1, 4], ROW)],
        [tensor("input-0", [1, 4], [ROW], "FP32")],
        [tensor(name, [1], [value]) for name, value in RECORD.items()],
        [tensor(name, [1, 1], [[value]]) for name, value in reversed(RECORD.items())],
    ],
)
def test_v2_tensor_layouts(inputs: list) -> None:
    assert np.array_equal(tensors_to_matrix(inputs), EXPECTED)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("input-0", [1, 3], ROW[:3])], "shape must be [rows, 4]"),
        ([tensor("input-0", [2, 4], ROW)], "needs 8 values"),
        ([tensor("input-0", [1, 4], ROW, "BYTES")], "datatype 'BYTES'"),
        ([tensor("input-0", [1, 4], ROW, "BOOL")], "datatype 'BOOL'"),
        ([{"name": "input-0", "data": ROW}], "lacks shape, datatype"),
        ([tensor("input-0", [1, 4], [5.1, 3.5, "x", 0.2])], "expected a number"),
        (
            [tensor(n, [1], [v]) for n, v in RECORD.items() if n != "sepal_width"],
            "required input tensor is missing",
        ),
        (
            [
                tensor(n, [2 if n == "sepal_width" else 1], [v] * (2 if n == "sepal_width" else 1))
                for n, v in RECORD.items()
            ],
            "rows",
        ),
        ([], "non-empty list"),
    ],
)
def test_v2_tensor_errors(inputs: list, message: str) -> None:
    with pytest.raises((ApiError, FeatureError)) as raised:
        tensors_to_matrix(inputs)
    assert message in str(raised.value)
    assert known_error(raised.value).status in (400, 422)


def test_v2_outputs_and_classification() -> None:
    model = iris_model()
    matrix = np.array([ROW, [7.7, 3.0, 6.1, 2.3]])
    scores = model.score(matrix)
    prediction = Prediction(model, scores.labels, scores.probabilities)
    wanted = open_inference.requested_outputs(
        {
            "outputs": [
                {"name": "predict"},
                {"name": "predict_proba", "parameters": {"classification": 2}},
            ]
        }
    )
    labels, top = open_inference.build_outputs(prediction, wanted)
    assert labels == {
        "name": "predict",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["setosa", "virginica"],
    }
    assert top["shape"] == [2, 2] and top["datatype"] == "BYTES"
    score, index, label = top["data"][0].split(":")
    assert (index, label) == ("0", "setosa")
    assert math.isclose(float(score), scores.probabilities[0, 0], abs_tol=1e-6)
    assert top["data"][2].split(":")[2] == "virginica"
    default = open_inference.build_outputs(prediction, open_inference.requested_outputs({}))
    assert [o["name"] for o in default] == ["predict", "predict_proba"]
    assert default[1]["shape"] == [2, 3]
    for bad in (
        {"outputs": [{"name": "nope"}]},
        {"outputs": [{"name": "predict", "parameters": {"classification": 0}}]},
    ):
        with pytest.raises(ApiError):
            open_inference.requested_outputs(bad)
