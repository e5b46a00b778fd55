"""Adaptive micro-batching: concurrent single-row requests share one model call.

A request announces itself when it arrives (:meth:`MicroBatcher.arrival`), validates its row
on its own, then submits it. The batcher collects submitted rows and dispatches them as one
matrix when the batch is full, when every announced request has submitted (nobody else is
coming: a lone request is never held back), or when the first row has waited
``max_wait`` seconds. While a batch is being scored, the next one forms. Each caller gets
its own row's label and probabilities; rows scored by different model versions (during a
hot swap) go to separate calls. If a model call fails, the batch's rows are retried one by
one so that a row the model cannot score fails only its own caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.inference.model import LoadedModel
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.scoring import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RowResult:
    """One caller's answer: the model that scored the row, its label and probabilities."""

    model: LoadedModel
    label: Any
    probabilities: np.ndarray | None


@dataclass
class _Item:
    model: LoadedModel
    row: np.ndarray
    future: asyncio.Future[RowResult]
    enqueued: float


class Arrival:
    """A request the batcher expects a row from, until it submits or leaves.

    A context manager: leaving the ``with`` block without submitting stops the batcher
    from waiting for this request. With ``batcher=None`` (batching off) it does nothing.
    """

    __slots__ = ("batcher", "open")

    def __init__(self, batcher: MicroBatcher | None) -> None:
        self.batcher = batcher
        self.open = batcher is not None
        if batcher is not None:
            batcher._arriving += 1

    def __enter__(self) -> Arrival:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.leave()

    def leave(self) -> None:
        """Stop being expected (idempotent); the batcher may now dispatch without this one."""
        if self.open and self.batcher is not None:
            self.open = False
            self.batcher._arriving -= 1
            self.batcher._wake()


class MicroBatcher:
    """Coalesces single rows into model calls of at most ``max_size`` rows."""

    def __init__(
        self,
        scorer: Scorer,
        max_size: int,
        max_wait: float,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.scorer = scorer
        self.max_size = max_size
        self.max_wait = max_wait
        self.metrics = metrics
        self._queue: list[_Item] = []
        self._arriving = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for item in self._queue:
            if not item.future.done():
                item.future.cancel()
        self._queue.clear()

    # --- callers ---------------------------------------------------------------------------
    def arrival(self) -> Arrival:
        """Announce a request that may submit a row (use as a context manager)."""
        return Arrival(self)

    async def submit(
        self, model: LoadedModel, row: np.ndarray, arrival: Arrival | None = None
    ) -> RowResult:
        """Score one validated (features,) row together with other callers' rows."""
        if self._task is None:
            raise RuntimeError("the micro-batcher is not running")
        future: asyncio.Future[RowResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(model, row, future, time.perf_counter()))
        if arrival is not None:
            arrival.leave()
        self._wake()
        return await future

    # --- the loop --------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep_until_woken(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._wakeup = waiter
        handle = None
        if timeout is not None:
            handle = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            self._wakeup = None
            if handle is not None:
                handle.cancel()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                await self._sleep_until_woken(None)
                continue
            deadline = self._queue[0].enqueued + self.max_wait
            while len(self._queue) < self.max_size and self._arriving > 0:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                await self._sleep_until_woken(remaining)
            batch = self._queue[: self.max_size]
            del self._queue[: self.max_size]
            try:
                await self._dispatch(batch)
            except Exception as exc:  # never let the loop die; fail this batch's callers
                log.exception("micro-batch failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _dispatch(self, batch: list[_Item]) -> None:
        now = time.perf_counter()
        groups: dict[int, list[_Item]] = {}
        for item in batch:
            groups.setdefault(id(item.model), []).append(item)
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(batch))
            wait = self.metrics.queue_wait
            for item in batch:
                wait.observe(now - item.enqueued)
        for items in groups.values():
            await self._score_group(items)

    async def _score_group(self, items: list[_Item]) -> None:
        model = items[0].model
        matrix = np.stack([item.row for item in items]) if len(items) > 1 else items[0].row[None, :]
        try:
            scores = await self.scorer.score(model, matrix)
        except Exception as exc:
            if len(items) == 1:
                _fail(items[0], exc)
                return
            for item in items:  # find the row(s) the model cannot score
                await self._score_group([item])
            return
        probabilities = scores.probabilities
        for i, item in enumerate(items):
            if not item.future.done():
                item.future.set_result(
                    RowResult(
                        model,
                        scores.labels[i],
                        probabilities[i] if probabilities is not None else None,
                    )
                )


def _fail(item: _Item, exc: Exception) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
