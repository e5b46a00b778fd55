"""The app's :class:`~modelyard.serving.engine.Predictor`, reached from a request."""

from __future__ import annotations

from starlette.requests import Request

from modelyard.serving.engine import Predictor


def predictor(request: Request) -> Predictor:
    """The Predictor of the app handling ``request``."""
    engine: Predictor = request.app.state.serving
    return engine
