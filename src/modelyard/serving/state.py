"""What one API process holds: its models (slots), batcher, metrics and background tasks.

:class:`ServingState` is built by the app factory (no I/O) and started in the lifespan: a
task loads the configured references, retrying with capped exponential backoff while MLflow
is unreachable, and another polls the registry for hot swaps. Protocol routes find the model
for an endpoint or a ``{version}`` path segment through :meth:`ServingState.model_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from modelyard.config import Settings
from modelyard.errors import ModelNotFoundError, RegistryUnavailableError
from modelyard.inference.model import LoadedModel, load_version
from modelyard.inference.watcher import ModelSlot, ModelSlots, SwapEvent, VersionLoader
from modelyard.registry import Registry
from modelyard.serving.batching import MicroBatcher
from modelyard.serving.errors import ApiError
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.scoring import Scorer

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
MAX_EXTRA_SLOTS = 8


@dataclass(frozen=True)
class Endpoint:
    """One of our own prediction endpoints and the reference it serves."""

    path: str
    ref: str


class ServingState:
    """The models and machinery behind one API app."""

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
        self.endpoints = {
            "/predict": Endpoint("/predict", settings.model_ref),
            "/v1/predict": Endpoint("/v1/predict", settings.v1_model),
            "/v2/predict": Endpoint("/v2/predict", settings.v2_model),
        }
        self.configured = [self.slots.slot(e.ref) for e in self.endpoints.values()]
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

    # --- finding the model for a request -------------------------------------------------
    def endpoint_model(self, path: str) -> LoadedModel:
        """The model serving one of our endpoints now, or a 503 while it loads."""
        slot = self.slots.slot(self.endpoints[path].ref)
        model = slot.current
        if model is None:
            raise not_ready(slot)
        return model

    def primary_model(self) -> LoadedModel:
        model = self.primary.current
        if model is None:
            raise not_ready(self.primary)
        return model

    def check_name(self, name: str) -> None:
        if name != self.settings.model_name:
            raise ApiError(
                "model_not_found",
                f"unknown model {name!r}; this server serves {self.settings.model_name!r}",
                "name",
            )

    async def model_for(self, ref: str) -> LoadedModel:
        """The model a version number or alias names, loading it on first use."""
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
                raise ApiError(
                    "too_many_models",
                    f"this server already holds {len(self.slots)} model references",
                    "version",
                )
            slot = self.slots.slot(ref)
            try:
                return await asyncio.to_thread(slot.load)
            except Exception:
                self.slots.discard(ref)
                raise

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


def not_ready(slot: ModelSlot) -> ApiError:
    detail = f": {slot.last_error}" if slot.last_error else ""
    return ApiError(
        "model_not_ready",
        f"model {slot.registry.name}@{slot.ref} is not loaded yet{detail}",
        "version",
    )


def serving_state(request: Request) -> ServingState:
    """The ServingState of the app handling ``request``."""
    state: ServingState = request.app.state.serving
    return state
