"""The page: a header and one card per panel, each with a stable id for tests."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from modelyard.config import Settings
from modelyard.dashboard import figures, ids
from modelyard.dashboard.try_view import build_try_page
from modelyard.dashboard.views import notice


def _card(title: str, element_id: str, children: list[Any], subtitle: str = "") -> html.Section:
    head: list[Any] = [html.H2(title)]
    if subtitle:
        head.append(html.Span(subtitle, className="card-subtitle"))
    return html.Section(
        [html.Div(head, className="card-head"), *children], id=element_id, className="card"
    )


def _graph(element_id: str, height: int = 280) -> dcc.Graph:
    return dcc.Graph(
        id=element_id,
        figure=figures.empty("Loading…", height),
        config={"displaylogo": False, "responsive": True},
        className="graph",
        style={"height": f"{height}px"},
    )


def _loading(text: str, element_id: str) -> html.Div:
    return html.Div(notice(text), id=element_id)


def build_layout(settings: Settings) -> html.Div:
    period_ms = int(settings.ui_refresh_seconds * 1000)
    admin_required = settings.admin_keys.enabled
    header = html.Header(
        [
            html.Div(
                [
                    html.Span("modelyard", className="brand"),
                    html.Span(f"model {settings.model_name}", className="header-model"),
                    html.Nav(
                        [
                            dcc.Link(
                                "Overview", href="/", id=ids.NAV_OVERVIEW, className="nav-link"
                            ),
                            dcc.Link(
                                "Try it", href=ids.TRY_PATH, id=ids.NAV_TRY, className="nav-link"
                            ),
                        ],
                        className="nav",
                    ),
                ],
                className="header-left",
            ),
            html.Div(
                [
                    html.Span(
                        f"refreshes every {settings.ui_refresh_seconds:g} s · ", className="muted"
                    ),
                    html.Span("loading…", id=ids.LAST_REFRESH),
                ],
                className="header-right",
            ),
        ],
        className="header",
    )
    services = _card(
        "Services",
        ids.SERVICES_PANEL,
        [html.Div(notice("Checking services…"), id=ids.SERVICES_LIST, className="services")],
    )
    predictions = _card(
        "Live predictions",
        ids.PREDICTIONS_PANEL,
        [
            _loading("Loading predictions…", ids.PREDICTIONS_MESSAGE),
            html.Div(
                [
                    html.Div(id=ids.PREDICTIONS_SUMMARY),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H3("Latest scored observations"),
                                    html.Div(id="predictions-table-holder"),
                                ],
                                className="col-wide",
                            ),
                            html.Div(
                                [
                                    html.H3("Predictions per minute by class"),
                                    _graph(ids.PREDICTIONS_RATE),
                                ],
                                className="col",
                            ),
                        ],
                        className="row",
                    ),
                ],
                id=ids.PREDICTIONS_BODY,
            ),
        ],
        subtitle="rows scored by the worker, newest first",
    )
    quality = _card(
        "Quality",
        ids.QUALITY_PANEL,
        [
            _loading("Loading quality…", ids.QUALITY_MESSAGE),
            html.Div(
                [
                    html.Div(id=ids.QUALITY_SUMMARY),
                    html.H3("Rolling accuracy and errors"),
                    _graph(ids.ACCURACY_CHART),
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H3("Confusion matrix (recent window)"),
                                    _graph(ids.CONFUSION_CHART, 300),
                                ],
                                className="col",
                            ),
                            html.Div(
                                [html.H3("Recall per class"), _graph(ids.RECALL_CHART, 300)],
                                className="col",
                            ),
                        ],
                        className="row",
                    ),
                ],
                id=ids.QUALITY_BODY,
            ),
        ],
        subtitle=f"labelled rows; window of {settings.quality_window} rows",
    )
    drift = _card(
        "Drift",
        ids.DRIFT_PANEL,
        [
            _loading("Loading drift…", ids.DRIFT_MESSAGE),
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.H3("Population stability index per feature"),
                                    _graph(ids.DRIFT_CHART),
                                ],
                                className="col",
                            ),
                            html.Div(
                                [
                                    html.Div(
                                        [
                                            html.H3("Recent vs training distribution"),
                                            dcc.Dropdown(
                                                id=ids.DRIFT_FEATURE,
                                                clearable=False,
                                                placeholder="feature",
                                                className="dropdown",
                                            ),
                                        ],
                                        className="inline-head",
                                    ),
                                    _graph(ids.DISTRIBUTION_CHART),
                                ],
                                className="col",
                            ),
                        ],
                        className="row",
                    )
                ],
                id=ids.DRIFT_BODY,
            ),
        ],
        subtitle=f"recent {settings.drift_window} rows against the training profile; "
        f"alert above PSI {settings.drift_threshold:g} and above what sampling noise reaches",
    )
    actions: list[Any] = [
        dcc.Dropdown(
            id=ids.PROMOTE_VERSION,
            placeholder="version",
            clearable=False,
            className="dropdown version-dropdown",
        ),
    ]
    if admin_required:
        actions.append(
            dcc.Input(
                id=ids.ADMIN_KEY,
                type="password",
                placeholder="admin key",
                className="input",
                autoComplete="off",
                style={"width": "180px"},
            )
        )
    actions += [
        html.Button(
            "Promote to champion", id=ids.PROMOTE_BUTTON, className="button primary", n_clicks=0
        ),
        html.Button("Roll back", id=ids.ROLLBACK_BUTTON, className="button", n_clicks=0),
    ]
    models = _card(
        "Models",
        ids.MODELS_PANEL,
        [
            _loading("Loading the registry…", ids.MODELS_MESSAGE),
            html.Div(id="models-summary-holder"),
            html.Div(id="models-table-holder", className="table-holder"),
            html.Div(actions, className="actions"),
            html.Div(id=ids.ACTION_RESULT, className="action-result", role="status"),
            dcc.ConfirmDialog(id=ids.PROMOTE_CONFIRM),
            dcc.ConfirmDialog(id=ids.ROLLBACK_CONFIRM),
            dcc.Store(id=ids.MODELS_VERSION_STORE, data=0),
        ],
        subtitle=f"registered versions of {settings.model_name} in MLflow",
    )
    schedule = (
        f"every {settings.retrain_interval_seconds:g}s"
        if settings.retrain_interval_seconds > 0
        else "no schedule"
    )
    loop = _card(
        "Closed loop",
        ids.LOOP_PANEL,
        [
            _loading("Loading the retraining and promotion records…", ids.LOOP_MESSAGE),
            html.Div(
                [
                    html.Div(
                        [html.H3("Retraining triggers"), html.Div(id=ids.LOOP_TRIGGERS)],
                        className="col",
                    ),
                    html.Div(
                        [html.H3("Promotions and rollbacks"), html.Div(id=ids.LOOP_DECISIONS)],
                        className="col",
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button(
                        "Retrain now", id=ids.RETRAIN_BUTTON, className="button", n_clicks=0
                    ),
                ],
                className="actions",
            ),
            html.Div(id=ids.RETRAIN_RESULT, className="action-result", role="status"),
        ],
        subtitle=f"promotion policy {settings.promotion_policy}; retraining by hand, on "
        f"alerts (cool-down {settings.retrain_cooldown_seconds:g}s), {schedule}",
    )
    pipeline = _card(
        "Pipeline",
        ids.PIPELINE_PANEL,
        [
            html.Div(
                [
                    html.A(
                        "Open Kedro-Viz ↗",
                        href=settings.viz_ui_url,
                        target="_blank",
                        id=ids.PIPELINE_LINK,
                        className="button",
                    )
                ],
                className="actions",
            ),
            html.Div(notice("Looking for Kedro-Viz…"), id=ids.PIPELINE_FRAME),
            dcc.Store(id="pipeline-state"),
        ],
        subtitle="the training pipeline in Kedro-Viz",
    )
    return html.Div(
        [
            dcc.Location(id=ids.URL),
            *(
                dcc.Interval(id=ids.timer(panel), interval=period_ms, max_intervals=1)
                for panel in ids.TIMED_PANELS
            ),
            header,
            html.Main(
                [
                    services,
                    predictions,
                    quality,
                    drift,
                    html.Div([models], className="span-all"),
                    html.Div([loop], className="span-all"),
                    pipeline,
                ],
                className="grid",
                id=ids.OVERVIEW_PAGE,
            ),
            html.Main(
                [html.Div([build_try_page(settings)], className="span-all")],
                className="grid",
                id=ids.TRY_PAGE,
                style={"display": "none"},
            ),
        ],
        className="page",
    )
