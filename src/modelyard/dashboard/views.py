"""Dash components that show query and registry results (pure functions: data in, HTML out)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
from dash import dash_table, html

from modelyard.dashboard import ids
from modelyard.dashboard.health import ServiceStatus
from modelyard.dashboard.models_view import ModelsView
from modelyard.dashboard.queries import ComparisonNow, Counts
from modelyard.loop.records import Decision, Trigger

Tone = Literal["info", "ok", "warn", "error"]


def notice(message: str, tone: Tone = "info", element_id: str | None = None) -> html.Div:
    """A one-paragraph message that takes a panel's place when it has nothing to show."""
    props: dict[str, Any] = {"className": f"notice notice-{tone}", "role": "status"}
    if element_id:
        props["id"] = element_id
    return html.Div(message, **props)


def drift_below_noise(history: pd.DataFrame, setting: float) -> html.Div | None:
    """Why the latest measurement raises no alert where its PSI passes the setting.

    On a small window sampling noise alone gives an unshifted stream a PSI above the
    configured threshold; the worker then holds the alert to the higher, noise-aware
    threshold it stores with each measurement (the dashed line of the drift chart).
    """
    if history.empty or "threshold" not in history:
        return None
    latest = history.loc[history["created_at"] == history["created_at"].max()]
    quiet = latest.loc[(latest["psi"] > setting) & ~latest["alert"].astype(bool)]
    quiet = quiet.dropna(subset=["threshold"]).sort_values("feature")
    if quiet.empty:
        return None
    psis = ", ".join(f"{row.feature} {row.psi:.2f}" for row in quiet.itertuples())
    return notice(
        f"No drift alert, although the latest PSI ({psis}) is above the setting "
        f"MODELYARD_DRIFT_THRESHOLD={setting:g}: with a recent window and a training profile "
        "this small, sampling noise alone reaches such a PSI, so an alert needs PSI above the "
        f"threshold in force ({float(quiet['threshold'].max()):.2f}, the dashed line), the "
        "higher of the setting and what noise reaches once in 1,000 windows of an unshifted "
        "stream. A shifted stream (`modelyard stream --shift 0.5`) rises well above it.",
        element_id=ids.DRIFT_NOISE_NOTE,
    )


def format_time(value: dt.datetime | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _stat(label: str, value: str, element_id: str | None = None) -> html.Div:
    props: dict[str, Any] = {"className": "stat"}
    if element_id:
        props["id"] = element_id
    return html.Div(
        [html.Div(value, className="stat-value"), html.Div(label, className="stat-label")],
        **props,
    )


def counts_bar(counts: Counts) -> html.Div:
    return html.Div(
        [
            _stat("observations", f"{counts.observations:,}", "stat-observations"),
            _stat("scored", f"{counts.scored:,}", "stat-scored"),
            _stat("pending", f"{counts.pending:,}", "stat-pending"),
            _stat("failed", f"{counts.failed:,}", "stat-failed"),
            _stat("labelled", f"{counts.labelled:,}", "stat-labelled"),
        ],
        className="stats",
    )


def _outcome(prediction: str, truth: str | None) -> str:
    if truth is None:
        return "awaiting label"
    return "✓ correct" if prediction == truth else "✗ wrong"


def predictions_table(rows: Sequence[dict[str, Any]]) -> dash_table.DataTable:
    feature_names: dict[str, None] = {}
    for row in rows:
        for name in row["features"]:
            feature_names.setdefault(name, None)
    columns = [{"name": "Obs.", "id": "observation_id"}, {"name": "Scored at", "id": "scored_at"}]
    columns += [{"name": name, "id": f"f:{name}"} for name in feature_names]
    columns += [
        {"name": "Prediction", "id": "prediction"},
        {"name": "Probability", "id": "probability"},
        {"name": "True label", "id": "true_label"},
        {"name": "Outcome", "id": "outcome"},
        {"name": "Version", "id": "model_version"},
    ]
    data = []
    for row in rows:
        record: dict[str, Any] = {
            "observation_id": row["observation_id"],
            "scored_at": format_time(row["scored_at"]).removesuffix(" UTC")[11:],
            "prediction": row["prediction"],
            "probability": "—" if row["probability"] is None else f"{row['probability']:.3f}",
            "true_label": row["true_label"] if row["true_label"] is not None else "—",
            "outcome": _outcome(row["prediction"], row["true_label"]),
            "model_version": f"v{row['model_version']}",
        }
        for name in feature_names:
            value = row["features"].get(name)
            record[f"f:{name}"] = f"{value:g}" if isinstance(value, int | float) else str(value)
        data.append(record)
    return dash_table.DataTable(
        id=ids.PREDICTIONS_TABLE,
        columns=columns,
        data=data,
        page_size=12,
        style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={
            "backgroundColor": "#f8fafc",
            "fontWeight": "600",
            "color": "#334155",
            "borderBottom": "1px solid #e2e8f0",
        },
        style_cell={
            "fontFamily": "inherit",
            "fontSize": "13px",
            "padding": "6px 10px",
            "textAlign": "left",
            "border": "none",
            "borderBottom": "1px solid #f1f5f9",
        },
        style_data_conditional=[
            {
                "if": {"filter_query": '{outcome} = "✗ wrong"'},
                "backgroundColor": "#fef2f2",
                "color": "#991b1b",
            },
            {
                "if": {"filter_query": '{outcome} = "✓ correct"', "column_id": "outcome"},
                "color": "#047857",
            },
            {
                "if": {"filter_query": '{outcome} = "awaiting label"', "column_id": "outcome"},
                "color": "#94a3b8",
            },
        ],
    )


def quality_summary(
    accuracy: float | None,
    labelled_rows: int,
    window: int,
    version: str,
    *,
    errors: int,
    rows: int,
) -> html.Div:
    return html.Div(
        [
            _stat(
                "rolling accuracy", "—" if accuracy is None else f"{accuracy:.1%}", "stat-accuracy"
            ),
            _stat(f"labelled rows in window (of {window})", f"{labelled_rows:,}"),
            _stat("model version", f"v{version}"),
            _stat(f"errors among last {rows:,} labelled", f"{errors:,}", "stat-errors"),
        ],
        className="stats",
    )


def comparison_summary(c: ComparisonNow, served_version: str) -> html.Div | None:
    """Champion against the challenger in its shadow, on the labelled rows both scored; None
    when the comparison is not of the version served now."""
    if c.champion_version != served_version:
        return None

    def share(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    if c.p_value is None:
        verdict = "no row yet where exactly one is right"
    else:
        better = "challenger" if c.challenger_wins > c.champion_wins else "champion"
        verdict = f"{better} ahead, McNemar p = {c.p_value:.3g}"
    return html.Div(
        [
            html.Div(
                f"Champion v{c.champion_version} against challenger v{c.challenger_version} "
                f"(in the shadow) on {c.labelled_rows:,} labelled rows both scored",
                className="comparison-title",
            ),
            html.Div(
                [
                    _stat("champion accuracy", share(c.champion_accuracy)),
                    _stat("challenger accuracy", share(c.challenger_accuracy), "stat-challenger"),
                    _stat("agreement", share(c.agreement)),
                    _stat(
                        "right only: challenger / champion",
                        f"{c.challenger_wins:,} / {c.champion_wins:,}",
                    ),
                    _stat("evidence", verdict, "stat-verdict"),
                ],
                className="stats",
            ),
        ],
        className="comparison",
        id="comparison-summary",
    )


_DOT = {"green": "●", "amber": "●", "red": "●"}


def services_list(statuses: Sequence[ServiceStatus]) -> list[html.Div]:
    tiles = []
    for status in statuses:
        title: list[Any] = [
            html.Span(_DOT[status.level], className=f"dot dot-{status.level}"),
            html.Span(status.title, className="service-title"),
        ]
        children: list[Any] = [
            html.Div(title, className="service-head"),
            html.Div(status.reason, className="service-reason"),
        ]
        if status.url:
            if status.url.startswith(("http://", "https://")):
                children.append(
                    html.A(status.url, href=status.url, target="_blank", className="service-url")
                )
            else:
                children.append(html.Div(status.url, className="service-url"))
        tiles.append(
            html.Div(
                children,
                id=ids.service_id(status.name),
                className=f"service service-{status.level}",
                **{"data-level": status.level},
            )
        )
    return tiles


def _alias_badges(aliases: Sequence[str]) -> list[html.Span]:
    return [html.Span(a, className=f"badge badge-{a}") for a in aliases]


def models_table(view: ModelsView) -> html.Table:
    metric_names = view.metric_names()
    head = html.Tr(
        [html.Th("Version"), html.Th("Aliases"), html.Th("Registered"), html.Th("Promoted")]
        + [html.Th(name.replace("_", " ")) for name in metric_names]
        + [html.Th("Run")]
    )
    body = []
    for row in view.rows:
        run_cell: Any = (
            html.A(row.run_id[:8], href=row.run_url, target="_blank", className="run-link")
            if row.run_url and row.run_id
            else (row.run_id[:8] if row.run_id else "—")
        )
        body.append(
            html.Tr(
                [
                    html.Td(html.A(f"v{row.version}", href=row.version_url, target="_blank")),
                    html.Td(_alias_badges(row.aliases) or "—", className="aliases"),
                    html.Td(format_time(row.created_at)),
                    html.Td(format_time(row.promoted_at)),
                ]
                + [
                    html.Td(
                        f"{row.metrics[name]:.4f}" if name in row.metrics else "—",
                        className="num",
                        **{"data-metric": name},
                    )
                    for name in metric_names
                ]
                + [html.Td(run_cell)],
                id=f"model-row-{row.version}",
                className="champion-row" if "champion" in row.aliases else None,
            )
        )
    return html.Table([html.Thead(head), html.Tbody(body)], id=ids.MODELS_TABLE, className="table")


def models_summary(view: ModelsView) -> html.Div:
    parts: list[Any] = [
        html.Span("champion ", className="muted"),
        html.Strong(f"v{view.champion}" if view.champion else "none", id="champion-version"),
        html.Span(" · challenger ", className="muted"),
        html.Strong(f"v{view.challenger}" if view.challenger else "none", id="challenger-version"),
    ]
    if view.history:
        chain = " → ".join(f"v{v}" for v in [*view.history, view.champion or "?"])
        parts += [html.Span(" · champion history ", className="muted"), html.Span(chain)]
    return html.Div(parts, className="models-summary")


_STATUS_TONE = {"succeeded": "ok", "running": "info", "failed": "error", "skipped": "muted"}


def triggers_table(triggers: Sequence[Trigger]) -> html.Table | html.Div:
    """Recent retraining triggers, newest first: what asked, why, and what became of it."""
    if not triggers:
        return notice(
            "No retraining yet. One starts with modelyard retrain, Retrain now, a firing "
            "drift or accuracy alert (POST /admin/alerts), or the schedule."
        )
    head = html.Tr(
        [html.Th(t) for t in ("#", "Asked", "By", "Why", "Outcome", "Challenger", "Detail")]
    )
    body = [
        html.Tr(
            [
                html.Td(str(t.id)),
                html.Td(format_time(t.requested_at)),
                html.Td(t.source),
                html.Td(t.reason, className="wrap"),
                html.Td(
                    html.Span(t.status, className=f"status-{_STATUS_TONE.get(t.status, 'info')}")
                ),
                html.Td(f"v{t.version}" if t.version else "—"),
                html.Td(t.detail or "—", className="wrap muted"),
            ],
            id=f"trigger-row-{t.id}",
        )
        for t in triggers
    ]
    return html.Table(
        [html.Thead(head), html.Tbody(body)], id=ids.LOOP_TRIGGERS + "-table", className="table"
    )


def decisions_table(decisions: Sequence[Decision]) -> html.Table | html.Div:
    """Recent moves of the champion alias, newest first, with who decided and why."""
    if not decisions:
        return notice("No promotion or rollback recorded yet.")
    head = html.Tr([html.Th(t) for t in ("When", "Action", "By", "Champion", "Why")])
    body = [
        html.Tr(
            [
                html.Td(format_time(d.decided_at)),
                html.Td(d.action),
                html.Td(d.decided_by),
                html.Td(f"v{d.from_version or '?'} → v{d.to_version}"),
                html.Td(d.reason, className="wrap"),
            ]
        )
        for d in decisions
    ]
    return html.Table(
        [html.Thead(head), html.Tbody(body)], id=ids.LOOP_DECISIONS + "-table", className="table"
    )
