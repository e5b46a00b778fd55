"""The "Try it" page: upload an image (or pick a sample) and compare two versions' top-k.

Pure functions: the page's layout, and the chart and caption of one version's answer.
"""

from __future__ import annotations

import base64
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from modelyard.config import Settings
from modelyard.dashboard import figures, ids
from modelyard.dashboard.try_api import TopK
from modelyard.dashboard.views import notice

SIDES = {"left": "v1", "right": "v2"}
CHART_HEIGHT = 300
NO_MODEL_HINT = (
    "The prediction API serves no image model. Make one: `modelyard demo images DIR` writes "
    "a folder of labelled images, `modelyard train --images DIR` trains and registers a model "
    "on it; then serve it (`modelyard serve` with MODELYARD_MODELS naming it) and press Reload."
)


def top_k_figure(answer: TopK, height: int = CHART_HEIGHT) -> go.Figure:
    """Horizontal bars of the answer's classes, highest first at the top."""
    if not answer.ranked:
        return figures.empty("The answer holds no classes", height)
    labels = [r.label for r in answer.ranked]
    values = [r.probability for r in answer.ranked]
    colors = [figures.ACCENT if i == 0 else "#93c5fd" for i in range(len(values))]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{v:.1%}" for v in values],
            textposition="auto",
            name=f"{answer.name} v{answer.version}",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 64, "r": 16, "t": 12, "b": 36},
        font={"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        showlegend=False,
        bargap=0.25,
    )
    # labels are categories even when they look like numbers ("3"), in the answer's order
    fig.update_yaxes(type="category", autorange="reversed", title_text="class")
    fig.update_xaxes(range=[0, 1.04], tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".0%")
    fig.update_xaxes(title_text="probability")
    return fig


def answer_caption(answer: TopK, side: str) -> html.Div:
    """Who answered (name, version, the reference asked for) and the measured round trip."""
    asked = "" if answer.ref == answer.version else f" (asked for {answer.ref})"
    return html.Div(
        [
            html.Strong(f"{answer.name} v{answer.version}"),
            html.Span(asked, className="muted"),
            html.Span(" · ", className="muted"),
            html.Span(f"{answer.latency_ms:.1f} ms", className="try-latency"),
            html.Span(" round trip", className="muted"),
        ],
        id=ids.try_side(side, "answer"),
        className="try-answer",
        **{
            "data-name": answer.name,
            "data-version": answer.version,
            "data-latency-ms": f"{answer.latency_ms:.3f}",
        },
    )


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail(src: str | None, caption: str) -> html.Div:
    """The image being classified (no picture for a file that is not an image)."""
    children: list[Any] = []
    if src is not None:
        children.append(html.Img(src=src, className="try-thumb", alt=caption))
    children.append(html.Div(caption, className="try-thumb-caption"))
    return html.Div(children, className="try-thumb-box")


def _side(side: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H3(SIDES[side]),
                    dcc.Dropdown(
                        id=ids.try_side(side, "version"),
                        clearable=False,
                        placeholder="version",
                        className="dropdown version-dropdown",
                    ),
                ],
                className="inline-head",
            ),
            html.Div(id=ids.try_side(side, "answer-holder")),
            html.Div(id=ids.try_side(side, "message"), role="status"),
            dcc.Graph(
                id=ids.try_side(side, "chart"),
                figure=figures.empty("Upload an image or pick a sample", CHART_HEIGHT),
                config={"displaylogo": False, "responsive": True},
                className="graph",
                style={"height": f"{CHART_HEIGHT}px"},
            ),
        ],
        className="col",
        id=ids.try_side(side, "column"),
    )


def build_try_page(settings: Settings) -> html.Section:
    """The page's one card; hidden until the address is ``/try``."""
    controls = html.Div(
        [
            dcc.Dropdown(
                id=ids.TRY_MODEL,
                clearable=False,
                placeholder="image model",
                className="dropdown",
            ),
            html.Button("Reload", id=ids.TRY_RELOAD, className="button", n_clicks=0),
        ],
        className="actions",
    )
    image = html.Div(
        [
            html.Div(
                [
                    dcc.Upload(
                        id=ids.TRY_UPLOAD,
                        children=html.Div(
                            ["Drop a JPEG or PNG here, or ", html.A("choose a file")]
                        ),
                        multiple=False,
                        className="try-upload",
                    ),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id=ids.TRY_SAMPLE,
                                placeholder="or pick a sample image",
                                className="dropdown",
                            ),
                            html.Div(id=ids.TRY_SAMPLES_NOTE),
                        ],
                        className="try-samples",
                    ),
                ],
                className="col",
            ),
            html.Div(id=ids.TRY_IMAGE, className="col try-image"),
        ],
        className="row",
    )
    return html.Section(
        [
            html.Div(
                [
                    html.H2("Try an image model"),
                    html.Span(
                        "two versions' top classes for one image, from the API at "
                        f"{settings.api_base_url}",
                        className="card-subtitle",
                    ),
                ],
                className="card-head",
            ),
            controls,
            html.Div(notice("Asking the API for its image models…"), id=ids.TRY_MESSAGE),
            image,
            html.Div([_side("left"), _side("right")], className="row try-sides"),
            dcc.Store(id=ids.TRY_IMAGE_STORE),
            dcc.Store(id=ids.TRY_MODELS_STORE),
        ],
        id=ids.TRY_PANEL,
        className="card",
    )
