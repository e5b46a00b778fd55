"""Callbacks of the Closed loop panel: the retraining triggers, the promotion decisions and
the "Retrain now" button (which leaves a request in the registry for the worker)."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output, State

from modelyard.dashboard import ids, views
from modelyard.dashboard.messages import explain
from modelyard.dashboard.model_callbacks import refusal
from modelyard.dashboard.models_view import admin_key_accepted
from modelyard.dashboard.state import DashboardState, require_mlflow
from modelyard.dashboard.wiring import callback, refreshing
from modelyard.errors import ModelyardError
from modelyard.loop import records
from modelyard.loop.requests import ask

log = logging.getLogger(__name__)


def register_loop(app: Dash, state: DashboardState) -> None:
    settings = state.settings
    model_name = settings.model_name
    admin_state = [State(ids.ADMIN_KEY, "value")] if settings.admin_keys.enabled else []

    @refreshing(
        app,
        ids.timer("loop"),
        Output(ids.LOOP_MESSAGE, "children"),
        Output(ids.LOOP_TRIGGERS, "children"),
        Output(ids.LOOP_DECISIONS, "children"),
    )
    def _loop(_n: int | None) -> tuple[Any, ...]:
        try:
            with state.engine.connect() as conn:
                triggers = records.recent_triggers(conn, model_name)
                decisions = records.recent_decisions(conn, model_name)
        except Exception as exc:
            message, tone = explain(exc, "loop")
            return (views.notice(message, tone), None, None)
        return (None, views.triggers_table(triggers), views.decisions_table(decisions))

    @callback(
        app,
        Output(ids.RETRAIN_RESULT, "children"),
        Input(ids.RETRAIN_BUTTON, "n_clicks"),
        *admin_state,
        prevent_initial_call=True,
    )
    def _retrain(_clicks: int, *key: str | None) -> Any:
        if not admin_key_accepted(settings, key[0] if key else None):
            return views.notice(refusal(settings), "error")
        try:
            require_mlflow(state)
            asked = ask(
                state.registry,
                "manual",
                "asked for on the dashboard",
                cooldown_seconds=settings.retrain_cooldown_seconds,
            )
        except ModelyardError as exc:
            message, tone = explain(exc, "loop")
            return views.notice(message, tone)
        log.info("retraining of %s requested from the dashboard", model_name)
        return views.notice(
            f"{asked.message}: the worker starts it within "
            f"{settings.retrain_check_seconds:g}s; it shows in the triggers table.",
            "ok",
            element_id="retrain-ok",
        )
