"""Scoring one chunk of a table: its scored rows, and the rows that cannot be scored.

A chunk whose feature columns are all plain numbers goes through
:meth:`FeatureSchema.frame_to_matrix` and one model call. Any other chunk (a text cell in a
feature column, a missing value the model does not take, a row the model fails on) is
decoded cell by cell and scored by the streaming worker's :func:`score_rows`, which
validates each row with :meth:`FeatureSchema.partition` and keeps the bad ones apart with
their reason. Both paths round probabilities as the predictions table stores them, so a file
gives the same output however it is cut into chunks.

:func:`score_arrow_chunk` does the same for a chunk the fast CSV reader read as Arrow columns:
its feature columns go through :meth:`FeatureSchema.columns_to_matrix` (the same check), and
its output is an Arrow table the writer writes as it is; a chunk it refuses goes row by row
as above.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.batch.arrow import float_array, floats, label_texts
from modelyard.batch.layout import FIELD, LABEL, REASON, ROW, Layout
from modelyard.errors import FeatureError
from modelyard.inference.model import LoadedModel, Scores
from modelyard.streaming.scoring import PROBABILITY_DECIMALS, score_rows

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

ONNX = "onnxruntime"
MIN_SLICE = 10_000  # rows: below this a thread hop costs more than it saves


@dataclass
class ScoredChunk:
    """The output rows of a chunk (``layout.output_columns``) and its rejects
    (``layout.rejects_columns``, None when there are none); either may be empty."""

    scored: pd.DataFrame | pa.Table
    rejects: pd.DataFrame | None


def score_chunk(
    model: LoadedModel,
    frame: pd.DataFrame,
    layout: Layout,
    rows: Sequence[int],
    threads: Threads | None = None,
) -> ScoredChunk:
    """Score ``frame``: the key and feature columns of the input's rows numbered ``rows``
    (from 1), which the rejects file names. With ``threads``, a chunk of plain rows is
    scored in slices on them (see :func:`score_in_slices`)."""
    features = frame[list(layout.features)]
    try:
        matrix = model.tabular.frame_to_matrix(features)
    except FeatureError:
        return _row_by_row(model, frame, layout, rows)
    try:
        scores = score_in_slices(model, matrix, threads)
    except Exception:  # the model refuses something: find the rows, score the others
        return _row_by_row(model, frame, layout, rows)
    proba = scores.probabilities
    if proba is not None:
        proba = np.round(proba, PROBABILITY_DECIMALS)
    return ScoredChunk(
        _output(frame, layout, None, scores.labels, proba),
        _no_rejects(layout),
    )


def score_arrow_chunk(
    model: LoadedModel,
    table: pa.Table,
    layout: Layout,
    rows: Sequence[int],
    threads: Threads | None = None,
) -> ScoredChunk:
    """:func:`score_chunk` for a chunk read as Arrow columns (keys as text, features as
    float64 with nulls): its output as an Arrow table, or row by row if it holds a row that
    cannot be scored."""
    columns = {name: floats(table.column(name)) for name in layout.features}
    try:
        matrix = model.tabular.columns_to_matrix(columns, table.num_rows)
        scores = score_in_slices(model, matrix, threads)
    except Exception:  # a missing or infinite value, or the model refuses a row
        return _row_by_row(model, table.to_pandas(), layout, rows)
    proba = scores.probabilities
    if proba is not None:
        proba = np.round(proba, PROBABILITY_DECIMALS)
    return ScoredChunk(_arrow_output(table, layout, scores.labels, proba), None)


def _arrow_output(
    table: pa.Table, layout: Layout, labels: list[Any], proba: np.ndarray | None
) -> pa.Table:
    """:func:`_output` of every row, as an Arrow table."""
    import pyarrow as pa

    columns: list[Any] = [table.column(k) for k in layout.keys]
    columns.append(label_texts(labels))
    names = layout.probability_columns
    if names:
        if proba is None or proba.shape[1] != len(names):
            proba = np.full((table.num_rows, len(names)), np.nan)
        columns += [float_array(proba[:, j]) for j in range(len(names))]
    return pa.Table.from_arrays(columns, names=layout.output_columns)


@dataclass(frozen=True)
class Threads:
    """Threads that score slices of one chunk at the same time."""

    pool: Executor
    count: int


@contextmanager
def scoring_threads() -> Iterator[Threads | None]:
    """One scoring thread per CPU this process may use (None on one CPU)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not count or count < 2:
        yield None
        return
    with ThreadPoolExecutor(count, thread_name_prefix="score") as pool:
        yield Threads(pool, count)


def score_in_slices(model: LoadedModel, matrix: np.ndarray, threads: Threads | None) -> Scores:
    """``model.score(matrix)``, cut into one slice per thread for a model that ONNX Runtime
    scores: it releases the GIL and its sessions take concurrent calls, so the slices run on
    as many cores (a served model keeps one thread per call). Labels and probabilities come
    back in the matrix's row order."""
    if threads is None or model.runtime != ONNX or len(matrix) < threads.count * MIN_SLICE:
        return model.score(matrix)
    parts = list(threads.pool.map(model.score, np.array_split(matrix, threads.count)))
    labels = [label for part in parts for label in part.labels]
    probabilities = [part.probabilities for part in parts]
    if any(p is None for p in probabilities):
        return Scores(labels, None)
    return Scores(labels, np.concatenate(probabilities))  # type: ignore[arg-type]


def _row_by_row(
    model: LoadedModel, frame: pd.DataFrame, layout: Layout, rows: Sequence[int]
) -> ScoredChunk:
    positions = list(range(len(frame)))
    batch = score_rows(model, positions, records(frame, layout.features))
    proba: np.ndarray | None = None
    if batch.probabilities is not None:
        proba = np.array(
            [[row[c] for c in layout.classes] for row in batch.probabilities], dtype=np.float64
        ).reshape(len(batch.labels), len(layout.classes))
    scored = _output(
        frame, layout, np.asarray(batch.observation_ids, dtype=np.intp), batch.labels, proba
    )
    failures = sorted(batch.failures, key=lambda f: f.observation_id)
    rejected = frame.iloc[[f.observation_id for f in failures]]
    rejects = rejected_rows(
        rejected,
        layout,
        [rows[f.observation_id] for f in failures],
        [f.reason for f in failures],
        [f.field for f in failures],
    )
    return ScoredChunk(scored, rejects)


def records(frame: pd.DataFrame, features: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows' features as records, each cell as a request would carry it: a number, None
    for a missing value, or the text that is not a number (refused by the validator)."""
    import pandas as pd

    columns: list[list[Any]] = []
    for name in features:
        column = frame[name]
        numbers = pd.to_numeric(column, errors="coerce").tolist()
        missing = column.isna().tolist()
        values = column.tolist()
        columns.append(
            [
                None if gone else (v if math.isnan(n) else float(n))
                for v, n, gone in zip(values, numbers, missing, strict=True)
            ]
        )
    return [dict(zip(features, cells, strict=True)) for cells in zip(*columns, strict=True)]


def _output(
    frame: pd.DataFrame,
    layout: Layout,
    positions: np.ndarray | None,
    labels: list[Any],
    proba: np.ndarray | None,
) -> pd.DataFrame:
    """Key columns of the rows at ``positions`` (None: every row), then label and
    probabilities."""
    import pandas as pd

    keys = frame[list(layout.keys)]
    out = (keys if positions is None else keys.iloc[positions]).reset_index(drop=True)
    out[LABEL] = pd.Series(labels, dtype=object).astype(str)
    columns = layout.probability_columns
    if columns:
        if proba is None or proba.shape[1] != len(columns):
            proba = np.full((len(out), len(columns)), np.nan)
        out[columns] = proba
    return out


def rejected_rows(
    rejected: pd.DataFrame,
    layout: Layout,
    rows: list[int | None],
    reasons: list[str],
    fields: list[str | None],
) -> pd.DataFrame:
    """Rejects-file rows for ``rejected`` (the input's rows, as read)."""
    import pandas as pd

    out = pd.DataFrame({ROW: rows, REASON: reasons, FIELD: fields})
    carried = rejected.reset_index(drop=True)
    for name in layout.rejects_columns[3:]:
        out[name] = carried[name] if name in carried.columns else None
    return out


def _no_rejects(layout: Layout) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=layout.rejects_columns)
