"""Hot swap of the served model: a slot holds the version a reference names, and follows it.

A :class:`ModelSlot` holds the :class:`~modelyard.inference.model.LoadedModel` that a reference
(a version number or an alias such as ``champion``) names. :meth:`ModelSlot.check` asks the
registry where the reference points now (a fixed reference, such as a run or a folder,
always points to the same model); when it names another version, that version is
loaded beside the current one, warmed up with its logged input example and only then swapped
in with one reference assignment, so callers never see a half-loaded model. A version that
fails to load or warm up is not swapped in: the old one keeps serving and the failure is
logged and counted.

Everything here is synchronous and thread-safe, so that the API (which calls :meth:`check`
in a thread from an asyncio task) and the streaming worker (which calls
:meth:`ModelSlot.check_if_due` between batches) share it. Slots created through one
:class:`ModelSlots` reuse a version already loaded by another slot instead of loading it twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from modelyard.bindings import source_of
from modelyard.errors import ModelyardError, RegistryUnavailableError
from modelyard.inference.model import LoadedModel, load_version
from modelyard.inference.sources import FixedSource, Resolver
from modelyard.registry import Registry, VersionInfo

log = logging.getLogger(__name__)

Loader = Callable[[VersionInfo, str], LoadedModel]
# How ModelSlots loads a resolved version: (resolver, version, cache folder, reference).
VersionLoader = Callable[[Resolver, VersionInfo, Path, str], LoadedModel]


@dataclass(frozen=True)
class SwapEvent:
    """What a check did: the reference, the versions before and after, and any failure."""

    ref: str
    old_version: str | None
    new_version: str | None
    error: str | None = None

    @property
    def swapped(self) -> bool:
        return self.error is None and self.new_version != self.old_version


Listener = Callable[[SwapEvent, "LoadedModel | None"], None]


class ModelSlot:
    """The loaded model for one registry reference, swapped atomically when the reference moves.

    ``loader`` loads a resolved version (default: :func:`load_version` into ``cache_dir``);
    ``listeners`` are told about every swap, failed swap and first load, and
    ``on_unreachable`` about every check that could not reach the registry.
    """

    def __init__(
        self,
        registry: Resolver,
        ref: str,
        loader: Loader,
        *,
        poll_seconds: float = 0.0,
        listeners: list[Listener] | None = None,
        on_unreachable: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self._on_unreachable = on_unreachable
        self.ref = ref
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._listeners = list(listeners or [])
        self._current: LoadedModel | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.swaps = 0
        self.failures = 0
        self.last_error: str | None = None
        # why the last registry check could not reach MLflow (None once one does)
        self.unreachable: str | None = None

    @property
    def current(self) -> LoadedModel | None:
        """The model serving now (None until the first successful load)."""
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def require(self) -> LoadedModel:
        """The current model; raises ModelyardError while none is loaded yet."""
        model = self._current
        if model is None:
            raise ModelyardError(f"model {self.registry.name}@{self.ref} is not loaded yet")
        return model

    def load(self) -> LoadedModel:
        """Resolve and load the reference now; raises on failure (used for the first load)."""
        with self._lock:
            self._last_check = time.monotonic()
            try:
                info = self.registry.resolve(self.ref)
            except RegistryUnavailableError as exc:
                self.unreachable = str(exc)
                raise
            self.unreachable = None
            current = self._current
            if current is not None and current.version == info.version:
                return current
            model = self._loader(info, self.ref)
            self._swap_in(model, current)
            return model

    def check(self) -> bool:
        """Follow the reference if it moved; True when another version was swapped in.

        Never raises for registry or load failures: they are logged and counted, and the
        current model (if any) keeps serving.
        """
        with self._lock:
            self._last_check = time.monotonic()
            current = self._current
            old_version = current.version if current is not None else None
            try:
                info = self.registry.resolve(self.ref)
            except RegistryUnavailableError as exc:
                log.warning(
                    "registry check for %s@%s failed: %s", self.registry.name, self.ref, exc
                )
                self.last_error = self.unreachable = str(exc)
                if self._on_unreachable is not None:
                    self._on_unreachable()
                return False
            except ModelyardError as exc:
                self.unreachable = None
                self._failed(old_version, None, exc)
                return False
            self.unreachable = None
            if old_version == info.version:
                self.last_error = None
                return False
            try:
                model = self._loader(info, self.ref)
            except Exception as exc:
                self._failed(old_version, info.version, exc)
                return False
            self._swap_in(model, current)
            return True

    def check_if_due(self, now: float | None = None) -> bool:
        """Call :meth:`check` when ``poll_seconds`` have passed since the last one (0: never)."""
        if self.poll_seconds <= 0:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_check < self.poll_seconds:
            return False
        return self.check()

    def _swap_in(self, model: LoadedModel, old: LoadedModel | None) -> None:
        self._current = model
        self.last_error = None
        event = SwapEvent(self.ref, old.version if old else None, model.version)
        if old is not None:
            self.swaps += 1
            log.info(
                "swapped %s@%s: version %s -> %s", model.name, self.ref, old.version, model.version
            )
        self._notify(event, model)

    def _failed(self, old_version: str | None, new_version: str | None, exc: Exception) -> None:
        self.failures += 1
        self.last_error = str(exc)
        log.error(
            "not swapping %s@%s to version %s (keeping %s): %s",
            self.registry.name,
            self.ref,
            new_version or "?",
            old_version or "none",
            exc,
        )
        self._notify(SwapEvent(self.ref, old_version, new_version, error=str(exc)), None)

    def _notify(self, event: SwapEvent, model: LoadedModel | None) -> None:
        for listener in self._listeners:
            try:
                listener(event, model)
            except Exception:
                log.exception("model slot listener failed")


class ModelSlots:
    """Slots for several references of one registered model, sharing loaded versions.

    Two references that name the same version (say ``champion`` and ``2``) share one
    LoadedModel; a version no slot holds any longer is released by the garbage collector.
    """

    def __init__(
        self,
        registry: Registry,
        cache_dir: Path,
        *,
        poll_seconds: float = 0.0,
        loader: VersionLoader = load_version,
        on_unreachable: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.cache_dir = cache_dir
        self.poll_seconds = poll_seconds
        self._on_unreachable = on_unreachable
        self._load_version = loader
        self._slots: dict[str, ModelSlot] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)
        for slot in self._slots.values():
            slot.add_listener(listener)

    def slot(self, ref: str) -> ModelSlot:
        """The slot for ``ref`` (created, not yet loaded, on first use).

        A fixed reference (a run, a logged model, a folder: :mod:`modelyard.bindings`) is
        resolved without the registry, to the same model every time.
        """
        ref = ref.strip()
        with self._lock:
            found = self._slots.get(ref)
            if found is None:
                source = source_of(ref)
                resolver: Resolver = self.registry
                if source is not None:
                    registry = self.registry
                    resolver = FixedSource(
                        registry.name, source, registry.tracking_uri, registry.credentials
                    )
                found = ModelSlot(
                    resolver,
                    ref,
                    self._load,
                    poll_seconds=self.poll_seconds,
                    listeners=list(self._listeners),
                    on_unreachable=self._on_unreachable,
                )
                self._slots[ref] = found
            return found

    def discard(self, ref: str) -> None:
        """Forget the slot for ``ref`` (its model is released once no caller holds it)."""
        with self._lock:
            self._slots.pop(ref.strip(), None)

    def get(self, ref: str) -> ModelSlot | None:
        return self._slots.get(ref.strip())

    def __iter__(self) -> Iterator[ModelSlot]:
        return iter(list(self._slots.values()))

    def __len__(self) -> int:
        return len(self._slots)

    def loaded(self) -> dict[str, LoadedModel]:
        """Version → loaded model, over every slot."""
        out: dict[str, LoadedModel] = {}
        for slot in self:
            model = slot.current
            if model is not None:
                out.setdefault(model.version, model)
        return out

    def check_all(self) -> int:
        """Check every slot; the number of swaps made."""
        return sum(1 for slot in self if slot.check())

    def _load(self, info: VersionInfo, ref: str) -> LoadedModel:
        shared = self.loaded().get(info.version)
        if shared is not None:
            log.info("%s@%s reuses loaded version %s", info.name, ref, info.version)
            return shared
        return self._load_version(self.registry, info, self.cache_dir, ref)
