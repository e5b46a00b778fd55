"""What both peers run per model: the prepared folder's ONNX graph and preprocessing numbers.

Written the way the hand-written app of this field is: Pillow opens the whole JPEG,
``convert``, ``resize`` (bilinear, as the model's preprocessing says), numpy scales to
[0, 1] and normalises with the stored mean and std, ONNX Runtime scores, numpy picks the
top k. Runs in the peers' own virtual environment: no modelyard import. ONNX Runtime gets
the session options modelyard uses (one intra-op thread, sequential): each server has one
core, and the peers' unit of parallelism is the worker process.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image


class Classifier:
    """One model version: ``meta.json`` (preprocessing, classes) and ``model.onnx``."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        prep = meta["preprocessing"]
        if prep.get("layout", "flat") != "flat":
            raise ValueError("the peers implement the flat layout only")
        self.size = (int(prep["width"]), int(prep["height"]))
        self.mode = str(prep["mode"])
        channels = 1 if self.mode == "L" else 3
        self.mean = np.resize(np.asarray(prep["mean"], dtype=np.float32), channels)
        self.std = np.resize(np.asarray(prep["std"], dtype=np.float32), channels)
        self.classes = list(meta["classes"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name

    def tensor(self, image: Image.Image) -> np.ndarray:
        """One image's flat float32 row."""
        image = image.convert(self.mode).resize(self.size, Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32).reshape(self.size[1], self.size[0], -1)
        pixels = (pixels / 255.0 - self.mean) / self.std
        return pixels.reshape(-1).astype(np.float32, copy=False)

    def top_k(self, images: list[Image.Image], k: int) -> list[list[dict[str, Any]]]:
        """The ``k`` most likely classes of each image, best first, in one ONNX call."""
        batch = np.stack([self.tensor(image) for image in images])
        (proba,) = self.session.run(["probabilities"], {self.input: batch})
        out = []
        for row in proba:
            best = np.argsort(row)[::-1][:k]
            out.append([{"label": self.classes[i], "probability": float(row[i])} for i in best])
        return out


def load_all(models: Path) -> dict[str, Classifier]:
    """Every version under ``models``: ``v1/modelyard/`` (modelyard's prepared folder, with
    meta.json and model.onnx), ``v2/modelyard/``."""
    return {
        p.name: Classifier(p / "modelyard")
        for p in sorted(models.iterdir())
        if (p / "modelyard" / "meta.json").exists()
    }
