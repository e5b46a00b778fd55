"""Mirroring a share of the served traffic to the challenger, off the response path.

With ``MODELYARD_MIRROR_SHARE`` above 0, that share of the requests a model's default
version answers (chosen at random; a request naming another version is not mirrored) is
scored again, after the answer is computed and without the caller waiting for it, by the
version the challenger alias (``MODELYARD_SHADOW_REF``) names when it is another one. Its
answers are never returned: they are counted (rows, rows agreeing with the served answer,
latency) per challenger version in ``/metrics``, so the two can be compared on live traffic
before any label arrives. A challenger that is missing, failing or slow never reaches the
caller: at most :data:`MAX_IN_FLIGHT` mirrored calls run at once, the rest are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.bindings import Binding
from modelyard.errors import ModelyardError

if TYPE_CHECKING:
    from modelyard.inference.model import LoadedModel
    from modelyard.serving.catalog import Catalog
    from modelyard.serving.metrics import ServingMetrics
    from modelyard.serving.scoring import Scorer

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
# How long a model whose challenger could not be found is left alone before asking again.
RETRY_SECONDS = 30.0


class Mirror:
    """Scores a share of the served rows with each model's challenger, in the background."""

    def __init__(
        self,
        catalog: Catalog,
        scorer: Scorer,
        metrics: ServingMetrics,
        share: float,
        ref: str,
    ) -> None:
        self._catalog = catalog
        self._scorer = scorer
        self._metrics = metrics
        self.share = share
        self.ref = ref
        self._tasks: set[asyncio.Task[None]] = set()
        self._missing: dict[str, float] = {}  # model name → when to look again

    def offer(self, model: LoadedModel, matrix: np.ndarray, labels: list[Any]) -> None:
        """Maybe mirror these rows (answered ``labels`` by ``model``) to the challenger."""
        if self.share <= 0 or random.random() >= self.share:  # noqa: S311 (sampling, not secrets)
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self._metrics.mirror_skipped.labels(model.name).inc()
            return
        if time.monotonic() < self._missing.get(model.name, 0.0) or not self._default(model):
            return
        task = asyncio.create_task(self._score(model, matrix, labels), name="mirror")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _default(self, model: LoadedModel) -> bool:
        """Whether ``model`` is what its name serves by default (a request naming another
        version of it is not mirrored)."""
        try:
            served = self._catalog.current(self._catalog.default(model.name))
        except ModelyardError:
            return False
        return served.version == model.version

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _score(self, model: LoadedModel, matrix: np.ndarray, labels: list[Any]) -> None:
        try:
            challenger = await self._catalog.model_for(Binding(model.name, self.ref))
        except ModelyardError as exc:
            self._missing[model.name] = time.monotonic() + RETRY_SECONDS
            log.info("not mirroring %s: no %s to score with (%s)", model.name, self.ref, exc)
            return
        if challenger.version == model.version:
            return
        started = time.perf_counter()
        try:
            scores = await self._scorer.score(challenger, matrix)
        except Exception:
            self._metrics.mirror_failures.labels(model.name).inc()
            log.exception("mirroring to %s version %s failed", model.name, challenger.version)
            return
        seconds = time.perf_counter() - started
        agreed = sum(str(a) == str(b) for a, b in zip(scores.labels, labels, strict=True))
        self._metrics.observe_mirror(challenger, len(labels), agreed, seconds)
