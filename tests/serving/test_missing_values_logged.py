"""Models logged by plain MLflow code that handle missing values take a null when served.

An XGBoost classifier (NaN handled natively) and a scikit-learn pipeline that starts with a
SimpleImputer, each logged into a real `mlflow server` without modelyard's prepared folder:
`modelyard serve` prepares them, marks every feature nullable and answers a null as the
model itself answers NaN there.
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

from support import MlflowServer

pytestmark = pytest.mark.integration

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [[5.1, None, 1.4, 0.2], [6.2, 2.9, None, None], [None, 3.0, 6.1, 2.3]]


def _log(tracking_uri: str) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """Run ids of the two models and what each predicts for ROWS (NaN for None)."""
    import mlflow
    import mlflow.sklearn
    import mlflow.xgboost
    import pandas as pd
    import xgboost
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"missing-{uuid.uuid4().hex[:8]}")
    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=COLUMNS)
    gappy = frame.mask(np.random.default_rng(2).random(frame.shape) < 0.1)
    labels = np.asarray(["setosa", "versicolor", "virginica"])[y]
    booster = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(gappy, y)
    imputing = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    imputing.fit(gappy, labels)
    runs: dict[str, str] = {}
    with mlflow.start_run() as run:  # a signature of complete data: every column required
        mlflow.xgboost.log_model(
            booster, name="model", signature=infer_signature(frame, y), pip_requirements=[]
        )
    runs["xgb"] = run.info.run_id
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            imputing,
            name="model",
            signature=infer_signature(frame, labels),  # every column required here too
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["numpy.dtype"],  # the imputer's fitted dtype
        )
    runs["imputing"] = run.info.run_id
    rows = pd.DataFrame(np.array(ROWS, dtype=np.float64), columns=COLUMNS)
    return runs, {
        "xgb": booster.predict(rows).tolist(),
        "imputing": imputing.predict(rows).tolist(),
    }


@pytest.fixture(scope="module")
def served(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory, artifacts_dir: Path
) -> Iterator[tuple[Api, dict[str, list[Any]]]]:
    runs, expected = _log(mlflow_server.url)
    registry = SimpleNamespace(tracking_uri=mlflow_server.url, model_name="xgb")
    log = artifacts_dir / "logs" / "serving" / f"missing-values-{os.getpid()}.log"
    models = ",".join(f"{name}@{run_id}" for name, run_id in runs.items())
    home = tmp_path_factory.mktemp("missing-home")
    with start_api(registry, home, log, models=models, model_ref=f"xgb@{runs['xgb']}") as api:
        yield api, expected


def test_a_null_reaches_the_model_as_nan(served: tuple[Api, dict[str, list[Any]]]) -> None:
    api, expected = served
    records = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
    models = {m["name"]: m for m in api.client.get("/").json()["models"]}
    for name in ("xgb", "imputing"):
        assert models[name]["runtime"] == "onnxruntime"
        response = api.client.post(f"/models/{name}/predict", json={"records": records})
        assert response.status_code == 200, response.text
        assert [p["label"] for p in response.json()["predictions"]] == expected[name]
    v2 = api.client.post(
        "/v2/models/xgb/infer",
        json={"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP64", "data": ROWS}]},
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == expected["xgb"]
    schema = api.client.get("/").json()["input_schema"]
    assert all(p == {"type": ["number", "null"]} for p in schema["properties"].values())
