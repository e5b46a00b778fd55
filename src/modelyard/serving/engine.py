"""The prediction engine: models, batcher, scorer and metrics, and nothing of HTTP.

:class:`Predictor` is built by the app factory (no I/O) and started in the lifespan: a task
loads the configured bindings (references such as ``champion`` or ``1``, each a
:class:`~modelyard.inference.watcher.ModelSlot`), retrying with capped exponential backoff
while MLflow is unreachable, and another polls the registry for hot swaps.
``predict(binding, inputs)`` validates the inputs with the bound model's input kind and
scores them (one row through the micro-batcher, more directly). It raises domain errors
only (:mod:`modelyard.errors`); each protocol renders them through ``serving/errors.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.config import Settings
from modelyard.errors import (
    ModelNotFoundError,
    ModelNotReadyError,
    RegistryUnavailableError,
    TooManyModelsError,
    UnknownModelError,
)
from modelyard.inference.model import LoadedModel, load_version
from modelyard.inference.watcher import ModelSlot, ModelSlots, SwapEvent, VersionLoader
from modelyard.inputs.tabular import TabularInput
from modelyard.registry import Registry
from modelyard.serving.batching import Arrival, MicroBatcher
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.scoring import Scorer

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
MAX_EXTRA_SLOTS = 8


@dataclass(frozen=True)
class Prediction:
    """Labels (and class probabilities, columns in ``model.classes`` order) for some rows."""

    model: LoadedModel
    labels: list[Any]
    probabilities: np.ndarray | None

    def probability_maps(self) -> list[dict[str, float]] | list[None]:
        """Per row ``{class: probability}`` (None per row when the model gives none)."""
        if self.probabilities is None:
            return [None] * len(self.labels)
        keys = [str(c) for c in self.model.classes]
        return list(map(dict, map(zip, itertools.repeat(keys), self.probabilities.tolist())))

    def model_json(self, ref: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.model.name, "version": self.model.version}
        if ref is not None:
            out["ref"] = ref
        return out


class Predictor:
    """The models and machinery behind one API app, driven without any server."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        loader: VersionLoader = load_version,
    ) -> None:
        self.settings = settings
        self.registry = registry or Registry.from_settings(settings)
        self.metrics = ServingMetrics()
        self.slots = ModelSlots(
            self.registry,
            settings.home / "models",
            poll_seconds=settings.registry_poll_seconds,
            loader=loader,
        )
        self.slots.add_listener(self._on_model_event)
        # Our own endpoints and the binding (reference) each serves.
        self.endpoints = {
            "/predict": settings.model_ref,
            "/v1/predict": settings.v1_model,
            "/v2/predict": settings.v2_model,
        }
        self.configured = [self.slots.slot(ref) for ref in self.endpoints.values()]
        self.primary = self.slots.slot(settings.model_ref)
        self.scorer: Scorer | None = None
        self.batcher: MicroBatcher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._extra_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.scorer = Scorer()
        if self.settings.batching:
            self.batcher = MicroBatcher(
                self.scorer,
                self.settings.batch_max_size,
                self.settings.batch_max_wait_ms / 1000.0,
                self.metrics,
            )
            self.batcher.start()
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
        if self.batcher is not None:
            await self.batcher.stop()
        if self.scorer is not None:
            self.scorer.close()

    @property
    def ready(self) -> bool:
        return all(slot.ready for slot in self.configured)

    # --- predicting -----------------------------------------------------------------------
    def arrival(self) -> Arrival:
        """Tell the batcher (if on) that a request that may bring a single row is on its way."""
        return Arrival(self.batcher)

    async def predict(
        self,
        binding: str,
        inputs: TabularInput,
        token: Arrival | None = None,
        limit: int | None = None,
    ) -> Prediction:
        """Validate ``inputs`` (at most ``limit`` rows) and score them with the bound model."""
        return await self.run(await self.model_for(binding), inputs, token, limit)

    async def run(
        self,
        model: LoadedModel,
        inputs: TabularInput,
        token: Arrival | None = None,
        limit: int | None = None,
    ) -> Prediction:
        """Validate ``inputs`` against ``model``'s input kind and score them."""
        matrix = model.schema.validate(
            inputs, self.settings.max_batch_rows if limit is None else limit
        )
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
        return Prediction(model, labels, probabilities)

    # --- finding the model for a binding ---------------------------------------------------
    def model(self, binding: str) -> LoadedModel:
        """The model a configured binding serves now; ModelNotReadyError while it loads."""
        slot = self.slots.slot(binding)
        model = slot.current
        if model is None:
            raise not_ready(slot)
        return model

    def primary_model(self) -> LoadedModel:
        return self.model(self.settings.model_ref)

    def check_name(self, name: str) -> None:
        if name != self.settings.model_name:
            raise UnknownModelError(name, self.settings.model_name)

    async def model_for(self, ref: str) -> LoadedModel:
        """The model a binding, version number or alias names, loading it on first use."""
        ref = ref.strip()
        slot = self.slots.get(ref)
        if slot is not None and slot.current is not None:
            return slot.current
        loaded = self.slots.loaded().get(ref)
        if loaded is not None:
            return loaded
        if slot is not None and slot in self.configured:
            raise not_ready(slot)
        async with self._extra_lock:
            slot = self.slots.get(ref)
            if slot is not None and slot.current is not None:
                return slot.current
            if len(self.slots) >= len(self.configured) + MAX_EXTRA_SLOTS:
                raise TooManyModelsError(len(self.slots))
            slot = self.slots.slot(ref)
            try:
                return await asyncio.to_thread(slot.load)
            except Exception:
                self.slots.discard(ref)
                raise

    def versions(self) -> list[str]:
        """The versions loaded now, in order."""
        return sorted(self.slots.loaded(), key=int)

    # --- metadata -----------------------------------------------------------------------------
    def service_info(self) -> dict[str, Any]:
        """The primary model, its input schema and what each of our endpoints serves."""
        primary = self.primary.current
        return {
            "ready": self.ready,
            "model": self.describe(self.primary),
            "input_schema": primary.schema.describe() if primary else None,
            "served": {
                path: self.describe(self.slots.slot(ref)) for path, ref in self.endpoints.items()
            },
        }

    def readiness(self) -> dict[str, Any]:
        """Ready when every configured binding is loaded; each binding described."""
        return {
            "ready": self.ready,
            "models": {slot.ref: self.describe(slot) for slot in self.configured},
        }

    def describe(self, slot: ModelSlot) -> dict[str, Any]:
        model = slot.current
        if model is None:
            return {"ref": slot.ref, "ready": False, "error": slot.last_error}
        return {
            "ref": slot.ref,
            "ready": True,
            "name": model.name,
            "version": model.version,
            "aliases": list(model.info.aliases),
            "run_id": model.info.run_id,
            "flavor": model.flavor,
            "runtime": model.runtime,
            "metrics": model.info.metrics,
            "classes": [str(c) for c in model.classes],
            "load_seconds": round(model.load_seconds, 3),
        }

    async def reload(self) -> dict[str, Any]:
        """Check every reference against the registry now (``POST /admin/reload``)."""
        before = {slot.ref: slot.current.version if slot.current else None for slot in self.slots}
        await asyncio.to_thread(self.slots.check_all)
        after = {slot.ref: slot.current.version if slot.current else None for slot in self.slots}
        swapped = {
            ref: {"from": before.get(ref), "to": v}
            for ref, v in after.items()
            if before.get(ref) != v
        }
        return {"swapped": swapped, "models": after}

    # --- background tasks ------------------------------------------------------------------
    async def _load_until_ready(self) -> None:
        delay = FIRST_RETRY_SECONDS
        cap = self.settings.load_retry_max_seconds
        while True:
            for slot in self.configured:
                if slot.ready:
                    continue
                try:
                    await asyncio.to_thread(slot.load)
                except Exception as exc:
                    slot.last_error = str(exc)
                    level = logging.WARNING
                    if not isinstance(exc, RegistryUnavailableError | ModelNotFoundError):
                        level = logging.ERROR
                    log.log(level, "cannot load %s@%s yet: %s", self.registry.name, slot.ref, exc)
            if self.ready:
                log.info("ready: %s", {s.ref: s.require().version for s in self.configured})
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
            for slot in self.slots:
                if slot.ready:
                    await asyncio.to_thread(slot.check)

    def _on_model_event(self, event: SwapEvent, model: LoadedModel | None) -> None:
        self.metrics.on_model_event(event, model, self.registry.name)


def not_ready(slot: ModelSlot) -> ModelNotReadyError:
    return ModelNotReadyError(slot.registry.name, slot.ref, slot.last_error)
