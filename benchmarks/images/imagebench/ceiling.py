"""The in-process ceilings: how fast one core scores the request image with no HTTP at all.

    python ceiling.py --jpeg request.jpg --body json.body --seconds 3 v1=<prepared> v2=<prepared>

Run by the benchmark on the servers' core (``taskset``). For each model folder (modelyard's
prepared folder: ``meta.json`` + ``model.onnx``), each stage is called one image at a time
for ``--seconds`` and reported as images/s and the median µs per call, on stdout as JSON:

- ``model``: ONNX Runtime on the already preprocessed (1, features) float32 tensor, with
  modelyard's session options (one intra-op thread, sequential): the model-only ceiling;
- ``model_batch64``: the same on 64 tensors per call, per image (what batching can reach);
- ``decode_model``: JPEG bytes → :meth:`ImagePreprocessing.from_bytes` (modelyard's decoder,
  Pillow's draft mode) → model;
- ``request_model``: the JSON body → ``orjson.loads`` (modelyard's JSON parser) → base64 →
  decode → model → top 5: all of one request but HTTP;
- ``full_decode_model``: what the peers do, Pillow decoding the whole JPEG, then
  ``convert`` and ``resize`` → model.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from modelyard.inputs.image import ImagePreprocessing, image_bytes


def _session(onnx_path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def timed(call: Callable[[], Any], seconds: float, per_call: int = 1) -> dict[str, float]:
    """Call ``call`` back to back for ``seconds`` (after a short warm-up)."""
    for _ in range(20):
        call()
    durations = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        call()
        durations.append(time.perf_counter() - now)
    total = sum(durations)
    return {
        "images_per_s": len(durations) * per_call / total,
        "p50_us": statistics.median(durations) * 1e6 / per_call,
        "calls": len(durations),
    }


def stages(folder: Path, jpeg: bytes, body: bytes, seconds: float) -> dict[str, dict[str, float]]:
    from PIL import Image

    meta = json.loads((folder / "meta.json").read_text())
    prep = ImagePreprocessing.from_params(meta["preprocessing"])
    session = _session(folder / "model.onnx")
    name = session.get_inputs()[0].name
    classes = np.asarray(meta["classes"], dtype=object)
    one = prep.from_bytes(jpeg)[None, :]
    batch = np.repeat(one, 64, axis=0)

    def model(x: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {name: x})[0]

    def request() -> list[dict[str, Any]]:
        parsed = orjson.loads(body)
        tensor = prep.from_bytes(image_bytes(parsed["image_data"], "image_data"))
        row = model(tensor[None, :])[0]
        best = np.argsort(row)[::-1][: int(parsed.get("top_k", 5))]
        return [{"label": classes[i], "probability": float(row[i])} for i in best]

    def full_decode() -> np.ndarray:
        image = Image.open(io.BytesIO(jpeg))
        image.load()
        small = image.convert(prep.mode).resize(
            (prep.width, prep.height), Image.Resampling.BILINEAR
        )
        pixels = np.asarray(small, dtype=np.float32) / 255.0
        x = ((pixels - prep.mean[0]) / prep.std[0]).reshape(1, -1).astype(np.float32)
        return model(x)

    return {
        "model": timed(lambda: model(one), seconds),
        "model_batch64": timed(lambda: model(batch), seconds, per_call=64),
        "decode_model": timed(lambda: model(prep.from_bytes(jpeg)[None, :]), seconds),
        "request_model": timed(request, seconds),
        "full_decode_model": timed(full_decode, seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jpeg", type=Path, required=True)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("models", nargs="+", help="key=prepared folder")
    args = parser.parse_args(argv)
    jpeg, body = args.jpeg.read_bytes(), args.body.read_bytes()
    out = {}
    for item in args.models:
        key, _, folder = item.partition("=")
        out[key] = stages(Path(folder), jpeg, body, args.seconds)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
