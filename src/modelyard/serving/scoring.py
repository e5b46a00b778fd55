"""Running a model on a matrix without stalling the event loop more than it must.

Scoring a few rows of a linear model takes tens of microseconds, less than handing the work
to a thread would cost; scoring a forest takes milliseconds, during which the event loop
should keep parsing requests. :class:`Scorer` keeps a moving average of each model's CPU time
per call (CPU time, so that a busy machine does not make a fast model look slow) and runs
fast calls inline and slow ones in its own worker thread.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modelyard.inference.model import LoadedModel, Scores

INLINE_BELOW_SECONDS = 0.002
_SMOOTHING = 0.2


class Scorer:
    """Scores matrices with a model, inline when the model has proven fast, else in a thread."""

    def __init__(self, threads: int = 1, inline_below: float = INLINE_BELOW_SECONDS) -> None:
        self.inline_below = inline_below
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="score")
        # (model version, row-count bucket) -> average seconds per call
        self._averages: dict[tuple[str, int], float] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def score(self, model: LoadedModel, matrix: np.ndarray) -> Scores:
        key = (model.version, _bucket(len(matrix)))
        average = self._averages.get(key)
        if average is not None and average < self.inline_below:
            started = time.thread_time()
            scores = model.score(matrix)
            self._record(key, time.thread_time() - started)
            return scores
        loop = asyncio.get_running_loop()
        scores, seconds = await loop.run_in_executor(self._executor, _timed, model, matrix)
        self._record(key, seconds)
        return scores

    def _record(self, key: tuple[str, int], seconds: float) -> None:
        old = self._averages.get(key)
        self._averages[key] = seconds if old is None else old + _SMOOTHING * (seconds - old)


def _bucket(rows: int) -> int:
    return rows.bit_length()


def _timed(model: LoadedModel, matrix: np.ndarray) -> tuple[Scores, float]:
    started = time.thread_time()
    scores = model.score(matrix)
    return scores, time.thread_time() - started
