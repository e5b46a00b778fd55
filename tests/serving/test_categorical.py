"""Categorical features end to end: trained from a CSV, compiled, served by every protocol.

A CSV with a text column (``colour``, categories found by themselves) and a column of codes
that look like numbers (``zone``, named under ``data.categorical``) trains a random forest
behind one-hot encoding; the registered version compiles to ONNX, and every protocol takes
the categories as strings. A scikit-learn pipeline that one-hot encodes a string column by
name, logged by plain MLflow code, is served too: its categories come from its encoder.
An unknown category is a 422 naming the feature and the categories it takes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from api_server import Api, start_api

from modelyard.config import Settings
from support import MlflowServer

pytestmark = pytest.mark.integration

COLOURS = ["blue", "green", "red"]
ZONES = ["1", "2", "3", "10"]
ROWS = [
    {"size": 0.4, "colour": "red", "zone": "10", "weight": 1.5},
    {"size": 1.8, "colour": "blue", "zone": "2", "weight": 0.2},
    {"size": -0.3, "colour": "green", "zone": "1", "weight": 2.5},
    {"size": 1.1, "colour": "green", "zone": "3", "weight": -1.0},
]
FEATURES = ["size", "colour", "zone", "weight"]


def _data(rows: int = 400, seed: int = 3) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.normal(0.5, 1.0, rows).round(2),
            "colour": rng.choice(COLOURS, rows),
            "zone": rng.choice([int(z) for z in ZONES], rows),  # numbers in the CSV
            "weight": rng.normal(1.0, 1.0, rows).round(2),
        }
    )
    score = frame["size"] + (frame["colour"] == "red") * 1.5 - (frame["zone"] == 10) * 2.0
    frame["grade"] = np.where(score > 1.0, "high", np.where(score > 0.0, "mid", "low"))
    return frame


def _log_plain_pipeline(tracking_uri: str) -> tuple[str, list[Any]]:
    """A pipeline that one-hot encodes ``colour`` by name, logged by plain MLflow code."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = _data(seed=4)[["size", "colour", "weight", "grade"]]
    x = frame.drop(columns="grade")
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("onehot", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                        ("scale", StandardScaler(), ["size", "weight"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    ).fit(x, frame["grade"])
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"categorical-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(x, pipeline.predict(x)),
            input_example=x.head(3),
            pip_requirements=["scikit-learn"],
        )
    rows = pd.DataFrame([{k: r[k] for k in ("size", "colour", "weight")} for r in ROWS])
    return run.info.run_id, pipeline.predict(rows).tolist()


@pytest.fixture(scope="module")
def served(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[tuple[Api, dict[str, list[Any]]]]:
    import mlflow.sklearn
    import pandas as pd

    from modelyard.training import train

    home = tmp_path_factory.mktemp("categorical-home")
    csv = home / "grades.csv"
    _data().to_csv(csv, index=False)
    name = f"grades-{uuid.uuid4().hex[:6]}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=home, mlflow_tracking_uri=mlflow_server.url, model_name=name
    )
    result = train(
        settings,
        {
            "data": {"source": "csv", "path": str(csv), "target": "grade", "categorical": ["zone"]},
            "model": {"estimator": "random_forest"},
        },
    )
    mlflow.set_tracking_uri(mlflow_server.url)
    logged = mlflow.sklearn.load_model(f"models:/{name}/{result.version}")
    trained = logged.predict(pd.DataFrame(ROWS)).tolist()  # the logged model takes strings
    run_id, plain = _log_plain_pipeline(mlflow_server.url)
    registry = SimpleNamespace(tracking_uri=mlflow_server.url, model_name=name)
    log = artifacts_dir / "logs" / "serving" / f"categorical-{os.getpid()}.log"
    models = f"{name}@{result.version},plain@{run_id}"
    with start_api(
        registry, home / "api", log, models=models, model_ref=str(result.version)
    ) as api:
        yield api, {name: trained, "plain": plain, "name": [name]}


def _labels(response: Any) -> list[Any]:
    assert response.status_code == 200, response.text
    return [p["label"] for p in response.json()["predictions"]]


def test_the_trained_model_compiles_and_describes_its_categories(
    served: tuple[Api, dict[str, list[Any]]],
) -> None:
    api, expected = served
    name = expected["name"][0]
    models = {m["name"]: m for m in api.client.get("/").json()["models"]}
    assert models[name]["runtime"] == "onnxruntime"
    assert models["plain"]["runtime"] == "sklearn"  # selects its columns by name
    schema = api.client.get("/").json()["input_schema"]
    assert schema["properties"]["colour"] == {"type": "string", "enum": COLOURS}
    assert schema["properties"]["zone"] == {"type": "string", "enum": sorted(ZONES)}
    assert schema["properties"]["size"] == {"type": "number"}
    metadata = api.client.get(f"/v2/models/{name}").json()
    types = {t["name"]: t["datatype"] for t in metadata["inputs"]}
    assert types == {"size": "FP64", "colour": "BYTES", "zone": "BYTES", "weight": "FP64"}


def test_every_protocol_takes_categories_as_strings(
    served: tuple[Api, dict[str, list[Any]]],
) -> None:
    api, expected = served
    name = expected["name"][0]
    want = expected[name]
    assert _labels(api.client.post("/predict", json={"records": ROWS})) == want
    assert _labels(api.client.post(f"/models/{name}/predict", json={"records": ROWS})) == want
    split = {"columns": FEATURES, "data": [[r[f] for f in FEATURES] for r in ROWS]}
    invocations = api.client.post("/invocations", json={"dataframe_split": split})
    assert invocations.status_code == 200, invocations.text
    assert invocations.json()["predictions"] == want
    header = ",".join(FEATURES)
    body = "\n".join([header, *(",".join(str(r[f]) for f in FEATURES) for r in ROWS)])
    csv = api.client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert csv.status_code == 200, csv.text
    assert csv.json()["predictions"] == want  # "10" in a CSV is the zone "10"
    kserve = api.client.post(f"/v1/models/{name}:predict", json={"instances": ROWS})
    assert kserve.status_code == 200, kserve.text
    assert kserve.json()["predictions"] == want
    tensors = [
        {
            "name": f,
            "shape": [len(ROWS)],
            "datatype": "BYTES" if f in ("colour", "zone") else "FP64",
            "data": [r[f] for r in ROWS],
        }
        for f in FEATURES
    ]
    v2 = api.client.post(f"/v2/models/{name}/infer", json={"inputs": tensors})
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == want


def test_a_plain_mlflow_pipeline_with_a_one_hot_encoder_is_served(
    served: tuple[Api, dict[str, list[Any]]],
) -> None:
    api, expected = served
    rows = [{k: r[k] for k in ("size", "colour", "weight")} for r in ROWS]
    assert (
        _labels(api.client.post("/models/plain/predict", json={"records": rows}))
        == (expected["plain"])
    )
    refused = api.client.post(
        "/models/plain/predict", json={"records": [{**rows[0], "colour": "purple"}]}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "colour"


def test_an_unknown_category_is_refused_naming_the_categories(
    served: tuple[Api, dict[str, list[Any]]],
) -> None:
    api, _ = served
    response = api.client.post("/predict", json={"records": [{**ROWS[0], "colour": "pink"}]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "colour"
    assert "pink" in error["message"] and "blue" in error["message"]
    v2 = api.client.post(
        "/v2/models/plain/infer",
        json={
            "inputs": [
                {"name": "size", "shape": [1], "datatype": "FP64", "data": [1.0]},
                {"name": "colour", "shape": [1], "datatype": "FP64", "data": [2.0]},
                {"name": "weight", "shape": [1], "datatype": "FP64", "data": [1.0]},
            ]
        },
    )
    assert v2.status_code == 400 or v2.status_code == 422, v2.text
    assert "colour" in v2.text
