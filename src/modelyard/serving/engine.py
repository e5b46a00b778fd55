"""The prediction engine: models, batcher, scorer and metrics, and nothing of HTTP.

:class:`Predictor` is built by the app factory (no I/O) and started in the lifespan: a task
loads the configured bindings (``name@ref``, each a slot of the
:class:`~modelyard.serving.catalog.Catalog`), retrying with capped exponential backoff while
MLflow is unreachable, and another polls the registry for hot swaps.
``predict(binding, inputs)`` validates the inputs with the bound model's input kind and
scores them (one row through the micro-batcher, more directly). It raises domain errors
only (:mod:`modelyard.errors`); each protocol renders them in its own shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.bindings import Binding
from modelyard.config import Settings
from modelyard.errors import ModelNotFoundError, RegistryUnavailableError
from modelyard.inference.model import LoadedModel, load_version
from modelyard.inference.watcher import Listener, SwapEvent, VersionLoader
from modelyard.inputs.image import Images, limit_pixels
from modelyard.inputs.tabular import TabularInput
from modelyard.registry import Registry
from modelyard.serving.batching import Arrival, MicroBatcher
from modelyard.serving.canary import Canary
from modelyard.serving.catalog import Catalog, RegistryFactory
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.mirror import Mirror
from modelyard.serving.scoring import Scorer

if TYPE_CHECKING:
    from modelyard.serving.http import Call

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class Prediction:
    """Labels (and class probabilities, columns in ``model.classes`` order) for some rows."""

    model: LoadedModel
    labels: list[Any]
    probabilities: np.ndarray | None
    ref: str | None = None  # the reference that answered, when not the requested one (canary)

    def probability_maps(self) -> list[dict[str, float]] | list[None]:
        """Per row ``{class: probability}`` (None per row when the model gives none)."""
        if self.probabilities is None:
            return [None] * len(self.labels)
        keys = [str(c) for c in self.model.classes]
        return list(map(dict, map(zip, itertools.repeat(keys), self.probabilities.tolist())))

    def model_json(self, ref: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.model.name, "version": self.model.version}
        ref = self.ref or ref
        if ref is not None:
            out["ref"] = ref
        return out


class Predictor:
    """The models and machinery behind one API app, driven without any server."""

    def __init__(
        self,
        settings: Settings,
        registries: RegistryFactory | None = None,
        loader: VersionLoader = load_version,
    ) -> None:
        self.settings = settings
        self.metrics = ServingMetrics()
        self.catalog = Catalog(
            settings,
            registries or functools.partial(Registry.from_settings, settings),
            loader,
            self._listener,
            on_unreachable=self.metrics.on_registry_unreachable,
        )
        self.primary = settings.model_binding
        self.scorer: Scorer | None = None
        # Decoding images: one thread per CPU this process may run on. Pillow releases the
        # GIL while it decodes, so that many decode in parallel; more would only take turns
        # on the same cores (and thrash their caches) while the event loop waits for a turn.
        self.decoders: ThreadPoolExecutor | None = None
        self.batcher: MicroBatcher | None = None
        self.mirror: Mirror | None = None
        self.canary: Canary | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        limit_pixels(self.settings.max_image_pixels)
        self.metrics.expect(self.catalog.configured)
        self.scorer = Scorer()
        self.decoders = ThreadPoolExecutor(
            max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="decode"
        )
        if self.settings.batching:
            self.batcher = MicroBatcher(
                self.scorer,
                self.settings.batch_max_size,
                self.settings.batch_max_wait_ms / 1000.0,
                self.metrics,
            )
            self.batcher.start()
        if self.settings.mirror_share > 0 and self.settings.shadow_ref.strip():
            self.mirror = Mirror(
                self.catalog,
                self.scorer,
                self.metrics,
                self.settings.mirror_share,
                self.settings.shadow_ref.strip(),
            )
        if self.settings.canary_share > 0 and self.settings.shadow_ref.strip():
            self.canary = Canary(
                self.catalog,
                self.metrics,
                self.settings.canary_share,
                self.settings.shadow_ref.strip(),
            )
        self._tasks.append(asyncio.create_task(self._load_until_ready(), name="model-loader"))
        if self.settings.registry_poll_seconds > 0:
            self._tasks.append(asyncio.create_task(self._poll(), name="registry-poll"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.mirror is not None:
            await self.mirror.stop()
        if self.canary is not None:
            await self.canary.stop()
        if self.batcher is not None:
            await self.batcher.stop()
        if self.scorer is not None:
            self.scorer.close()
        if self.decoders is not None:
            self.decoders.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.catalog.ready

    # --- predicting -----------------------------------------------------------------------
    def arrival(self) -> Arrival:
        """Tell the batcher (if on) that a request that may bring a single row is on its way."""
        return Arrival(self.batcher)

    async def predict(
        self,
        binding: Binding,
        inputs: TabularInput | Images,
        token: Arrival | None = None,
        limit: int | None = None,
        call: Call | None = None,
    ) -> Prediction:
        """Validate ``inputs`` (at most ``limit`` rows) and score them with the bound model
        (or, for a caller of ``call`` in the canary's share, with the challenger)."""
        if binding in self.catalog.configured:
            model = self.catalog.current(binding)
        else:
            model = await self.catalog.model_for(binding)
        canary = self.canary
        if canary is not None and call is not None:
            picked = canary.pick(binding, model, call)
            if picked is not model:
                prediction = await self.run(picked, inputs, token, limit)
                return dataclasses.replace(prediction, ref=canary.ref)
        return await self.run(model, inputs, token, limit)

    async def run(
        self,
        model: LoadedModel,
        inputs: TabularInput | Images,
        token: Arrival | None = None,
        limit: int | None = None,
    ) -> Prediction:
        """Validate ``inputs`` against ``model``'s input kind and score them."""
        kind = model.schema
        rows = self.settings.max_batch_rows if limit is None else limit
        if kind.blocking:  # decoding images: keep the event loop free meanwhile
            decoders = self.decoders
            if decoders is None:
                raise RuntimeError("the engine is not started")
            loop = asyncio.get_running_loop()
            matrix = await loop.run_in_executor(decoders, kind.validate, inputs, rows)
        else:
            matrix = kind.validate(inputs, rows)
        batcher = self.batcher
        if batcher is not None and matrix.shape[0] == 1:
            result = await batcher.submit(model, matrix[0], token)
            model = result.model
            labels = [result.label]
            probabilities = None if result.probabilities is None else result.probabilities[None, :]
        else:
            if token is not None:
                token.leave()
            scorer = self.scorer
            if scorer is None:
                raise RuntimeError("the engine is not started")
            scores = await scorer.score(model, matrix)
            labels, probabilities = scores.labels, scores.probabilities
        self.metrics.observe_predictions(model, labels, probabilities)
        if self.mirror is not None and not model.info.fixed:
            self.mirror.offer(model, matrix, labels)
        return Prediction(model, labels, probabilities)

    # --- finding models ----------------------------------------------------------------------
    def model(self, binding: Binding) -> LoadedModel:
        """The model a configured binding serves now; ModelNotReadyError while it loads."""
        return self.catalog.current(binding)

    def named(self, name: str, ref: str | None = None) -> Binding:
        """The binding a request naming a model (and maybe a version or alias) means."""
        if ref is None:
            return self.catalog.default(name)
        self.catalog.check_name(name)
        return Binding(name, ref.strip())

    async def model_for(self, binding: Binding) -> LoadedModel:
        """The model of any version or alias of a served model, loading it on first use."""
        if binding in self.catalog.configured:
            return self.catalog.current(binding)
        return await self.catalog.model_for(binding)

    # --- metadata -----------------------------------------------------------------------------
    def service_info(self) -> dict[str, Any]:
        """Every served model, the primary one's input schema and what each endpoint serves."""
        primary = self.catalog.configured[self.primary].current
        return {
            "ready": self.ready,
            "model": self.catalog.describe(self.primary),
            "input_schema": primary.schema.describe() if primary else None,
            "models": [self.catalog.describe(b) for b in self.settings.served_models],
            "served": {
                path: self.catalog.describe(binding)
                for path, binding in self.settings.endpoint_bindings.items()
            },
        }

    def readiness(self) -> dict[str, Any]:
        return self.catalog.readiness()

    async def reload(self) -> dict[str, Any]:
        """Check every reference against the registry now (``POST /admin/reload``)."""
        before = self.catalog.versions_by_binding()
        after = await asyncio.to_thread(self.catalog.check_all)
        swapped = {
            key: {"from": before.get(key), "to": version}
            for key, version in after.items()
            if before.get(key) != version
        }
        return {"swapped": swapped, "models": after}

    # --- background tasks ------------------------------------------------------------------
    async def _load_until_ready(self) -> None:
        delay = FIRST_RETRY_SECONDS
        cap = self.settings.load_retry_max_seconds
        while True:
            for binding, slot in self.catalog.configured.items():
                if slot.ready:
                    continue
                try:
                    await asyncio.to_thread(slot.load)
                except Exception as exc:
                    slot.last_error = str(exc)
                    if isinstance(exc, RegistryUnavailableError):
                        self.metrics.on_registry_unreachable()
                    level = logging.WARNING
                    if not isinstance(exc, RegistryUnavailableError | ModelNotFoundError):
                        level = logging.ERROR
                    log.log(level, "cannot load %s yet: %s", binding, exc)
            if self.ready:
                log.info("ready: %s", self.catalog.versions_by_binding())
                # What is loaded by now (libraries, models) lives as long as the process: keep
                # it out of the collector's full passes, which the thousands of small objects
                # of batch requests would otherwise trigger, each a pause of tens of ms.
                gc.collect()
                gc.freeze()
                return
            log.info("retrying model load in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)

    async def _poll(self) -> None:
        interval = self.settings.registry_poll_seconds
        while True:
            await asyncio.sleep(interval)
            for _, slot in self.catalog:
                if slot.ready:
                    await asyncio.to_thread(slot.check)

    def _listener(self, name: str) -> Listener:
        def on_event(event: SwapEvent, model: LoadedModel | None) -> None:
            self.metrics.on_model_event(event, model, name)

        return on_event
