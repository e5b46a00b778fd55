"""The hand-written image app: Flask + Pillow + ONNX Runtime, served by gunicorn.

    DIGITS_MODELS=<folder> gunicorn --workers 3 'flask_app:create_app()'

``POST /<version>/predict`` with ``{"image_data": "<base64 JPEG>", "top_k": 5}`` answers
``{"top_k": [{"label": .., "probability": ..}, ..]}``; a bad body is a 400 JSON error.
"""

import base64
import binascii
import io
import os
from pathlib import Path
from typing import Any

from digits_model import load_all
from flask import Flask, jsonify, request
from PIL import Image, UnidentifiedImageError


def create_app() -> Flask:
    models = load_all(Path(os.environ["DIGITS_MODELS"]))  # each gunicorn worker loads its own
    app = Flask(__name__)

    @app.post("/<version>/predict")
    def predict(version: str) -> Any:
        model = models.get(version)
        if model is None:
            return jsonify(error=f"no model {version!r}"), 404
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("image_data"), str):
            return jsonify(error="image_data: expected base64 image data"), 400
        try:
            raw = base64.b64decode(body["image_data"], validate=True)
            image = Image.open(io.BytesIO(raw))
            image.load()
        except (binascii.Error, UnidentifiedImageError, OSError) as exc:
            return jsonify(error=f"image_data: {exc}"), 400
        k = int(body.get("top_k", 5))
        return jsonify(top_k=model.top_k([image], k)[0])

    return app
