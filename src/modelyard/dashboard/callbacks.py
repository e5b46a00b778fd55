"""Wiring every panel's callbacks; each panel reloads on the refresh timer and never raises.

A panel whose data cannot be read shows a sentence saying why (empty database, MLflow down,
no model yet) in its message slot, and empty charts that say the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from dash import Dash, Output, State, html, no_update

from modelyard.dashboard import ids, views
from modelyard.dashboard.loop_callbacks import register_loop
from modelyard.dashboard.model_callbacks import (
    register_models_table,
    register_promote,
    register_rollback,
)
from modelyard.dashboard.panel_callbacks import (
    register_drift,
    register_predictions,
    register_quality,
)
from modelyard.dashboard.state import DashboardState
from modelyard.dashboard.try_callbacks import register_try
from modelyard.dashboard.wiring import refreshing


def register_callbacks(app: Dash, state: DashboardState) -> None:
    register_status(app, state)
    register_predictions(app, state)
    register_quality(app, state)
    register_drift(app, state)
    register_models_table(app, state)
    register_promote(app, state)
    register_rollback(app, state)
    register_loop(app, state)
    register_pipeline(app, state)
    register_try(app, state)


def register_status(app: Dash, state: DashboardState) -> None:
    @refreshing(
        app,
        ids.timer("services"),
        Output(ids.SERVICES_LIST, "children"),
        Output(ids.LAST_REFRESH, "children"),
    )
    def _services(_n: int | None) -> tuple[Any, str]:
        statuses = views.services_list(state.health.check_all())
        return statuses, f"updated {dt.datetime.now(dt.UTC).strftime('%H:%M:%S')} UTC"


def register_pipeline(app: Dash, state: DashboardState) -> None:
    settings = state.settings

    # --- pipeline --------------------------------------------------------------------------
    @refreshing(
        app,
        ids.timer("pipeline"),
        Output(ids.PIPELINE_FRAME, "children"),
        Output("pipeline-state", "data"),
        State("pipeline-state", "data"),
    )
    def _pipeline(_n: int | None, known: str | None) -> tuple[Any, ...]:
        url = settings.viz_base_url  # as this server reaches it
        try:
            reachable = state.http.get(f"{url}/").status_code < 500
        except httpx.HTTPError:
            reachable = False
        now = "up" if reachable else "down"
        if now == known:
            return (no_update, no_update)  # keep the embedded page as it is
        if reachable:
            # the frame is loaded by the browser, so it takes the public address
            src = f"{settings.viz_ui_url}/"
            frame = html.Iframe(src=src, className="viz-frame", title="Kedro-Viz")
            return (frame, now)
        text = f"Kedro-Viz is not running at {url}: start it with `modelyard viz`."
        return (views.notice(text, "warn"), now)
