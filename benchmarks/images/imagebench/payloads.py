"""The one request image (a 640x480 JPEG of a digit) and the body each server is sent.

modelyard and the Flask app get the same JSON, ``{"image_data": "<base64>", "top_k": 5}``;
BentoML gets the same JPEG bytes in a multipart form (its documented form for an ``Image``
input; no base64, so its bodies are about a quarter smaller).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 640, 480
TOP_K = 5
DIGIT_INDEX = 7  # which of scikit-learn's digits the image shows (a 7)
BOUNDARY = "imagebenchboundary7MA4YWxkTrZu0gW"


@dataclass(frozen=True)
class Body:
    """A request body on disk (for wrk) and in memory (for the checks)."""

    name: str
    data: bytes
    content_type: str
    path: Path


def request_jpeg(seed: int = 7, quality: int = 90) -> bytes:
    """A 640x480 RGB JPEG: one digit (dark on white) over the frame, with sensor-like noise.

    The noise keeps the JPEG about the size of a photo of that size rather than a few kB
    of flat colour, so that decoding and base64 cost what they cost on real photos.
    """
    from sklearn.datasets import load_digits

    ink = np.clip(load_digits().images[DIGIT_INDEX] / 16.0, 0.0, 1.0)
    digit = np.round(255 * (1.0 - ink))  # dark ink on white, as the training images
    big = Image.fromarray(digit.astype(np.uint8), mode="L").resize(
        (WIDTH, HEIGHT), Image.Resampling.BILINEAR
    )
    rng = np.random.default_rng(seed)
    rgb = np.repeat(np.asarray(big, dtype=np.float32)[..., None], 3, axis=2)
    rgb += rng.normal(0.0, 12.0, size=rgb.shape)
    rgb[..., 0] *= 0.9  # a slight colour cast: a photo, not a greyscale scan
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def json_body(jpeg: bytes) -> bytes:
    body = {"image_data": base64.b64encode(jpeg).decode("ascii"), "top_k": TOP_K}
    return json.dumps(body, separators=(",", ":")).encode()


def multipart_body(jpeg: bytes, field: str = "images") -> tuple[bytes, str]:
    """One file part named ``field``; (body, content type with its boundary)."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="digit.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head + jpeg + tail, f"multipart/form-data; boundary={BOUNDARY}"


def write_bodies(folder: Path, jpeg: bytes) -> dict[str, Body]:
    """``json`` (modelyard, Flask) and ``multipart`` (BentoML), written once for wrk."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.jpg").write_bytes(jpeg)
    raw, multipart_type = multipart_body(jpeg)
    out = {}
    for name, data, content_type in (
        ("json", json_body(jpeg), "application/json"),
        ("multipart", raw, multipart_type),
    ):
        path = folder / f"{name}.body"
        path.write_bytes(data)
        out[name] = Body(name, data, content_type, path)
    return out


def top_labels(answer: Any) -> list[Any] | None:
    """The top-k labels of one image in any server's answer (best first), or None.

    modelyard: ``{"top_k": [{"label": ..}, ..], "model": ..}``; the Flask app:
    ``{"top_k": [..]}``; BentoML, whose batchable API answers a list per request:
    ``[[{"label": ..}, ..]]``.
    """
    if isinstance(answer, dict):
        for key in ("top_k", "predictions", "results", "outputs"):
            if key in answer:
                return top_labels(answer[key])
        return None
    if isinstance(answer, list) and answer:
        if all(isinstance(x, dict) for x in answer):
            labels = [x.get("label", x.get("class", x.get("class_name"))) for x in answer]
            return labels if all(v is not None for v in labels) else None
        if len(answer) == 1:
            return top_labels(answer[0])
    return None
