"""The project's Kedro pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from modelyard.batch import PIPELINE as INFERENCE_PIPELINE
from modelyard.batch.pipeline import create_pipeline as create_inference_pipeline
from modelyard.training.images import PIPELINE as IMAGES_PIPELINE
from modelyard.training.images.pipeline import create_pipeline as create_images_pipeline
from modelyard.training.pipeline import create_pipeline, create_retraining_pipeline
from modelyard.training.retraining import PIPELINE as RETRAINING_PIPELINE


def register_pipelines() -> dict[str, Pipeline]:
    training = create_pipeline()
    return {
        "training": training,
        IMAGES_PIPELINE: create_images_pipeline(),
        INFERENCE_PIPELINE: create_inference_pipeline(),
        RETRAINING_PIPELINE: create_retraining_pipeline(),
        "__default__": training,
    }
