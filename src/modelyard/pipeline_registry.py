"""The project's Kedro pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from modelyard.training.pipeline import create_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    training = create_pipeline()
    return {"training": training, "__default__": training}
