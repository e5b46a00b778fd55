"""The canary: a share of the callers answered by the challenger, each caller always alike.

With ``MODELYARD_CANARY_SHARE`` above 0, a request that a model's default version would
answer (``/predict``, ``/models/{name}/predict``, ``/invocations``, KServe V1's
``:predict``; not one naming a version) is answered by the version the challenger alias
(``MODELYARD_SHADOW_REF``) names when its caller falls in the share. The caller is the
``X-Caller-Id`` header when sent, else the API key it presents, else its address; its hash
puts it in or out of the share, so one caller gets answers from one version for as long as
the aliases stay. The answer names the version that made it (``model.version`` and
``model.ref`` in the body, ``X-Model-Version``). A challenger that is not loaded yet is
loaded in the background while the champion answers; one that cannot be found is asked for
again after 30 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import TYPE_CHECKING

from modelyard.bindings import Binding
from modelyard.errors import ModelyardError
from modelyard.serving.guard import API_KEY_HEADERS, presented_key

if TYPE_CHECKING:
    from modelyard.inference.model import LoadedModel
    from modelyard.serving.catalog import Catalog
    from modelyard.serving.http import Call
    from modelyard.serving.metrics import ServingMetrics

log = logging.getLogger(__name__)

CALLER_HEADER = b"x-caller-id"
RETRY_SECONDS = 30.0
_SCALE = float(2**64)


def caller_of(call: Call) -> str:
    """Who is calling: ``X-Caller-Id``, else the presented API key, else the address."""
    caller = call.header(CALLER_HEADER)
    if caller:
        return "id:" + caller
    key = presented_key(call.scope["headers"], API_KEY_HEADERS)
    if key:
        return "key:" + key
    client = call.scope.get("client")
    return "addr:" + (client[0] if client else "unknown")


def bucket(caller: str) -> float:
    """Where ``caller`` falls in [0, 1), the same on every server process."""
    digest = hashlib.blake2b(caller.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Canary:
    """Picks the version that answers a default-version request of a caller."""

    def __init__(self, catalog: Catalog, metrics: ServingMetrics, share: float, ref: str) -> None:
        self._catalog = catalog
        self._metrics = metrics
        self.share = share
        self.ref = ref
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._missing: dict[str, float] = {}  # model name → when to look again

    def pick(self, binding: Binding, model: LoadedModel, call: Call) -> LoadedModel:
        """``model``, or the challenger when ``call``'s caller is in the share."""
        if model.info.fixed or bucket(caller_of(call)) >= self.share:
            return model
        name = binding.name
        if self._catalog.default(name) != binding:
            return model
        challenger = self._catalog.loaded(Binding(name, self.ref))
        if challenger is None:
            self._load(name)
            return model
        if challenger.version == model.version:
            return model
        self._metrics.canary_requests.labels(name, challenger.version).inc()
        return challenger

    async def stop(self) -> None:
        for task in self._loading.values():
            task.cancel()
        await asyncio.gather(*self._loading.values(), return_exceptions=True)

    def _load(self, name: str) -> None:
        if name in self._loading or time.monotonic() < self._missing.get(name, 0.0):
            return
        task = asyncio.create_task(self._load_challenger(name), name="canary-load")
        self._loading[name] = task
        task.add_done_callback(lambda _: self._loading.pop(name, None))

    async def _load_challenger(self, name: str) -> None:
        try:
            model = await self._catalog.model_for(Binding(name, self.ref))
        except ModelyardError as exc:
            self._missing[name] = time.monotonic() + RETRY_SECONDS
            log.info("canary of %s off for now: no %s to answer with (%s)", name, self.ref, exc)
            return
        log.info("canary of %s: %s is version %s", name, self.ref, model.version)
