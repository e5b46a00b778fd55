"""The micro-batcher returns each caller its own row's answer, under concurrency."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from serving_models import SCHEMA, iris_matrix, iris_model, picky_model

from modelyard.errors import FeatureError
from modelyard.inputs.tabular import Record
from modelyard.serving.batching import MicroBatcher
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.scoring import Scorer


def _histogram_count(metrics: ServingMetrics, name: str) -> tuple[float, float]:
    """(number of observations, sum) of an unlabelled histogram."""
    count = total = 0.0
    for metric in metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == f"{name}_count":
                count = sample.value
            elif sample.name == f"{name}_sum":
                total = sample.value
    return count, total


async def _run(batcher: MicroBatcher, coro_factories: list) -> list:
    batcher.start()
    try:
        return await asyncio.gather(*(f() for f in coro_factories), return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_rows_are_coalesced_and_split_back() -> None:
    model = iris_model()
    matrix = iris_matrix()
    expected = model.score(matrix)
    metrics = ServingMetrics()
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=32, max_wait=0.05, metrics=metrics)

    async def one(i: int):
        with batcher.arrival() as token:
            await asyncio.sleep(0)  # the request body arrives
            return await batcher.submit(model, matrix[i], token)

    results = asyncio.run(_run(batcher, [lambda i=i: one(i) for i in range(len(matrix))]))
    scorer.close()
    assert len(results) == len(matrix) == 150
    for i, result in enumerate(results):
        assert result.label == expected.labels[i], i
        assert np.allclose(result.probabilities, expected.probabilities[i]), i
        assert result.model is model
    calls, rows = _histogram_count(metrics, "modelyard_api_batch_rows")
    assert rows == 150
    assert calls < 150 / 4, f"{calls} model calls for 150 concurrent rows: no coalescing"
    waits, _ = _histogram_count(metrics, "modelyard_api_batch_queue_seconds")
    assert waits == 150


def test_an_invalid_row_fails_only_its_own_caller() -> None:
    model = iris_model()
    matrix = iris_matrix()[:20]
    expected = model.score(matrix)
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=64, max_wait=0.05)
    bad = 7

    async def one(i: int):
        with batcher.arrival() as token:
            await asyncio.sleep(0)
            row = dict(zip(SCHEMA.names, matrix[i].tolist(), strict=True))
            if i == bad:
                row["petal_width"] = "wide"
            vector = SCHEMA.validate(Record(row), 1)[0]  # validated before it joins a batch
            return await batcher.submit(model, vector, token)

    results = asyncio.run(_run(batcher, [lambda i=i: one(i) for i in range(20)]))
    scorer.close()
    assert isinstance(results[bad], FeatureError)
    assert results[bad].field == "petal_width"
    for i, result in enumerate(results):
        if i != bad:
            assert result.label == expected.labels[i]


def test_a_row_the_model_rejects_fails_only_its_caller() -> None:
    model = picky_model(iris_model())
    matrix = iris_matrix()[:12].copy()
    matrix[5, 0] = -1.0
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=64, max_wait=0.05)

    async def one(i: int):
        with batcher.arrival() as token:
            await asyncio.sleep(0)
            return await batcher.submit(model, matrix[i], token)

    results = asyncio.run(_run(batcher, [lambda i=i: one(i) for i in range(12)]))
    scorer.close()
    assert isinstance(results[5], ValueError)
    assert all(not isinstance(r, Exception) for i, r in enumerate(results) if i != 5)


def test_rows_for_different_versions_are_scored_by_their_own_model() -> None:
    linear = iris_model("1")
    forest = iris_model("2", "random_forest")
    matrix = iris_matrix()
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=64, max_wait=0.05)

    async def one(i: int):
        model = linear if i % 2 else forest
        with batcher.arrival() as token:
            await asyncio.sleep(0)
            return await batcher.submit(model, matrix[i], token)

    results = asyncio.run(_run(batcher, [lambda i=i: one(i) for i in range(40)]))
    scorer.close()
    for i, result in enumerate(results):
        model = linear if i % 2 else forest
        assert result.model is model
        assert np.allclose(result.probabilities, model.score(matrix[i : i + 1]).probabilities[0])


def test_a_lone_request_is_not_held_back_for_the_max_wait() -> None:
    model = iris_model()
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=64, max_wait=2.0)

    async def one():
        with batcher.arrival() as token:
            started = time.perf_counter()
            result = await batcher.submit(model, iris_matrix()[0], token)
            return result, time.perf_counter() - started

    [(result, seconds)] = asyncio.run(_run(batcher, [one]))
    scorer.close()
    assert result.label == "setosa"
    assert seconds < 0.5


def test_a_request_that_leaves_does_not_hold_the_batch() -> None:
    model = iris_model()
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=64, max_wait=2.0)

    async def leaves():
        with batcher.arrival():
            await asyncio.sleep(0.01)
            raise FeatureError("bad row", field="sepal_length")

    async def stays():
        with batcher.arrival() as token:
            started = time.perf_counter()
            await batcher.submit(model, iris_matrix()[0], token)
            return time.perf_counter() - started

    results = asyncio.run(_run(batcher, [leaves, stays]))
    scorer.close()
    assert isinstance(results[0], FeatureError)
    assert results[1] < 0.5


@pytest.mark.parametrize("max_size", [1, 8])
def test_batches_never_exceed_max_size(max_size: int) -> None:
    model = iris_model()
    metrics = ServingMetrics()
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_size=max_size, max_wait=0.05, metrics=metrics)

    async def one(i: int):
        with batcher.arrival() as token:
            await asyncio.sleep(0)
            return await batcher.submit(model, iris_matrix()[i], token)

    results = asyncio.run(_run(batcher, [lambda i=i: one(i) for i in range(30)]))
    scorer.close()
    assert all(not isinstance(r, Exception) for r in results)
    calls, rows = _histogram_count(metrics, "modelyard_api_batch_rows")
    within = next(
        sample.value
        for metric in metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "modelyard_api_batch_rows_bucket"
        and sample.labels["le"] == str(float(max_size))
    )
    assert rows == 30
    assert within == calls  # every batch had at most max_size rows
    assert calls >= 30 / max_size
