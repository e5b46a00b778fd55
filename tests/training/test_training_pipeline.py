"""The pipeline's wiring, and a slice of it run by Kedro on an in-memory catalog."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from training_support import REPO

from modelyard.pipeline_registry import register_pipelines
from modelyard.training.hooks import TRACKING_DATASET, TrainingHooks, settings_for_run
from modelyard.training.pipeline import create_pipeline
from modelyard.training.tracking import TrackingTarget


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    text = (REPO / "conf/base/parameters_training.yml").read_text()
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def param_catalog(params: dict[str, Any]) -> DataCatalog:
    catalog = DataCatalog()
    for section, values in params.items():
        catalog[f"params:{section}"] = values
        for key, value in values.items():
            catalog[f"params:{section}.{key}"] = value
    return catalog


def test_registered_pipelines() -> None:
    pipelines = register_pipelines()
    assert set(pipelines) == {
        "training",
        "training_images",
        "inference",
        "retraining",
        "__default__",
    }
    assert [n.name for n in pipelines["training"].nodes] == [
        n.name for n in pipelines["__default__"].nodes
    ]


def test_pipeline_inputs_are_parameters_and_the_tracking_target() -> None:
    pipeline = create_pipeline()
    assert pipeline.inputs() == {
        TRACKING_DATASET,
        "params:data",
        "params:data.target",
        "params:split",
        "params:model",
        "params:tracking",
        "params:tracking.experiment",
        "params:promotion",
    }
    assert pipeline.outputs() == {"training_result"}
    order = [n.name for n in pipeline.nodes]
    assert order.index("load") < order.index("validate") < order.index("split")
    assert order.index("fit") < order.index("evaluate") < order.index("log_to_mlflow")
    assert order[-1] == "register"


def test_every_parameter_section_is_used(params: dict[str, Any]) -> None:
    used = {
        name.split(":")[1].split(".")[0]
        for pipeline in (create_pipeline(), create_pipeline(retraining=True))
        for name in pipeline.inputs()
        if name.startswith("params:")
    }
    assert used == set(params)
    retraining = create_pipeline(retraining=True).inputs()
    assert "params:retrain" in retraining and "params:retrain" not in create_pipeline().inputs()


@pytest.mark.parametrize("estimator", ["logistic_regression", "gradient_boosting"])
def test_slice_runs_on_an_in_memory_catalog(params: dict[str, Any], estimator: str) -> None:
    params = {**params, "model": {**params["model"], "estimator": estimator}}
    catalog = param_catalog(params)
    pipeline = create_pipeline().to_nodes("evaluate", "plot", "profile")
    SequentialRunner().run(pipeline, catalog)
    metrics = catalog["metrics"].load()
    assert set(metrics) == {"accuracy", "f1_macro"} and metrics["accuracy"] > 0.85
    assert catalog["confusion_png"].load().startswith(b"\x89PNG")
    profile = catalog["training_profile"].load()
    assert profile["rows"] == 105  # 70% of 150, held-out rows excluded
    assert set(profile["labels"]) == {"setosa", "versicolor", "virginica"}


def test_hook_puts_the_run_settings_in_the_catalog(settings_factory: Any) -> None:
    settings = settings_factory(
        mlflow_tracking_uri="http://127.0.0.1:5999",
        model_name="m1",
        mlflow_public_url="http://mlflow.example/",
    )
    catalog = DataCatalog()
    with settings_for_run(settings):
        TrainingHooks().after_catalog_created(catalog)
    target = catalog[TRACKING_DATASET].load()
    assert target == TrackingTarget(
        tracking_uri="http://127.0.0.1:5999",
        model_name="m1",
        ui_url="http://mlflow.example",
        http_retries=settings.mlflow_http_retries,
        http_timeout=settings.mlflow_http_timeout,
        model_name_explicit=True,
    )
    assert target.run_url("3", "abc") == "http://mlflow.example/#/experiments/3/runs/abc"


def test_catalog_entry_is_a_memory_dataset() -> None:
    conf = yaml.safe_load((REPO / "conf/base/catalog.yml").read_text())
    catalog = DataCatalog.from_config(conf)
    assert isinstance(catalog["fitted_model"], MemoryDataset)
