"""The ``inference`` pipeline's nodes: its parameters, and a slice run on an in-memory catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from modelyard.batch.nodes import request_from_params
from modelyard.batch.pipeline import create_pipeline
from modelyard.batch.plan import DEFAULT_TOP_K, BatchRequest
from modelyard.batch.summary import BatchSummary
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel
from support import REPO_ROOT

BASE = yaml.safe_load((REPO_ROOT / "conf" / "base" / "parameters_inference.yml").read_text())


def test_the_base_parameters_are_a_request_for_the_database() -> None:
    assert request_from_params(BASE["inference"], 1000) == BatchRequest(
        input="database", chunk_rows=1000, top_k=DEFAULT_TOP_K
    )


def test_parameters_become_a_request() -> None:
    params = {**BASE["inference"], "input": "in.csv", "output": "out.parquet", "keys": "id,ts"}
    request = request_from_params(params, 1000)
    assert (request.output, request.keys) == (Path("out.parquet"), ("id", "ts"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outptu": "x.csv"}, "unknown inference parameter 'inference.outptu'"),
        ({"input": None}, "inference.input: name a CSV or Parquet file"),
        ({"keys": 3}, "inference.keys: a list of column names, got 3"),
    ],
)
def test_bad_parameters_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        request_from_params({**BASE["inference"], **change}, 1000)


def test_the_plan_and_score_nodes_run_on_an_in_memory_catalog(
    iris: LoadedModel, iris_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    params = {**BASE["inference"], "input": str(iris_csv), "output": str(tmp_path / "out.csv")}
    catalog = DataCatalog(
        {
            "batch_model": MemoryDataset(iris, copy_mode="assign"),
            "params:inference": MemoryDataset(params),
            "batch_summary": MemoryDataset(copy_mode="assign"),
        }
    )
    SequentialRunner().run(create_pipeline().from_nodes("plan").to_nodes("score"), catalog)
    summary = catalog.load("batch_summary")
    assert isinstance(summary, BatchSummary)
    assert (summary.model_version, summary.rows_scored, summary.rows_rejected) == ("1", 150, 0)
    assert pd.read_csv(tmp_path / "out.csv", dtype={"id": str})["id"].iloc[-1] == "0149"


def test_the_inference_pipeline_is_registered_with_its_inputs() -> None:
    from modelyard.pipeline_registry import register_pipelines

    pipeline = register_pipelines()["inference"]
    assert [n.name for n in pipeline.nodes] == ["load_model", "plan", "score", "record"]
    assert pipeline.inputs() == {"params:inference", "params:inference.experiment", "tracking"}
