"""modelyard's own protocol (``/predict``, ``/v1/predict``, ``/v2/predict``,
``/models/{name}/predict``, ``/models/{name}/versions/{ref}/predict``).

Tabular body (JSON): one record ``{"sepal_length": 5.1, ...}`` or ``{"records": [{...}, ...]}``.
One record answers ``{"label", "probabilities": {class: p}, "model": {name, version, ref}}``;
a batch answers ``{"predictions": [{"label", "probabilities"}, ...], "model": {...}}``.

Image bodies, for image classifiers (the request's form decides; the model's input kind
refuses the other kind):

* JSON ``{"image_data": "<base64>", "top_k": 5}`` (a ``data:`` URI allowed) or
  ``{"images": ["<base64>", ...], "top_k": 5}``;
* ``multipart/form-data``: one or more file parts (any name), ``top_k`` as a form field;
* a raw ``image/*`` body (``Content-Type: image/png``, ...), one image.

``top_k`` may also be a query parameter (``?top_k=3``); the body's wins. Default 5, at
most ``MODELYARD_MAX_TOP_K``, capped at the number of classes. One image answers
``{"top_k": [{"label", "index", "probability"}, ...], "model": {...}}`` (highest first); a
batch (``images``, or several file parts) ``{"predictions": [{"top_k": [...]}, ...],
"model": {...}}``.

Errors: ``{"error": {"code", "message", "field"}}`` (plus ``row`` for a batch row), with the
status of :data:`~modelyard.serving.errors.STATUS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.inputs.image import IMAGE_FIELD, Images
from modelyard.inputs.tabular import Record, Records, TabularInput
from modelyard.serving.engine import Prediction
from modelyard.serving.errors import ApiError
from modelyard.serving.http import JSON, MULTIPART, Reply, content_type, json_reply, media_type
from modelyard.serving.http import parse_json as parse_json_body
from modelyard.serving.protocols import images

IMAGES_FIELD = "images"
IMAGE_KEYS = (IMAGE_FIELD, IMAGES_FIELD)


@dataclass(slots=True)
class Request:
    """A decoded request: its inputs, the most rows it may have, whether the answer is a
    batch, and (for images) how many classes to answer."""

    inputs: TabularInput | Images
    limit: int | None
    batch: bool
    top_k: int = images.DEFAULT_TOP_K


def media(raw: str | None) -> tuple[str, dict[str, str]]:
    """The body's media type (JSON, multipart/form-data or image/*) and its parameters."""
    if raw == JSON:  # the usual header, exactly as clients send it
        return JSON, {}
    mime, params = content_type(raw)
    if mime == MULTIPART or (mime.startswith("image/") and len(mime) > len("image/")):
        return mime, params
    return media_type(raw, (JSON,)), {}


def decode_body(
    mime: str, params: dict[str, str], body: bytes, query_top_k: str | None, max_top_k: int
) -> Request:
    """The request a body of media type ``mime`` (see :func:`media`) holds."""
    if mime == MULTIPART:
        form = images.parse_form(body, params, (images.TOP_K,))
        inputs = form.images()
        asked = form.fields.get(images.TOP_K, query_top_k)
        k = images.top_k(asked, max_top_k, text=True)
        return Request(inputs, None, not inputs.single, k)
    if mime != JSON:
        k = images.top_k(query_top_k, max_top_k, text=True)
        return Request(images.raw_image(body), 1, False, k)
    return decode(parse_json_body(body), query_top_k, max_top_k)


def decode(payload: Any, query_top_k: str | None = None, max_top_k: int = 100) -> Request:
    """The request a JSON body holds: records, or images under ``image_data``/``images``."""
    if isinstance(payload, dict) and any(key in payload for key in IMAGE_KEYS):
        return _images(payload, query_top_k, max_top_k)
    if isinstance(payload, dict) and "records" in payload:
        if len(payload) != 1:
            extra = next(k for k in payload if k != "records")
            raise ApiError(
                "invalid_feature", f"unexpected key {extra!r} beside 'records'", str(extra)
            )
        return Request(Records(payload["records"], "records"), None, True)
    return Request(Record(payload), 1, False)


def _images(payload: dict[str, Any], query_top_k: str | None, max_top_k: int) -> Request:
    present = [key for key in IMAGE_KEYS if key in payload]
    if len(present) > 1:
        raise ApiError(
            "invalid_parameter",
            f"send one image in {IMAGE_FIELD!r} or a list in {IMAGES_FIELD!r}, not both",
            IMAGES_FIELD,
        )
    for key in payload:
        if key not in (*IMAGE_KEYS, images.TOP_K):
            raise ApiError(
                "invalid_parameter",
                f"unexpected key beside {present[0]!r}; an image request takes "
                f"{present[0]!r} and {images.TOP_K!r}",
                str(key),
            )
    if images.TOP_K in payload:
        k = images.top_k(payload[images.TOP_K], max_top_k)
    else:
        k = images.top_k(query_top_k, max_top_k, text=True)
    if present[0] == IMAGE_FIELD:
        return Request(Images([payload[IMAGE_FIELD]], IMAGE_FIELD, single=True), 1, False, k)
    items = payload[IMAGES_FIELD]
    if not isinstance(items, list):
        raise ApiError(
            "invalid_image", "expected a list of base64 images", IMAGES_FIELD, names_field=False
        )
    return Request(Images(items, IMAGES_FIELD), None, True, k)


def encode(prediction: Prediction, ref: str, request: Request) -> dict[str, Any]:
    model = prediction.model_json(ref)
    if isinstance(request.inputs, Images):
        tops = images.ranked(prediction, request.top_k)
        if not request.batch:
            return {"top_k": tops[0], "model": model}
        return {"predictions": [{"top_k": top} for top in tops], "model": model}
    if not request.batch:
        return {
            "label": prediction.labels[0],
            "probabilities": prediction.probability_maps()[0],
            "model": model,
        }
    return {
        "predictions": [
            {"label": label, "probabilities": probabilities}
            for label, probabilities in zip(
                prediction.labels, prediction.probability_maps(), strict=True
            )
        ],
        "model": model,
    }


def render(error: ApiError) -> Reply:
    return json_reply(error.body(), error.status)
