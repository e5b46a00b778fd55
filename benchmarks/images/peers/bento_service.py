"""The BentoML peer: an ``Image`` input per request, adaptive batching on, ONNX Runtime.

    DIGITS_MODELS=<folder> bentoml serve bento_service:Digits

``POST /classify_v1`` (and ``/classify_v2``) with a multipart form holding the JPEG in the
field ``images`` answers, per image, the top 5 classes. The APIs are batchable: BentoML's
dispatcher gathers the images of concurrent requests into one call (at most 64 images, as
modelyard's batcher; the window adapts to the measured latency; ``max_latency_ms`` keeps
its default of 60 s, since a tighter budget makes the dispatcher answer 503 "process is
overloaded" at c=64), which preprocesses each and scores them in one ONNX call. One worker
process: the server gets one core.
"""

import os
from pathlib import Path
from typing import Any

import bentoml
from digits_model import load_all
from PIL.Image import Image

TOP_K = 5


@bentoml.service(
    workers=1,
    traffic={"timeout": 60},
    # No line per request, like gunicorn's default and modelyard's (BentoML logs each one).
    logging={"access": {"enabled": False}},
)
class Digits:
    def __init__(self) -> None:
        self.models = load_all(Path(os.environ["DIGITS_MODELS"]))

    @bentoml.api(batchable=True, max_batch_size=64)
    def classify_v1(self, images: list[Image]) -> list[list[dict[str, Any]]]:
        return self.models["v1"].top_k(images, TOP_K)

    @bentoml.api(batchable=True, max_batch_size=64)
    def classify_v2(self, images: list[Image]) -> list[list[dict[str, Any]]]:
        return self.models["v2"].top_k(images, TOP_K)
