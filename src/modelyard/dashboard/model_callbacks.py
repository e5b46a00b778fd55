"""Callbacks of the Models panel: the registry table and promote / roll back actions."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output, State, no_update
from sqlalchemy.exc import SQLAlchemyError

from modelyard.config import Settings
from modelyard.dashboard import ids, views
from modelyard.dashboard.messages import explain
from modelyard.dashboard.models_view import admin_key_accepted, load_models
from modelyard.dashboard.state import DashboardState, require_mlflow
from modelyard.dashboard.wiring import callback, refreshing
from modelyard.errors import ModelyardError
from modelyard.loop import records
from modelyard.registry import CHAMPION

log = logging.getLogger(__name__)


def register_models_table(app: Dash, state: DashboardState) -> None:
    model_name = state.settings.model_name

    # --- models ----------------------------------------------------------------------------
    @refreshing(
        app,
        ids.timer("models"),
        Output(ids.MODELS_MESSAGE, "children"),
        Output("models-summary-holder", "children"),
        Output("models-table-holder", "children"),
        Output(ids.PROMOTE_VERSION, "options"),
        Output(ids.PROMOTE_VERSION, "value"),
        Input(ids.MODELS_VERSION_STORE, "data"),
        State(ids.PROMOTE_VERSION, "value"),
    )
    def _models(_n: int | None, _changes: int | None, selected: str | None) -> tuple[Any, ...]:
        try:
            require_mlflow(state)
            view = load_models(state.registry, state.links)
        except Exception as exc:
            message, tone = explain(exc, "models")
            return (views.notice(message, tone), None, None, [], None)
        if not view.rows:
            text = (
                f"No versions of {model_name!r} are registered in MLflow yet: "
                "run `modelyard train`."
            )
            return (views.notice(text, "warn"), None, None, [], None)
        versions = [row.version for row in view.rows]
        options = [
            {"label": f"v{v}" + (f" ({', '.join(r.aliases)})" if r.aliases else ""), "value": v}
            for v, r in zip(versions, view.rows, strict=True)
        ]
        if selected not in versions:
            candidates = [v for v in versions if v != view.champion]
            if view.challenger in candidates:
                selected = view.challenger
            else:
                selected = candidates[0] if candidates else versions[0]
        return (None, views.models_summary(view), views.models_table(view), options, selected)


def refusal(settings: Settings) -> str:
    """Why an admin action was refused."""
    if settings.admin_keys.enabled:
        return "The admin key is wrong: nothing was changed."
    return (
        f"Admin actions are off: the dashboard listens on {settings.host} and no admin key "
        "is set (MODELYARD_ADMIN_KEY_HASHES, see `modelyard keygen`)."
    )


def register_promote(app: Dash, state: DashboardState) -> None:
    model_name = state.settings.model_name
    settings = state.settings
    admin_state = [State(ids.ADMIN_KEY, "value")] if settings.admin_keys.enabled else []

    @callback(
        app,
        Output(ids.PROMOTE_CONFIRM, "displayed"),
        Output(ids.PROMOTE_CONFIRM, "message"),
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Input(ids.PROMOTE_BUTTON, "n_clicks"),
        State(ids.PROMOTE_VERSION, "value"),
        prevent_initial_call=True,
    )
    def _ask_promote(_clicks: int, version: str | None) -> tuple[Any, ...]:
        if not version:
            return (False, no_update, views.notice("Choose a version to promote.", "warn"))
        return (
            True,
            f"Make version {version} the champion of {model_name}? "
            "The API and the worker switch to it within their poll interval.",
            None,
        )

    @callback(
        app,
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Output(ids.MODELS_VERSION_STORE, "data", allow_duplicate=True),
        Input(ids.PROMOTE_CONFIRM, "submit_n_clicks"),
        State(ids.PROMOTE_VERSION, "value"),
        State(ids.MODELS_VERSION_STORE, "data"),
        *admin_state,
        prevent_initial_call=True,
    )
    def _promote(
        _submits: int, version: str | None, changes: int | None, *key: str | None
    ) -> tuple[Any, ...]:
        if not admin_key_accepted(settings, key[0] if key else None):
            return (views.notice(refusal(settings), "error"), no_update)
        if not version:
            return (views.notice("Choose a version to promote.", "warn"), no_update)
        try:
            require_mlflow(state)
            before = state.registry.champion()
            info = state.registry.promote(version)
        except ModelyardError as exc:
            message, tone = explain(exc, "models")
            return (views.notice(message, tone), no_update)
        log.info("promoted %s version %s from the dashboard", model_name, info.version)
        record_decision(state, "promote", before.version if before else None, info.version)
        return (
            views.notice(
                f"Version {info.version} is now the {CHAMPION}.", "ok", element_id="action-ok"
            ),
            (changes or 0) + 1,
        )


def register_rollback(app: Dash, state: DashboardState) -> None:
    model_name = state.settings.model_name
    settings = state.settings
    admin_state = [State(ids.ADMIN_KEY, "value")] if settings.admin_keys.enabled else []

    @callback(
        app,
        Output(ids.ROLLBACK_CONFIRM, "displayed"),
        Output(ids.ROLLBACK_CONFIRM, "message"),
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Input(ids.ROLLBACK_BUTTON, "n_clicks"),
        prevent_initial_call=True,
    )
    def _ask_rollback(_clicks: int) -> tuple[Any, ...]:
        try:
            require_mlflow(state)
            history = state.registry.history()
            champion = state.registry.champion()
        except ModelyardError as exc:
            message, tone = explain(exc, "models")
            return (False, no_update, views.notice(message, tone))
        earlier = [v for v in history if champion is None or v != champion.version]
        if not earlier:
            return (
                False,
                no_update,
                views.notice("There is no earlier champion to roll back to.", "warn"),
            )
        current = f"version {champion.version}" if champion else "the current champion"
        return (
            True,
            f"Give {CHAMPION} back to version {earlier[-1]} (replacing {current})?",
            None,
        )

    @callback(
        app,
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Output(ids.MODELS_VERSION_STORE, "data", allow_duplicate=True),
        Input(ids.ROLLBACK_CONFIRM, "submit_n_clicks"),
        State(ids.MODELS_VERSION_STORE, "data"),
        *admin_state,
        prevent_initial_call=True,
    )
    def _rollback(_submits: int, changes: int | None, *key: str | None) -> tuple[Any, ...]:
        if not admin_key_accepted(settings, key[0] if key else None):
            return (views.notice(refusal(settings), "error"), no_update)
        try:
            require_mlflow(state)
            before = state.registry.champion()
            info = state.registry.rollback()
        except ModelyardError as exc:
            message, tone = explain(exc, "models")
            return (views.notice(message, tone), no_update)
        log.info("rolled %s back to version %s from the dashboard", model_name, info.version)
        record_decision(state, "rollback", before.version if before else None, info.version)
        return (
            views.notice(
                f"Rolled back: version {info.version} is the {CHAMPION} again.",
                "ok",
                element_id="action-ok",
            ),
            (changes or 0) + 1,
        )


def record_decision(
    state: DashboardState, action: str, from_version: str | None, to_version: str
) -> None:
    """Record a promotion or rollback made on the dashboard; the move itself stands even
    when the database cannot take the record (that is logged)."""
    try:
        records.add_person_decision(
            state.engine,
            model_name=state.settings.model_name,
            action=action,
            decided_by="dashboard",
            from_version=from_version,
            to_version=to_version,
        )
    except SQLAlchemyError as exc:
        log.warning("the %s to version %s was not recorded: %s", action, to_version, exc)
