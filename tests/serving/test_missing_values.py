"""Missing values through every protocol: a null is NaN for a model that imputes it.

``iris-imputed`` (a SimpleImputer in front, compiled to ONNX, every feature nullable) takes
a JSON null, an empty CSV cell and a V2 null (or a NaN in binary data) and answers what the
scikit-learn pipeline answers for NaN there; ``iris`` (nothing nullable) still refuses them
with the error it always gave.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inprocess import serving
from serving_models import IMPUTED, IRIS, imputed_pipeline
from starlette.testclient import TestClient

from modelyard.inference.model import load_prepared
from modelyard.inference.prepare import _features, read_prepared, sklearn_prepared, write_prepared
from modelyard.inputs.tabular import FeatureSchema
from modelyard.registry import VersionInfo

GAPPY = [
    {"sepal_length": 5.1, "sepal_width": None, "petal_length": 1.4, "petal_width": 0.2},
    {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": None, "petal_width": None},
    {"sepal_length": None, "sepal_width": 2.8, "petal_length": 4.1, "petal_width": 1.3},
]
MISSING = "the value is missing; send a number"
NULLABLE = FeatureSchema(IRIS).allowing_missing()


def expected(rows: list[dict[str, Any]]) -> list[str]:
    """What the pipeline itself predicts with NaN for every null."""
    matrix = np.array([[math.nan if r[n] is None else r[n] for n in IRIS] for r in rows])
    return [str(label) for label in imputed_pipeline().predict(matrix)]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """``iris-imputed`` on every endpoint, ``iris`` beside it by name."""
    with serving(
        tmp_path_factory.mktemp("api-home"),
        model_name=IMPUTED,
        models=f"{IMPUTED}@champion,iris@champion",
    ) as client:
        yield client


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_the_answers_differ_from_imputing_nothing() -> None:
    """The rows are chosen so that a wrong fill (0 instead of the mean) changes an answer."""
    zeros = np.array([[r[n] or 0.0 for n in IRIS] for r in GAPPY])
    assert [str(x) for x in imputed_pipeline().predict(zeros)] != expected(GAPPY)


def test_own_protocol_takes_a_null(api: TestClient) -> None:
    assert ok(api.post("/predict", json=GAPPY[0]))["label"] == expected(GAPPY[:1])[0]
    body = ok(api.post("/predict", json={"records": GAPPY}))
    assert [p["label"] for p in body["predictions"]] == expected(GAPPY)
    refused = api.post("/predict", json={**GAPPY[0], "sepal_width": "wide"})
    assert refused.status_code == 422 and "sepal_width" in refused.text
    schema = ok(api.get("/"))["input_schema"]
    assert schema["properties"]["sepal_width"] == {"type": ["number", "null"]}


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_records": GAPPY},
        {"dataframe_split": {"columns": list(IRIS), "data": [list(r.values()) for r in GAPPY]}},
        {"instances": [list(r.values()) for r in GAPPY]},
        {"inputs": {n: [r[n] for r in GAPPY] for n in IRIS}},
    ],
)
def test_mlflow_invocations_take_a_null(api: TestClient, payload: dict[str, Any]) -> None:
    assert ok(api.post("/invocations", json=payload))["predictions"] == expected(GAPPY)


def test_mlflow_invocations_take_an_empty_csv_cell(api: TestClient) -> None:
    lines = [",".join(IRIS)] + [
        ",".join("" if r[n] is None else str(r[n]) for n in IRIS) for r in GAPPY
    ]
    response = api.post(
        "/invocations", content="\n".join(lines) + "\n", headers={"content-type": "text/csv"}
    )
    assert ok(response)["predictions"] == expected(GAPPY)


def test_kserve_v1_takes_a_null(api: TestClient) -> None:
    path = f"/v1/models/{IMPUTED}:predict"
    rows = ok(api.post(path, json={"instances": [list(r.values()) for r in GAPPY]}))
    records = ok(api.post(path, json={"instances": GAPPY}))
    assert rows["predictions"] == records["predictions"] == expected(GAPPY)


def test_open_inference_takes_a_null_in_fp64_data(api: TestClient) -> None:
    tensor = {
        "name": "x",
        "shape": [len(GAPPY), 4],
        "datatype": "FP64",
        "data": [[r[n] for n in IRIS] for r in GAPPY],
    }
    body = ok(api.post(f"/v2/models/{IMPUTED}/infer", json={"inputs": [tensor]}))
    assert body["outputs"][0]["data"] == expected(GAPPY)
    per_feature = [
        {"name": n, "shape": [len(GAPPY)], "datatype": "FP32", "data": [r[n] for r in GAPPY]}
        for n in IRIS
    ]
    columns = ok(api.post(f"/v2/models/{IMPUTED}/infer", json={"inputs": per_feature}))
    assert columns["outputs"][0]["data"] == expected(GAPPY)


def test_open_inference_binary_data_carries_a_missing_value_as_nan(api: TestClient) -> None:
    values = np.array([[math.nan if r[n] is None else r[n] for n in IRIS] for r in GAPPY])
    blob = values.astype("<f8").tobytes()
    header = (
        '{"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", '
        f'"parameters": {{"binary_data_size": {len(blob)}}}}}]}}'
    ).encode()
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }
    response = api.post(f"/v2/models/{IMPUTED}/infer", content=header + blob, headers=headers)
    assert ok(response)["outputs"][0]["data"] == expected(GAPPY)
    refused = api.post("/v2/models/iris/infer", content=header + blob, headers=headers)
    assert refused.status_code == 400
    assert refused.json() == {"error": f"row 0, field 'sepal_width': {MISSING}"}


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("/v1/models/iris:predict", {"instances": GAPPY}, f"row 0, field 'sepal_width': {MISSING}"),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, None, 3, 4]}
                ]
            },
            f"row 0, field 'sepal_width': {MISSING}",
        ),
    ],
)
def test_a_model_without_nullable_features_refuses_a_null_as_before(
    api: TestClient, path: str, payload: dict[str, Any], message: str
) -> None:
    response = api.post(path, json=payload)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": message}


# --- which features a model logged by other tools takes missing ------------------------------
def test_an_optional_signature_column_or_an_imputing_model_makes_features_nullable() -> None:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from sklearn.linear_model import LogisticRegression

    optional = ModelSignature(
        inputs=Schema([ColSpec("double", n, required=n != "petal_width") for n in IRIS])
    )
    schema, _ = _features(optional, None, None)
    assert schema == FeatureSchema(IRIS, frozenset({"petal_width"}))
    imputing, _ = _features(optional, imputed_pipeline(), None)
    assert imputing.nullable == frozenset(IRIS)
    plain = LogisticRegression(max_iter=300).fit(np.eye(4), ["a", "b", "a", "b"])
    assert _features(None, plain, None)[0].nullable == frozenset()


def test_a_boosted_model_makes_every_feature_nullable() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBRegressor

    x = np.arange(20.0).reshape(10, 2)
    booster = XGBRegressor(n_estimators=2).fit(x, x[:, 0])
    assert _features(None, booster, None)[0].nullable == frozenset({"0", "1"})
    behind_a_scaler = make_pipeline(StandardScaler(), XGBRegressor(n_estimators=2)).fit(x, x[:, 0])
    assert _features(None, behind_a_scaler, None)[0].nullable == frozenset({"0", "1"})


def test_a_logged_example_with_missing_values_is_kept_as_nulls_and_warms_up(
    tmp_path: Path,
) -> None:
    """The version's example (shown by the API, scored at load) holds a NaN: null where the
    feature is nullable, the row left out where it is not."""
    example = [
        {**GAPPY[0], "sepal_width": math.nan},
        dict(zip(IRIS, [6.7, 3.0, 5.2, 2.3], strict=True)),
    ]
    meta, graph = sklearn_prepared(copy.deepcopy(imputed_pipeline()), NULLABLE, example)
    assert meta["input_example"] == [GAPPY[0], example[1]]
    write_prepared(tmp_path, meta, graph)
    prepared = read_prepared(tmp_path)
    assert prepared is not None and prepared.inputs == NULLABLE
    info = VersionInfo(name=IMPUTED, version="7", run_id=None, aliases=(), created_at=0.0)
    loaded = load_prepared(prepared, info, "7")  # scores the example once
    assert loaded.input_example == [GAPPY[0], example[1]]
    strict, _ = sklearn_prepared(copy.deepcopy(imputed_pipeline()), FeatureSchema(IRIS), example)
    assert strict["input_example"] == [example[1]]
