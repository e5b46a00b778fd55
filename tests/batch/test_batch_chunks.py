"""Scoring one chunk: the fast path and the row-by-row path agree; bad rows are kept apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from batch_support import iris_frame

from modelyard.batch.chunks import records, score_chunk
from modelyard.batch.layout import plan_layout
from modelyard.inference.model import LoadedModel


def _layout(model: LoadedModel, frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return plan_layout(list(frame.columns), model.tabular, model.classes, None, "input")


def test_a_bad_row_leaves_the_others_scored_as_a_clean_chunk_scores_them(
    iris: LoadedModel,
) -> None:
    frame = iris_frame()
    layout = _layout(iris, frame)
    clean = score_chunk(iris, frame, layout, range(1, 151))
    assert clean.rejects.empty and len(clean.scored) == 150
    dirty = frame.astype({"petal_width": object})
    dirty.loc[3, "petal_width"] = "wide"
    mixed = score_chunk(iris, dirty, layout, range(1, 151))
    assert mixed.rejects[["row", "reason", "field"]].values.tolist() == [
        [4, "expected a number, got str", "petal_width"]
    ]
    pd.testing.assert_frame_equal(mixed.scored, clean.scored.drop(index=3).reset_index(drop=True))
    probabilities = clean.scored[layout.probability_columns].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (clean.scored["label"] == frame["species"]).mean() > 0.9


def test_rows_the_model_fails_on_are_rejected_with_its_reason(iris: LoadedModel) -> None:
    from serving_models import picky_model

    picky = picky_model(iris)
    frame = iris_frame().head(10)
    frame.loc[[2, 7], "sepal_width"] = -1.0
    result = score_chunk(picky, frame, _layout(picky, frame), range(101, 111))
    assert result.rejects["row"].tolist() == [103, 108]
    assert result.rejects["reason"].str.startswith("the model failed on this row").all()
    assert result.scored["id"].tolist() == [f"{i:04d}" for i in (0, 1, 3, 4, 5, 6, 8, 9)]


def test_cells_are_decoded_as_a_request_carries_them() -> None:
    frame = pd.DataFrame({"a": ["1.5", "x", None, "inf"], "b": [1, 2, 3, 4]})
    assert records(frame, ("a", "b")) == [
        {"a": 1.5, "b": 1.0},
        {"a": "x", "b": 2.0},
        {"a": None, "b": 3.0},
        {"a": float("inf"), "b": 4.0},
    ]


def test_slices_on_threads_score_as_one_call(iris_folder: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from modelyard.batch.chunks import MIN_SLICE, Threads, score_in_slices
    from modelyard.inference.model import load_prepared
    from modelyard.inference.prepare import read_prepared
    from modelyard.registry import VersionInfo

    prepared = read_prepared(iris_folder)
    assert prepared is not None
    info = VersionInfo(name="iris", version="1", run_id=None, aliases=(), created_at=0.0)
    model = load_prepared(prepared, info, "1")
    assert model.runtime == "onnxruntime"
    frame = iris_frame()
    matrix = np.tile(model.tabular.frame_to_matrix(frame[list(model.tabular.names)]), (200, 1))
    assert len(matrix) >= 3 * MIN_SLICE
    whole = model.score(matrix)
    with ThreadPoolExecutor(3) as pool:
        sliced = score_in_slices(model, matrix, Threads(pool, 3))
    assert sliced.labels == whole.labels
    assert sliced.probabilities is not None and whole.probabilities is not None
    assert np.array_equal(sliced.probabilities, whole.probabilities)
