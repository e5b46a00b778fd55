"""uvicorn's entry point: each server process reads the settings and builds its own app."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.config import get_settings
from modelyard.logs import configure_logging
from modelyard.serving.app import create_app


def app() -> FastAPI:
    """App factory for ``uvicorn --factory modelyard.serving.asgi:app``."""
    settings = get_settings()
    configure_logging("api", settings.log_level)
    return create_app(settings)
