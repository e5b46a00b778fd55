"""Plotly figures of the dashboard, built from query results (no database access here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#ec4899")
ACCENT = "#2563eb"
ERROR = "#ef4444"
MUTED = "#64748b"
MAX_ERROR_MARKERS = 300
"""Misclassified rows marked one by one on the accuracy chart (the newest ones)."""


def _base(fig: go.Figure, height: int = 280) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 48, "r": 16, "t": 28, "b": 40},
        font={"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="x unified",
    )
    return fig


def empty(message: str, height: int = 280) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 14, "color": MUTED},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig, height)


def class_colors(labels: Sequence[str]) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(labels))}


def predictions_rate(per_minute: pd.DataFrame) -> go.Figure:
    """Stacked bars: predictions per minute, one colour per predicted class."""
    if per_minute.empty:
        return empty("No predictions yet")
    colors = class_colors(per_minute["label"].unique().tolist())
    fig = go.Figure()
    for label, part in per_minute.groupby("label", sort=True):
        fig.add_bar(
            x=part["minute"],
            y=part["count"],
            name=str(label),
            marker_color=colors[str(label)],
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="predictions / min", rangemode="tozero")
    return _base(fig)


def accuracy(history: pd.DataFrame, outcomes: pd.DataFrame, window: int) -> go.Figure:
    """Rolling accuracy over time, with the misclassified labelled rows per minute below it."""
    if history.empty and outcomes.empty:
        return empty("No labelled rows yet: accuracy appears once labels arrive")
    fig = go.Figure()
    errors = int((~outcomes["correct"]).sum()) if not outcomes.empty else 0
    error_step = max(1, math.ceil(errors / 5))  # whole-number ticks on the errors axis
    if not history.empty:
        measured = history.dropna(subset=["accuracy"])
        fig.add_scatter(
            x=measured["created_at"],
            y=measured["accuracy"],
            mode="lines+markers",
            name=f"rolling accuracy (last {window} labelled)",
            line={"color": ACCENT, "width": 2},
            marker={"size": 4},
            customdata=measured[["model_version", "labelled_rows"]],
            hovertemplate="accuracy %{y:.3f}<br>version %{customdata[0]}, "
            "%{customdata[1]} rows<extra></extra>",
        )
    if not outcomes.empty:
        ordered = outcomes.assign(errors=(~outcomes["correct"]).cumsum())
        wrong = ordered.loc[~ordered["correct"]].tail(MAX_ERROR_MARKERS)
        fig.add_scatter(
            x=ordered["label_at"],
            y=ordered["errors"],
            mode="lines",
            line={"color": ERROR, "width": 1.5, "shape": "hv"},
            name="errors (cumulative)",
            yaxis="y2",
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=wrong["label_at"],
            y=wrong["errors"],
            mode="markers",
            marker={"color": ERROR, "symbol": "x", "size": 7},
            name="misclassified row",
            yaxis="y2",
            customdata=wrong[["observation_id", "label", "predicted"]],
            hovertemplate="observation %{customdata[0]}: true %{customdata[1]}, "
            "predicted %{customdata[2]}<extra></extra>",
        )
    fig.update_layout(
        yaxis={"title": {"text": "accuracy"}, "range": [0, 1.05], "tickformat": ".0%"},
        yaxis2={
            "title": {"text": "errors"},
            "tickformat": ",d",
            "dtick": error_step,
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    return _base(fig)


def confusion(matrix: dict[str, dict[str, int]]) -> go.Figure:
    """Heat map of true (rows) against predicted (columns) counts."""
    labels = sorted({*matrix, *(p for row in matrix.values() for p in row)})
    if not labels or not any(n for row in matrix.values() for n in row.values()):
        return empty("No labelled rows in the window yet", 300)
    z = np.array([[matrix.get(t, {}).get(p, 0) for p in labels] for t in labels])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale="Blues",
            showscale=False,
            text=z,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text="predicted", side="bottom")
    fig.update_yaxes(title_text="true", autorange="reversed")
    fig = _base(fig, 300)
    fig.update_layout(hovermode="closest")
    return fig


def recall(per_class: dict[str, float | None]) -> go.Figure:
    known = {k: v for k, v in sorted(per_class.items()) if v is not None}
    if not known:
        return empty("No labelled rows in the window yet", 300)
    colors = class_colors(list(known))
    fig = go.Figure(
        go.Bar(
            x=list(known),
            y=list(known.values()),
            marker_color=[colors[k] for k in known],
            text=[f"{v:.0%}" for v in known.values()],
            textposition="auto",
            hovertemplate="%{x}: recall %{y:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title_text="recall")
    fig = _base(fig, 300)
    fig.update_layout(hovermode="closest")
    return fig


def drift(history: pd.DataFrame, threshold: float) -> go.Figure:
    """PSI per feature over time, with the alert threshold as a dashed line.

    The worker stores the threshold in force with each measurement (on a small window it is
    above the configured one, so that sampling noise alone does not raise an alert); that is
    what is drawn, as a step line, and said in words beside it when it is above the setting,
    so that an unshifted stream's PSI above the setting reads as noise, not as a missed
    alert. ``threshold`` (the setting) is drawn when none is stored.
    """
    if history.empty:
        return empty("No drift measured yet")
    features = sorted(history["feature"].unique().tolist())
    colors = class_colors(features)
    fig = go.Figure()
    for feature in features:
        part = history.loc[history["feature"] == feature]
        fig.add_scatter(
            x=part["created_at"],
            y=part["psi"],
            mode="lines",
            name=feature,
            line={"color": colors[feature], "width": 2},
        )
    stored = history["threshold"].dropna() if "threshold" in history else pd.Series([])
    if stored.empty:
        fig.add_hline(
            y=threshold,
            line_dash="dash",
            line_color=ERROR,
            annotation_text=f"alert threshold {threshold:g}",
            annotation_position="top left",
        )
        highest = threshold
    else:
        in_force = history.loc[stored.index].groupby("created_at", sort=True)["threshold"].max()
        fig.add_scatter(
            x=in_force.index,
            y=in_force.to_numpy(),
            mode="lines",
            name="alert threshold",
            line={"color": ERROR, "width": 1.5, "dash": "dash", "shape": "hv"},
            hovertemplate=f"alert threshold in force %{{y:.3f}} (setting {threshold:g})"
            "<extra></extra>",
        )
        highest = float(in_force.max())
        latest = float(in_force.iloc[-1])
        if latest > threshold:
            fig.add_annotation(
                x=in_force.index[-1],
                y=latest,
                xanchor="right",
                yanchor="bottom",
                showarrow=False,
                font={"size": 11, "color": ERROR},
                text=f"alert threshold {latest:.2f}, above the setting {threshold:g}: "
                "sampling noise alone reaches more with samples this small",
            )
    top = max(float(history["psi"].max()), highest) * 1.15
    fig.update_yaxes(title_text="PSI", range=[0, top])
    return _base(fig)


def distribution(
    feature: str,
    recent: Sequence[float],
    bin_edges: Sequence[float] | None,
    bin_counts: Sequence[float] | None,
    categories: Sequence[str] | None = None,
) -> go.Figure:
    """Share of rows per training bin: training profile against the recent window (a
    categorical feature's ``recent`` values are codes, one bin per category)."""
    if bin_edges is None or bin_counts is None:
        if not recent:
            return empty(f"No values of {feature} yet")
        fig = go.Figure(go.Histogram(x=list(recent), name="recent", marker_color=ACCENT))
        fig.update_layout(title={"text": "training profile unavailable", "font": {"size": 12}})
        return _base(fig)
    edges = np.asarray(bin_edges, dtype=np.float64)
    expected = np.asarray(bin_counts, dtype=np.float64)
    expected = expected / expected.sum() if expected.sum() > 0 else expected
    open_edges = edges.copy()
    open_edges[0], open_edges[-1] = -np.inf, np.inf
    counts, _ = np.histogram(np.asarray(recent, dtype=np.float64), bins=open_edges)
    actual = counts / counts.sum() if counts.sum() > 0 else counts.astype(np.float64)
    # The training bins are quantiles of unequal width: one bar per bin, labelled by range
    # (by category for a categorical feature).
    names = list(categories) if categories else _bin_names(edges)
    fig = go.Figure()
    fig.add_bar(x=names, y=expected, name="training", marker_color=MUTED, opacity=0.55)
    fig.add_bar(x=names, y=actual, name=f"recent ({len(recent)} rows)", marker_color=ACCENT)
    fig.update_layout(barmode="group", bargap=0.25, hovermode="closest")
    axis = "categories" if categories else "training bins"
    fig.update_xaxes(title_text=f"{feature} ({axis})", type="category", tickangle=-30)
    fig.update_yaxes(title_text="share of rows", tickformat=".0%")
    return _base(fig)


def _bin_names(edges: np.ndarray) -> list[str]:
    """Readable, unique names of the bins between ``edges`` (outer bins open)."""
    last = len(edges) - 2
    names: list[str] = []
    for i in range(last + 1):
        if i == 0:
            name = f"< {edges[1]:.3g}"
        elif i == last:
            name = f"≥ {edges[i]:.3g}"
        else:
            name = f"[{edges[i]:.3g}, {edges[i + 1]:.3g})"
        names.append(name if name not in names else f"{name} ({i + 1})")
    return names
