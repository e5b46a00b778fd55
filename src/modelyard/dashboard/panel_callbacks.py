"""Callbacks of the database panels: live predictions, quality and drift."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output

from modelyard.dashboard import figures, ids, queries, views
from modelyard.dashboard.messages import explain
from modelyard.dashboard.state import DashboardState, require_mlflow
from modelyard.dashboard.wiring import refreshing

log = logging.getLogger(__name__)

SHOW: dict[str, str] = {}
HIDE = {"display": "none"}

NO_PREDICTIONS = (
    "No predictions yet: start the worker (`modelyard worker`) and send rows (`modelyard stream`)."
)


def register_predictions(app: Dash, state: DashboardState) -> None:
    settings = state.settings
    model_name = settings.model_name

    @refreshing(
        app,
        ids.timer("predictions"),
        Output(ids.PREDICTIONS_MESSAGE, "children"),
        Output(ids.PREDICTIONS_SUMMARY, "children"),
        Output("predictions-table-holder", "children"),
        Output(ids.PREDICTIONS_RATE, "figure"),
        Output(ids.PREDICTIONS_BODY, "style"),
    )
    def _predictions(_n: int | None) -> tuple[Any, ...]:
        try:
            with state.engine.connect() as conn:
                counts = queries.counts(conn, model_name)
                rows = queries.latest_predictions(conn, model_name, limit=50)
                per_minute = queries.predictions_per_minute(conn, model_name)
        except Exception as exc:
            message, tone = explain(exc, "predictions")
            return (views.notice(message, tone), None, None, figures.empty("No data"), HIDE)
        summary = views.counts_bar(counts)
        if not rows:
            waiting = (
                f"{counts.pending:,} observations are waiting for the worker."
                if counts.pending
                else NO_PREDICTIONS
            )
            return (
                views.notice(waiting, "info"),
                summary,
                None,
                figures.empty("No predictions yet"),
                SHOW,
            )
        table = views.predictions_table(rows)
        return (None, summary, table, figures.predictions_rate(per_minute), SHOW)


def register_quality(app: Dash, state: DashboardState) -> None:
    settings = state.settings
    model_name = settings.model_name

    @refreshing(
        app,
        ids.timer("quality"),
        Output(ids.QUALITY_MESSAGE, "children"),
        Output(ids.QUALITY_SUMMARY, "children"),
        Output(ids.ACCURACY_CHART, "figure"),
        Output(ids.CONFUSION_CHART, "figure"),
        Output(ids.RECALL_CHART, "figure"),
        Output(ids.QUALITY_BODY, "style"),
    )
    def _quality(_n: int | None) -> tuple[Any, ...]:
        try:
            with state.engine.connect() as conn:
                history = queries.quality_history(conn, model_name)
                latest = queries.latest_quality(conn, model_name)
                outcomes = queries.labelled_outcomes(conn, model_name)
                comparison = queries.latest_comparison(conn, model_name)
        except Exception as exc:
            message, tone = explain(exc, "quality")
            blank = figures.empty("No data")
            return (views.notice(message, tone), None, blank, blank, blank, HIDE)
        accuracy_fig = figures.accuracy(history, outcomes, settings.quality_window)
        if latest is None:
            text = "No quality measured yet: it appears once true labels arrive for scored rows."
            blank = figures.empty("Waiting for labels", 300)
            return (views.notice(text), None, accuracy_fig, blank, blank, SHOW)
        errors = int((~outcomes["correct"]).sum()) if not outcomes.empty else 0
        summary: Any = views.quality_summary(
            latest.accuracy,
            latest.labelled_rows,
            latest.window,
            latest.model_version,
            errors=errors,
            rows=len(outcomes),
        )
        against = views.comparison_summary(comparison, latest.model_version) if comparison else None
        if against is not None:
            summary = [summary, against]
        return (
            None,
            summary,
            accuracy_fig,
            figures.confusion(latest.confusion),
            figures.recall(latest.per_class_recall),
            SHOW,
        )


def register_drift(app: Dash, state: DashboardState) -> None:
    settings = state.settings
    model_name = settings.model_name

    @refreshing(
        app,
        ids.timer("drift"),
        Output(ids.DRIFT_MESSAGE, "children"),
        Output(ids.DRIFT_CHART, "figure"),
        Output(ids.DISTRIBUTION_CHART, "figure"),
        Output(ids.DRIFT_FEATURE, "options"),
        Output(ids.DRIFT_FEATURE, "value"),
        Output(ids.DRIFT_BODY, "style"),
        Input(ids.DRIFT_FEATURE, "value"),
    )
    def _drift(_n: int | None, chosen: str | None) -> tuple[Any, ...]:
        try:
            with state.engine.connect() as conn:
                history = queries.drift_history(conn, model_name)
                names = queries.feature_names(conn)
                feature = chosen if chosen in names else (names[0] if names else None)
                stored = (
                    queries.recent_raw_values(conn, feature, settings.drift_window)
                    if feature
                    else []
                )
                latest = queries.latest_predictions(conn, model_name, limit=1)
        except Exception as exc:
            message, tone = explain(exc, "drift")
            blank = figures.empty("No data")
            return (views.notice(message, tone), blank, blank, [], None, HIDE)
        notes: list[Any] = []
        if history.empty:
            notes.append(
                views.notice(
                    "No drift measured yet: the worker measures it once "
                    f"{settings.drift_window} rows have been scored."
                )
            )
        quiet = views.drift_below_noise(history, settings.drift_threshold)
        if quiet is not None:
            notes.append(quiet)
        options = [{"label": n, "value": n} for n in names]
        if feature is None:
            return (
                notes or None,
                figures.drift(history, settings.drift_threshold),
                figures.empty("No observations yet"),
                options,
                None,
                SHOW,
            )
        version = latest[0]["model_version"] if latest else None
        edges: list[float] | None = None
        counts: list[float] | None = None
        categories: list[str] | None = None
        recent = queries.numbers(stored)
        try:
            profile = state.profiles.cached(version) if version is not None else None
            if profile is None:
                require_mlflow(state)
                if version is None:
                    champion = state.registry.champion()
                    version = champion.version if champion else None
                profile = state.profiles.for_version(version) if version is not None else {}
            bins = profile.get(feature)
            if bins is not None:
                edges, counts, categories = bins.bin_edges, bins.bin_counts, bins.categories
                recent = bins.scale(stored)
        except Exception as exc:
            message, tone = explain(exc, "drift")
            notes.append(views.notice(f"Training profile unavailable. {message}", "warn"))
        return (
            notes or None,
            figures.drift(history, settings.drift_threshold),
            figures.distribution(feature, recent, edges, counts, categories),
            options,
            feature,
            SHOW,
        )
