"""uvicorn's entry point: each server process reads the settings and builds its own app."""

from __future__ import annotations

from modelyard.config import get_settings
from modelyard.logs import configure_logging
from modelyard.serving.app import create_app
from modelyard.serving.router import ServingApp


def app() -> ServingApp:
    """App factory for ``uvicorn --factory modelyard.serving.asgi:app``."""
    settings = get_settings()
    configure_logging("api", settings.log_level)
    return create_app(settings)
