"""The models one API serves: for each registered name, a slot per reference it is bound to.

The configured bindings (``MODELYARD_MODELS`` and the bound endpoints' ``name@ref``) load at
start and decide readiness. A request may also name another version or alias of a served
model (``/v2/models/{name}/versions/{version}``); such a reference loads on first use, at
most :data:`MAX_EXTRA_SLOTS` of them. A name no binding mentions is an unknown model.
Versions are shared between references of one name (:class:`ModelSlots`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from modelyard.bindings import Binding, source_of
from modelyard.config import Settings
from modelyard.errors import (
    ModelNotFoundError,
    ModelNotReadyError,
    TooManyModelsError,
    UnknownModelError,
)
from modelyard.inference.model import LoadedModel
from modelyard.inference.watcher import Listener, ModelSlot, ModelSlots, VersionLoader
from modelyard.registry import Registry

MAX_EXTRA_SLOTS = 8

RegistryFactory = Callable[[str], Registry]
# Told of every load, swap and failed swap: (model name, event, model).
NamedListener = Callable[[str], Listener]


class Catalog:
    """Slots for every configured binding, and on demand for other references."""

    def __init__(
        self,
        settings: Settings,
        registries: RegistryFactory,
        loader: VersionLoader,
        listener: NamedListener,
        on_unreachable: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._registries = registries
        self._loader = loader
        self._listener = listener
        self._on_unreachable = on_unreachable
        self._models: dict[str, ModelSlots] = {}
        bindings = [*settings.served_models, *settings.endpoint_bindings.values()]
        self.configured: dict[Binding, ModelSlot] = {b: self.slot(b) for b in bindings}
        self.names = tuple(dict.fromkeys(b.name for b in bindings))
        self._defaults = {name: self._first(name) for name in self.names}
        self._extra_lock = asyncio.Lock()

    def _first(self, name: str) -> Binding:
        primary = self.settings.model_binding
        if primary.name == name:
            return primary
        return next(b for b in self.configured if b.name == name)

    # --- slots -------------------------------------------------------------------------------
    def slot(self, binding: Binding) -> ModelSlot:
        """The slot of ``binding`` (made, not loaded, on first use)."""
        models = self._models.get(binding.name)
        if models is None:
            models = ModelSlots(
                self._registries(binding.name),
                self.settings.home / "models",
                poll_seconds=self.settings.registry_poll_seconds,
                loader=self._loader,
                on_unreachable=self._on_unreachable,
            )
            models.add_listener(self._listener(binding.name))
            self._models[binding.name] = models
        return models.slot(binding.ref)

    def registry(self, name: str) -> Registry:
        """The registry of served model ``name``."""
        self.check_name(name)
        models = self._models.get(name)
        return models.registry if models is not None else self._registries(name)

    def __iter__(self) -> Iterator[tuple[str, ModelSlot]]:
        """Every slot, configured or not, with its model name."""
        for name, models in list(self._models.items()):
            for slot in models:
                yield name, slot

    @property
    def ready(self) -> bool:
        return all(slot.ready for slot in self.configured.values())

    def check_name(self, name: str) -> None:
        if name not in self._defaults:
            raise UnknownModelError(name, self.names)

    def default(self, name: str) -> Binding:
        """The binding a request that names only the model uses; UnknownModelError if none."""
        binding = self._defaults.get(name)
        if binding is None:
            raise UnknownModelError(name, self.names)
        return binding

    # --- models ------------------------------------------------------------------------------
    def current(self, binding: Binding) -> LoadedModel:
        """The model a configured binding serves now; ModelNotReadyError while it loads."""
        slot = self.configured.get(binding) or self.slot(binding)
        model = slot.current
        if model is None:
            raise not_ready(slot)
        return model

    def loaded(self, binding: Binding) -> LoadedModel | None:
        """The model of a reference of a served name if it is loaded now; None otherwise."""
        models = self._models.get(binding.name)
        slot = models.get(binding.ref) if models is not None else None
        return slot.current if slot is not None else None

    async def model_for(self, binding: Binding) -> LoadedModel:
        """The model of any reference of a served name, loading it on first use."""
        self.check_name(binding.name)
        models = self._models[binding.name]
        slot = models.get(binding.ref)
        if slot is not None and slot.current is not None:
            return slot.current
        loaded = models.loaded().get(binding.ref)
        if loaded is not None:
            return loaded
        if slot is not None and slot in self.configured.values():
            raise not_ready(slot)
        if source_of(binding.ref) is not None:
            raise ModelNotFoundError(
                binding.name,
                binding.ref,
                "a request names a version or an alias; runs, logged models and folders "
                "are served only when configured",
            )
        async with self._extra_lock:
            slot = models.get(binding.ref)
            if slot is not None and slot.current is not None:
                return slot.current
            held = sum(len(m) for m in self._models.values())
            if held >= len(self.configured) + MAX_EXTRA_SLOTS:
                raise TooManyModelsError(held)
            slot = models.slot(binding.ref)
            try:
                return await asyncio.to_thread(slot.load)
            except Exception:
                models.discard(binding.ref)
                raise

    def versions(self, name: str) -> list[str]:
        """The versions of ``name`` loaded now: numbers in order, then fixed sources' labels."""
        return sorted(
            self._models[name].loaded(), key=lambda v: (0, int(v), v) if v.isdigit() else (1, 0, v)
        )

    # --- descriptions ------------------------------------------------------------------------
    def describe(self, binding: Binding) -> dict[str, Any]:
        """A binding's model as the service endpoints show it (or why it is not loaded)."""
        slot = self.configured.get(binding) or self.slot(binding)
        model = slot.current
        if model is None:
            return {
                "ref": binding.ref,
                "ready": False,
                "name": binding.name,
                "error": slot.last_error,
            }
        return {
            "ref": binding.ref,
            "ready": True,
            "name": model.name,
            "version": model.version,
            "resolved": model.info.resolved,
            "fixed": model.info.fixed,
            "aliases": list(model.info.aliases),
            "run_id": model.info.run_id,
            "flavor": model.flavor,
            "runtime": model.runtime,
            "input_kind": model.schema.kind,
            "metrics": model.info.metrics,
            "classes": [str(c) for c in model.classes],
            "load_seconds": round(model.load_seconds, 3),
            # why the last check did not swap (registry unreachable, a version that failed
            # to load): this version keeps serving meanwhile
            "last_error": slot.last_error,
        }

    def readiness(self) -> dict[str, Any]:
        """Ready when every configured binding is loaded; each one described, and whether
        the last registry checks reached MLflow (loaded models serve without it)."""
        unreachable = [s.unreachable for s in self.configured.values() if s.unreachable]
        return {
            "ready": self.ready,
            "models": {str(b): self.describe(b) for b in self.configured},
            "registry": {"reachable": not unreachable, "error": next(iter(unreachable), None)},
        }

    def check_all(self) -> dict[str, str | None]:
        """Ask the registry where every reference points now (swapping any that moved);
        ``name@ref`` → the version served afterwards."""
        for _, slot in self:
            slot.check()
        return self.versions_by_binding()

    def versions_by_binding(self) -> dict[str, str | None]:
        return {
            f"{name}@{slot.ref}": slot.current.version if slot.current else None
            for name, slot in self
        }


def not_ready(slot: ModelSlot) -> ModelNotReadyError:
    return ModelNotReadyError(slot.registry.name, slot.ref, slot.last_error)
