"""py-spy layers for image servers: the serving benchmark's rules, with image work first.

Pillow's C code (JPEG decoding, ``convert``, ``resize``) has no frame of its own and counts
for the Pillow frame that called it; modelyard's image input kind (base64, the decoder's
rules, numpy normalisation) and the peers' own preprocessing are their own layer, so
"where the time goes" separates image work from HTTP, the engine and the model.
"""

from __future__ import annotations

from harness import spy
from harness.spy import Rule

PILLOW = "Pillow (JPEG decode, convert, resize)"
IMAGE_PREP = "image input (base64, decoder rules, numpy normalisation)"
PEER_APP = "peer app code (request handling, top-k)"
FLASK = "Flask, werkzeug, gunicorn (the Flask peer)"
BENTO = "BentoML (the BentoML peer: serde, dispatcher, service)"

RULES: tuple[Rule, ...] = (
    Rule(PILLOW, "PIL/"),
    Rule(IMAGE_PREP, "modelyard/inputs/image.py"),
    # The peers import their modules from their own folder: py-spy shows bare file names.
    Rule(IMAGE_PREP, "digits_model.py", ("tensor",)),
    Rule(PEER_APP, "digits_model.py"),
    Rule(PEER_APP, "flask_app.py"),
    Rule(PEER_APP, "bento_service.py"),
    Rule(IMAGE_PREP, "/base64.py"),
    Rule(FLASK, "flask/"),
    Rule(FLASK, "werkzeug/"),
    Rule(FLASK, "gunicorn/"),
    Rule(BENTO, "_bentoml_impl/"),
    Rule(BENTO, "_bentoml_sdk/"),
    Rule(BENTO, "bentoml/"),
    Rule(BENTO, "circus/"),
    Rule(spy.CODEC, "multipart/"),
    Rule(spy.CODEC, "python_multipart/"),
    *spy.RULES,
)

LAYER_ORDER: tuple[str, ...] = (
    PILLOW,
    IMAGE_PREP,
    *(layer for layer in spy.LAYER_ORDER if layer not in (spy.PEER, spy.OTHER)),
    PEER_APP,
    FLASK,
    BENTO,
    spy.OTHER,
)
