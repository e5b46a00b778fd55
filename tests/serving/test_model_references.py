"""Models users already have, by every reference `mlflow models serve -m` takes.

Models here are logged by plain MLflow code (not modelyard's training) into a real
`mlflow server`: a scikit-learn pipeline with a column signature (registered, two versions),
a bare estimator with no signature in a run, a pyfunc with a tensor signature, and a saved
model folder. One `modelyard serve` binds each reference form to a name and answers through
every protocol; a folder is also served with no tracking server at all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from api_server import Api, start_api

from support import MlflowServer, free_port, modelyard_argv, running, service_env

pytestmark = pytest.mark.integration

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ADMIN_KEY = "references-admin-key"


# A pyfunc on a (rows, 4) float32 tensor, logged as MLflow's "models from code": the index of
# each row's largest value.
ARGMAX_MODEL = """
import mlflow
import numpy as np


class ArgmaxModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.asarray(model_input).argmax(axis=1)


mlflow.models.set_model(ArgmaxModel())
"""


@dataclass(frozen=True)
class PlainModels:
    name: str  # registered: version 1 the pipeline (champion), version 2 a forest
    run_id: str  # a run with one model, logged without a signature
    model_id: str  # that model's id (m-...)
    tensor_run_id: str  # a run with the pyfunc
    boosted: dict[str, str]  # XGBoost and LightGBM models by plain MLflow code: name -> run id
    folder: Path  # a saved MLflow model folder (the pipeline)
    expected: dict[str, list[Any]]  # what each model predicts for ROWS


def _log_models(tracking_uri: str, folder: Path) -> PlainModels:
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.types.schema import Schema, TensorSpec
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=COLUMNS)
    labels = np.asarray(["setosa", "versicolor", "virginica"])[y]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, labels)
    # no signature: its features are the names it was fitted with
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame, y)
    bare = LogisticRegression(max_iter=500, C=0.1).fit(x, y)
    name = f"plain-{uuid.uuid4().hex[:8]}"
    requirements = ["scikit-learn"]
    mlflow.set_experiment(name)
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(frame, labels),
            registered_model_name=name,
            pip_requirements=requirements,
        )
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            forest,
            name="model",
            registered_model_name=name,
            pip_requirements=requirements,
            serialization_format="cloudpickle",  # as many users log tree models
        )
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", "1")
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(bare, name="model", pip_requirements=requirements)
    code = folder.parent / "argmax_model.py"
    code.write_text(ARGMAX_MODEL)
    with mlflow.start_run() as tensor_run:
        mlflow.pyfunc.log_model(
            name="argmax",
            python_model=str(code),
            signature=mlflow.models.ModelSignature(
                inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 4))])
            ),
            pip_requirements=["numpy"],
        )
    boosted, expected = _log_boosted(frame, y)
    mlflow.sklearn.save_model(
        pipeline,
        str(folder),
        signature=infer_signature(frame, labels),
        pip_requirements=requirements,
    )
    rows = np.asarray(ROWS)
    return PlainModels(
        name=name,
        run_id=run.info.run_id,
        model_id=logged.model_id,
        tensor_run_id=tensor_run.info.run_id,
        boosted=boosted,
        folder=folder,
        expected={
            **expected,
            "pipeline": pipeline.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist(),
            "forest": forest.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist(),
            "bare": bare.predict(rows).tolist(),
            "argmax": rows.argmax(axis=1).tolist(),
        },
    )


def _log_boosted(frame: Any, y: np.ndarray) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """An XGBClassifier with a signature, a native XGBoost booster with none and an
    LGBMClassifier, each in a run of its own; what each predicts for ROWS."""
    import lightgbm
    import mlflow
    import mlflow.lightgbm
    import mlflow.xgboost
    import pandas as pd
    import xgboost
    from mlflow.models import infer_signature

    rows = pd.DataFrame(ROWS, columns=COLUMNS)
    classifier = xgboost.XGBClassifier(n_estimators=30, max_depth=3, random_state=0)
    classifier.fit(frame, y)
    booster = xgboost.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
        xgboost.DMatrix(frame.to_numpy(), label=y),
        num_boost_round=20,
    )
    light = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1, random_state=0).fit(frame, y)
    runs: dict[str, str] = {}
    with mlflow.start_run() as run:
        mlflow.xgboost.log_model(
            classifier, name="model", signature=infer_signature(frame, y), pip_requirements=[]
        )
    runs["xgb"] = run.info.run_id
    with mlflow.start_run() as run:
        mlflow.xgboost.log_model(booster, name="model", pip_requirements=[])
    runs["xgbnative"] = run.info.run_id
    with mlflow.start_run() as run:
        mlflow.lightgbm.log_model(
            light, name="model", signature=infer_signature(frame, y), pip_requirements=[]
        )
    runs["lgbm"] = run.info.run_id
    native = booster.predict(xgboost.DMatrix(np.asarray(ROWS))).argmax(axis=1)
    return runs, {
        "xgb": classifier.predict(rows).tolist(),
        "xgbnative": native.tolist(),
        "lgbm": light.predict(rows).tolist(),
    }


@pytest.fixture(scope="module")
def plain(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> PlainModels:
    return _log_models(mlflow_server.url, tmp_path_factory.mktemp("saved") / "iris-pipeline")


@pytest.fixture(scope="module")
def api(
    plain: PlainModels,
    mlflow_server: MlflowServer,
    tmp_path_factory: pytest.TempPathFactory,
    artifacts_dir: Path,
) -> Iterator[Api]:
    models = ",".join(
        [
            f"models:/{plain.name}/1",
            f"models:/{plain.name}@champion",
            f"byrun@runs:/{plain.run_id}/model",
            f"bareid@{plain.run_id}",
            f"logged@{plain.model_id}",
            f"tensor@{plain.tensor_run_id}",
            f"folder@{plain.folder}",
            f"fileuri@{plain.folder.as_uri()}",
            *(f"{name}@{run_id}" for name, run_id in plain.boosted.items()),
        ]
    )
    registry = SimpleNamespace(tracking_uri=mlflow_server.url, model_name=plain.name)
    home = tmp_path_factory.mktemp("references-home")
    log = artifacts_dir / "logs" / "serving" / f"references-{os.getpid()}.log"
    with start_api(
        registry,
        home,
        log,
        models=models,
        model_ref=f"bareid@{plain.run_id}",
        admin_key=ADMIN_KEY,
    ) as server:
        yield server


def _predict(api: Api, name: str, columns: list[str]) -> list[Any]:
    records = [dict(zip(columns, row, strict=True)) for row in ROWS]
    response = api.client.post(f"/models/{name}/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return [p["label"] for p in response.json()["predictions"]]


def test_every_reference_form_resolves_and_predicts(api: Api, plain: PlainModels) -> None:
    served = {m["name"] + "@" + m["ref"]: m for m in api.client.get("/").json()["models"]}
    resolved = {key: (m["version"], m["resolved"], m["fixed"]) for key, m in served.items()}
    folder = str(plain.folder)
    assert resolved[f"{plain.name}@1"] == ("1", f"models:/{plain.name}/1", False)
    assert resolved[f"{plain.name}@champion"] == ("1", f"models:/{plain.name}/1", False)
    run_uri = f"runs:/{plain.run_id}/model"
    assert resolved[f"byrun@{run_uri}"] == (f"run-{plain.run_id}-model", run_uri, True)
    bare_uri = f"runs:/{plain.run_id}"
    assert resolved[f"bareid@{bare_uri}"] == (f"run-{plain.run_id}", bare_uri, True)
    logged_uri = f"models:/{plain.model_id}"
    assert resolved[f"logged@{logged_uri}"] == (plain.model_id, logged_uri, True)
    assert resolved[f"folder@{folder}"][1:] == (folder, True)
    assert resolved[f"fileuri@{folder}"] == resolved[f"folder@{folder}"]

    assert _predict(api, plain.name, COLUMNS) == plain.expected["pipeline"]
    assert _predict(api, "folder", COLUMNS) == plain.expected["pipeline"]
    assert _predict(api, "fileuri", COLUMNS) == plain.expected["pipeline"]
    positional = ["0", "1", "2", "3"]  # no signature: the estimator's column positions
    for name in ("byrun", "bareid", "logged"):
        assert _predict(api, name, positional) == plain.expected["bare"]
    assert _predict(api, "tensor", positional) == plain.expected["argmax"]
    assert served[f"tensor@runs:/{plain.tensor_run_id}"]["runtime"] == "python_function"
    assert served[f"folder@{folder}"]["runtime"] == "onnxruntime"  # compiled on load


def test_xgboost_and_lightgbm_models_compile_and_agree(api: Api, plain: PlainModels) -> None:
    served = {m["name"]: m for m in api.client.get("/").json()["models"]}
    for name in plain.boosted:
        assert (served[name]["flavor"], served[name]["runtime"]) == (
            "lightgbm" if name == "lgbm" else "xgboost",
            "onnxruntime",
        ), served[name]
        columns = ["0", "1", "2", "3"] if name == "xgbnative" else COLUMNS
        assert _predict(api, name, columns) == plain.expected[name], name
        probabilities = api.client.post(
            f"/models/{name}/predict", json=dict(zip(columns, ROWS[1], strict=True))
        ).json()["probabilities"]
        assert sorted(probabilities) == ["0", "1", "2"]
        assert abs(sum(probabilities.values()) - 1.0) < 1e-5  # six decimals each


def test_a_plain_mlflow_model_answers_every_protocol(api: Api, plain: PlainModels) -> None:
    expected = plain.expected["bare"]
    scoring = api.client.post("/invocations", json={"inputs": ROWS})
    assert scoring.status_code == 200, scoring.text
    assert scoring.json()["predictions"] == expected
    split = {"dataframe_split": {"columns": ["0", "1", "2", "3"], "data": ROWS}}
    assert api.client.post("/invocations", json=split).json()["predictions"] == expected
    kserve = api.client.post("/v1/models/bareid:predict", json={"instances": ROWS})
    assert kserve.status_code == 200, kserve.text
    assert kserve.json()["predictions"] == expected
    tensor = {
        "inputs": [
            {
                "name": "x",
                "shape": [3, 4],
                "datatype": "FP64",
                "data": [v for row in ROWS for v in row],
            }
        ]
    }
    v2 = api.client.post("/v2/models/bareid/infer", json=tensor)
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == expected
    assert v2.json()["model_version"] == f"run-{plain.run_id}"
    metadata = api.client.get("/v2/models/bareid").json()
    assert metadata["parameters"]["resolved"] == f"runs:/{plain.run_id}"
    own = api.client.post("/predict", json=dict(zip("0123", ROWS[0], strict=True)))
    assert own.json()["label"] == expected[0]
    for path in ("/v1/predict", "/v2/predict"):  # bound endpoints follow a fixed primary
        body = api.client.post(path, json={"records": [dict(zip("0123", ROWS[2], strict=True))]})
        assert body.json()["predictions"][0]["label"] == expected[2], body.text


def test_requests_name_versions_not_sources(api: Api, plain: PlainModels) -> None:
    refused = api.client.post(f"/models/byrun/versions/{plain.run_id}/predict", json={})
    assert refused.status_code == 404, refused.text
    assert "only when configured" in refused.json()["error"]["message"]
    bad = api.client.post("/models/byrun/predict", json={"records": [{"0": 1.0}]})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "1"  # the first missing feature


def test_aliases_swap_and_fixed_references_never_do(
    api: Api, plain: PlainModels, mlflow_server: MlflowServer
) -> None:
    import mlflow

    mlflow.MlflowClient(tracking_uri=mlflow_server.url).set_registered_model_alias(
        plain.name, "champion", "2"
    )
    reload = api.client.post("/admin/reload", headers={"X-Admin-Key": ADMIN_KEY})
    assert reload.status_code == 200, reload.text
    assert reload.json()["swapped"] == {f"{plain.name}@champion": {"from": "1", "to": "2"}}
    champion = api.client.post(
        f"/models/{plain.name}/versions/champion/predict",
        json={"records": [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]},
    )
    assert champion.status_code == 200, champion.text
    assert [p["label"] for p in champion.json()["predictions"]] == plain.expected["forest"]
    assert _predict(api, "byrun", ["0", "1", "2", "3"]) == plain.expected["bare"]


def test_a_folder_is_served_with_no_tracking_server(
    plain: PlainModels, tmp_path: Path, artifacts_dir: Path
) -> None:
    port = free_port()
    env = service_env(
        MODELYARD_HOME=tmp_path / "home",
        MODELYARD_API_PORT=port,
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}",  # nothing listens there
    )
    log = artifacts_dir / "logs" / "serving" / f"folder-offline-{os.getpid()}.log"
    url = f"http://127.0.0.1:{port}"
    argv = modelyard_argv("serve", "--model", str(plain.folder))
    with running(argv, env, log, ready_url=f"{url}/ready", timeout=180):
        info = httpx.get(f"{url}/").json()["model"]
        assert (info["name"], info["resolved"]) == ("iris-pipeline", str(plain.folder))
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
        answer = httpx.post(f"{url}/predict", json={"records": rows}).json()
        assert [p["label"] for p in answer["predictions"]] == plain.expected["pipeline"]
        v2 = httpx.post(
            f"{url}/v2/models/iris-pipeline/infer",
            json={
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [v]}
                    for c, v in zip(COLUMNS, ROWS[0], strict=True)
                ]
            },
        )
        assert v2.json()["outputs"][0]["data"] == plain.expected["pipeline"][:1], v2.text


def test_a_folder_training_prepared_needs_no_mlflow_and_no_extras(
    plain: PlainModels, tmp_path: Path, artifacts_dir: Path
) -> None:
    """The serving image's case: a baked-in folder that carries its ONNX graph is copied
    into the cache and scored with none of the extras and no tracking server."""
    import shutil

    import mlflow.sklearn

    from modelyard.inference.prepare import PREPARED_DIR, sklearn_prepared, write_prepared
    from modelyard.inputs.tabular import FeatureSchema

    folder = tmp_path / "baked"
    shutil.copytree(plain.folder, folder)
    example = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
    meta, onnx = sklearn_prepared(
        mlflow.sklearn.load_model(str(folder)), FeatureSchema(tuple(COLUMNS)), example
    )
    assert onnx is not None
    write_prepared(folder, meta, onnx)
    assert (folder / PREPARED_DIR / "model.onnx").is_file()
    registry = SimpleNamespace(tracking_uri=f"http://127.0.0.1:{free_port()}", model_name="x")
    log = artifacts_dir / "logs" / "serving" / f"folder-serving-only-{os.getpid()}.log"
    with start_api(
        registry, tmp_path / "home", log, serving_only=True, model_ref=f"baked@{folder}"
    ) as api:
        info = api.client.get("/").json()["model"]
        assert (info["name"], info["runtime"], info["fixed"]) == ("baked", "onnxruntime", True)
        assert _predict(api, "baked", COLUMNS) == plain.expected["pipeline"]
    assert "copied from its folder" in log.read_text()
