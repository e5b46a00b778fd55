"""The challenger in the shadow: the version the worker scores beside the one it serves.

When the ``challenger`` alias (``MODELYARD_SHADOW_REF``) names a version other than the one
the worker scores with, the worker scores every observation with it too and stores its
answers beside the served version's (the predictions table is unique per observation and
version). They are never acted on: they are the evidence that compares the two
(:mod:`modelyard.streaming.comparison`). The alias is looked up every ``poll_seconds``;
while it is absent, or names the served version, there is nothing to shadow.
"""

from __future__ import annotations

import logging
import time

from modelyard.errors import ModelNotFoundError, RegistryError
from modelyard.inference.model import LoadedModel
from modelyard.inference.watcher import ModelSlot, ModelSlots

log = logging.getLogger(__name__)


class Shadow:
    """Follows ``ref`` in ``slots``' registry and hands out its model for shadow scoring."""

    def __init__(self, slots: ModelSlots, ref: str, poll_seconds: float) -> None:
        self._slots = slots
        self.ref = ref
        self.poll_seconds = poll_seconds
        self._slot: ModelSlot | None = None
        self._next_check = 0.0
        self._absent_logged = False

    def model_for(self, served: LoadedModel) -> LoadedModel | None:
        """The model to shadow ``served`` with now; None when there is none. The reference
        is looked up on the first call and then every ``poll_seconds`` (0: never again)."""
        now = time.monotonic()
        if self._next_check == 0.0 or (self.poll_seconds > 0 and now >= self._next_check):
            self.check()
        model = self._slot.current if self._slot is not None else None
        if model is None or model.version == served.version or model.name != served.name:
            return None
        return model

    def check(self) -> None:
        """Look the reference up now, and load the version it names if it moved."""
        self._next_check = time.monotonic() + self.poll_seconds
        registry = self._slots.registry
        try:
            registry.resolve(self.ref)
        except ModelNotFoundError:
            if not self._absent_logged:
                log.info("no %s@%s to shadow", registry.name, self.ref)
                self._absent_logged = True
            if self._slot is not None:
                self._slots.discard(self.ref)
                self._slot = None
            return
        except RegistryError as exc:  # unreachable: keep what is loaded
            log.warning("cannot look up %s@%s to shadow: %s", registry.name, self.ref, exc)
            return
        self._absent_logged = False
        if self._slot is None:
            self._slot = self._slots.slot(self.ref)
        before = self._slot.current
        if self._slot.check() or (before is None and self._slot.current is not None):
            model = self._slot.current
            if model is not None:
                log.info(
                    "shadow scoring with %s version %s (%s)", model.name, model.version, self.ref
                )
