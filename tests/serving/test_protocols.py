"""MLflow scoring, Open Inference (V2) and KServe V1 over HTTP, on the models from MLflow.

One request per protocol against a real `modelyard serve` process, so that loading the
trained models from MLflow and real HTTP stay covered; versions and aliases come from the
registry. Each protocol's layouts, answers and refusals are tested in process, in
``protocols/``.
"""

from __future__ import annotations

import pytest
from serving_support import IRIS_ROW, VIRGINICA_ROW

pytestmark = pytest.mark.integration

COLUMNS = list(IRIS_ROW)
ROWS = [list(IRIS_ROW.values()), list(VIRGINICA_ROW.values())]


def test_mlflow_scoring(api, trained_registry) -> None:
    payload = {"dataframe_split": {"columns": COLUMNS, "data": ROWS}}
    response = api.post("/invocations", json=payload)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "predictions": ["setosa", "virginica"],
        "model": {
            "name": trained_registry.model_name,
            "version": trained_registry.champion_version,
        },
    }
    assert response.headers["x-model-version"] == trained_registry.champion_version
    ping = api.get("/ping")
    assert ping.status_code == 200
    assert ping.headers["x-model-version"] == trained_registry.champion_version


def test_open_inference_metadata_from_the_registry(api, trained_registry) -> None:
    meta = api.get(f"/v2/models/{trained_registry.model_name}").json()
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert meta["parameters"]["version"] == trained_registry.champion_version
    assert "champion" in meta["parameters"]["aliases"]
    for ref, version in [
        ("challenger", None),
        (trained_registry.baseline_version, trained_registry.baseline_version),
        ("champion", trained_registry.champion_version),
    ]:
        response = api.get(f"/v2/models/iris/versions/{ref}")
        assert response.status_code == 200, response.text
        if version:
            assert response.json()["parameters"]["version"] == version
        ready = api.get(f"/v2/models/iris/versions/{ref}/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
    missing = api.get("/v2/models/iris/versions/999")
    assert missing.status_code == 404 and "999" in missing.json()["error"]


def test_open_inference_infer(api, trained_registry) -> None:
    payload = {
        "id": "req-1",
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": ROWS}],
    }
    for path, version in [
        ("/v2/models/iris/infer", trained_registry.champion_version),
        (
            f"/v2/models/iris/versions/{trained_registry.baseline_version}/infer",
            trained_registry.baseline_version,
        ),
    ]:
        response = api.post(path, json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "iris" and body["id"] == "req-1"
        assert body["model_version"] == version
        assert response.headers["x-model-version"] == version
        predict, proba = body["outputs"]
        assert predict == {
            "name": "predict",
            "shape": [2],
            "datatype": "BYTES",
            "data": ["setosa", "virginica"],
        }
        assert proba["name"] == "predict_proba" and proba["shape"] == [2, 3]
        assert len(proba["data"]) == 6


def test_kserve_v1(api, trained_registry) -> None:
    assert api.get("/v1/models").json() == {"models": [trained_registry.model_name]}
    response = api.post("/v1/models/iris:predict", json={"instances": [IRIS_ROW, VIRGINICA_ROW]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "predictions": ["setosa", "virginica"],
        "model_name": trained_registry.model_name,
        "model_version": trained_registry.champion_version,
    }
    assert response.headers["x-model-version"] == trained_registry.champion_version


# --- probabilities ---------------------------------------------------------------------------
def test_forest_probabilities_are_the_same_plain_values_in_every_protocol(api) -> None:
    """The champion is a forest scored in float32 by ONNX Runtime: rows where its trees
    disagree answer vote fractions (0.68), not float32 sums (0.6799999), everywhere."""
    from sklearn.datasets import load_iris

    data = load_iris()
    rows = data.data[50:150:3].tolist()  # versicolor and virginica, where the trees disagree
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    own = api.post("/predict", json={"records": records})
    assert own.status_code == 200, own.text
    maps = [p["probabilities"] for p in own.json()["predictions"]]
    classes = list(maps[0])
    own_values = [[m[c] for c in classes] for m in maps]

    tensor = {"name": "x", "shape": [len(rows), 4], "datatype": "FP64", "data": rows}
    v2 = api.post("/v2/models/iris/infer", json={"inputs": [tensor]})
    assert v2.status_code == 200, v2.text
    proba = v2.json()["outputs"][1]["data"]
    assert [proba[i : i + 3] for i in range(0, len(proba), 3)] == own_values

    top = {"name": "predict_proba", "parameters": {"classification": 3}}
    ranked = api.post("/v2/models/iris/infer", json={"inputs": [tensor], "outputs": [top]})
    for i, row in enumerate(own_values):
        for text in ranked.json()["outputs"][0]["data"][3 * i : 3 * i + 3]:
            score, index, _ = text.split(":")
            assert score == f"{row[int(index)]:.6f}"

    flat = [p for row in own_values for p in row]
    assert any(0 < p < 1 for p in flat)  # the trees disagree on some rows
    for p in flat:
        assert p == round(p, 6), f"{p} carries float32 noise"
