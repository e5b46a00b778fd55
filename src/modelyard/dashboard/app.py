"""The Dash app factory: ``create_app(settings)`` builds the page and wires its callbacks."""

from __future__ import annotations

from pathlib import Path

from dash import Dash

from modelyard.config import Settings
from modelyard.dashboard.callbacks import register_callbacks
from modelyard.dashboard.layout import build_layout
from modelyard.dashboard.state import DashboardState

ASSETS = Path(__file__).with_name("assets")


def _healthz() -> dict[str, str]:
    """Liveness of the dashboard process itself (the page shows the other services)."""
    return {"status": "ok"}


def create_app(settings: Settings, state: DashboardState | None = None) -> Dash:
    """A ready-to-serve Dash app; ``state`` (engine, registry, probes) is built when omitted.

    The caller owns ``state`` and closes it when the server stops.
    """
    state = state or DashboardState.from_settings(settings)
    app = Dash(
        __name__,
        title=f"modelyard · {settings.model_name}",
        assets_folder=str(ASSETS),
        update_title=None,
        suppress_callback_exceptions=False,
        serve_locally=True,
    )
    app.layout = build_layout(settings)
    register_callbacks(app, state)

    app.server.add_url_rule("/healthz", "healthz", _healthz)
    return app
