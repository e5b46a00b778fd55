"""Who may call an endpoint, how often, how many at once, and for how long.

Each endpoint is registered with an :data:`Access` level: ``open`` (liveness, readiness,
service info), ``api`` (predictions and model metadata), ``admin`` (reload) or ``metrics``
(open, or an API key when ``MODELYARD_METRICS_NEED_KEY`` is set). :meth:`Guard.gate`
gives the router a :class:`Gate` for a level, or None when nothing applies to it, so that
an API with keys, rate limits, concurrency and time limits all off runs exactly the code it
ran without them. Everything a gate checks per request is prepared here once: key digests,
the parsed rate limit, header names.

A gate refuses with an :class:`~modelyard.serving.errors.ApiError` that the router renders
in the endpoint's protocol: 401 with ``WWW-Authenticate`` when no key is sent, 403 when it
is wrong (or when admin actions have no key on a server that is not bound to loopback),
429 with ``Retry-After`` over the rate limit, 503 with ``Retry-After`` when
``MODELYARD_MAX_CONCURRENCY`` requests are already in progress, and 504 past
``MODELYARD_REQUEST_TIMEOUT_SECONDS``. Answers to rate-limited endpoints carry
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix time).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Literal

from modelyard.config import Settings
from modelyard.security.keys import KeyRing
from modelyard.serving.errors import ApiError
from modelyard.serving.http import Call, Endpoint, Reply

if TYPE_CHECKING:
    from limits.storage import MemoryStorage
    from limits.strategies import SlidingWindowCounterRateLimiter

Access = Literal["open", "api", "admin", "metrics"]
Headers = tuple[tuple[str, str], ...]

API_KEY_HEADERS = (b"authorization", b"x-api-key")
ADMIN_KEY_HEADERS = (*API_KEY_HEADERS, b"x-admin-key")
CHALLENGE = (("www-authenticate", 'Bearer realm="modelyard"'),)
RETRY_SOON = (("retry-after", "1"),)


def presented_key(headers: list[tuple[bytes, bytes]], names: tuple[bytes, ...]) -> str | None:
    """The key a request sends: ``Authorization: Bearer <key>`` or another header of
    ``names`` (the first one present)."""
    for name, value in headers:
        if name not in names:
            continue
        text = value.decode("latin-1").strip()
        if name == b"authorization":
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer":
                continue
            text = token.strip()
        if text:
            return text
    return None


class Keys:
    """The key check of one access level."""

    __slots__ = ("field", "headers", "ring")

    def __init__(self, ring: KeyRing, headers: tuple[bytes, ...], field: str) -> None:
        self.ring = ring
        self.headers = headers
        self.field = field

    def identify(self, call: Call) -> str:
        """The caller's identity (the key's digest, hex) or a 401/403."""
        given = presented_key(call.scope["headers"], self.headers)
        if given is None:
            raise ApiError(
                "unauthorized",
                f"send a key as 'Authorization: Bearer <key>' or in {self.field}",
                self.field,
                headers=CHALLENGE,
            )
        digest = self.ring.match(given)
        if digest is None:
            raise ApiError("forbidden", "the key is not valid here", self.field)
        return digest.hex()


class RateLimit:
    """``MODELYARD_RATE_LIMIT`` per identity, counted in process memory by ``limits``
    (sliding window counter: two counters a caller, no per-hit list)."""

    def __init__(self, text: str) -> None:
        from limits import parse

        self.text = text
        self.item = parse(text)
        self._limit = str(self.item.amount)
        self._storage: MemoryStorage | None = None
        self._limiter: SlidingWindowCounterRateLimiter | None = None

    def start(self) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import SlidingWindowCounterRateLimiter

        self._storage = MemoryStorage()
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    def stop(self) -> None:
        if self._storage is not None:
            self._storage.timer.cancel()

    def hit(self, identity: str) -> Headers:
        """Count one request of ``identity``: its rate-limit headers, or a 429."""
        limiter = self._limiter
        if limiter is None:
            self.start()
            limiter = self._limiter
            assert limiter is not None
        allowed = limiter.hit(self.item, identity)
        stats = limiter.get_window_stats(self.item, identity)
        headers = (
            ("x-ratelimit-limit", self._limit),
            ("x-ratelimit-remaining", str(stats.remaining)),
            ("x-ratelimit-reset", str(math.ceil(stats.reset_time))),
        )
        if allowed:
            return headers
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(
            "rate_limited",
            f"over the rate limit of {self.text}; retry in {wait} s",
            headers=(*headers, ("retry-after", str(wait))),
        )


class Slots:
    """Requests in progress in this process, at most ``limit``."""

    __slots__ = ("busy", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0


class Gate:
    """What one access level checks before its endpoints run, and the limits they run under."""

    __slots__ = ("closed", "keys", "rate", "slots", "timeout")

    def __init__(
        self,
        keys: Keys | None = None,
        rate: RateLimit | None = None,
        slots: Slots | None = None,
        timeout: float | None = None,
        closed: str | None = None,
    ) -> None:
        self.keys = keys
        self.rate = rate
        self.slots = slots
        self.timeout = timeout
        self.closed = closed

    async def run(self, endpoint: Endpoint, call: Call) -> Reply:
        if self.closed is not None:
            raise ApiError("forbidden", self.closed, "X-Admin-Key")
        identity = self.keys.identify(call) if self.keys is not None else None
        headers: Headers = ()
        if self.rate is not None:
            if identity is None:
                client = call.scope.get("client")
                identity = client[0] if client else "unknown"
            headers = self.rate.hit(identity)
        slots = self.slots
        if slots is not None:
            if slots.busy >= slots.limit:
                raise ApiError(
                    "overloaded",
                    f"the server has {slots.limit} requests in progress; retry shortly",
                    headers=(*headers, *RETRY_SOON),
                )
            slots.busy += 1
        try:
            if self.timeout is None:
                reply = await endpoint(call)
            else:
                reply = await self._timed(endpoint, call, self.timeout)
        except ApiError as error:
            if headers:
                error.headers = (*error.headers, *headers)
            raise
        finally:
            if slots is not None:
                slots.busy -= 1
        if headers:
            reply.headers = (*reply.headers, *headers)
        return reply

    @staticmethod
    async def _timed(endpoint: Endpoint, call: Call, seconds: float) -> Reply:
        try:
            async with asyncio.timeout(seconds) as deadline:
                return await endpoint(call)
        except TimeoutError:
            if not deadline.expired():
                raise
        raise ApiError(
            "timeout", f"the request took over {seconds:g} s; retry later", headers=RETRY_SOON
        )


class Guard:
    """The gates of one app, built from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rate = RateLimit(settings.rate_limit) if settings.rate_limit else None
        limit = settings.max_concurrency
        slots = Slots(limit) if limit > 0 else None
        timeout = settings.request_timeout_seconds or None
        api_keys = Keys(settings.api_keys, API_KEY_HEADERS, "X-API-Key")
        api = Gate(api_keys if settings.api_keys.enabled else None, self.rate, slots, timeout)
        closed = None
        if not settings.admin_keys.enabled and not settings.admin_open:
            closed = (
                f"admin actions are off: the server listens on {settings.host} and no admin "
                "key is set (MODELYARD_ADMIN_KEY_HASHES, see `modelyard keygen`)"
            )
        admin_keys = Keys(settings.admin_keys, ADMIN_KEY_HEADERS, "X-Admin-Key")
        admin = Gate(admin_keys if settings.admin_keys.enabled else None, self.rate, closed=closed)
        metrics = None
        if settings.metrics_need_key and settings.api_keys.enabled:
            metrics = Gate(api_keys)
        self._gates: dict[Access, Gate | None] = {
            "open": None,
            "api": api if _active(api) else None,
            "admin": admin if _active(admin) else None,
            "metrics": metrics,
        }

    def gate(self, access: Access) -> Gate | None:
        return self._gates[access]

    def statuses(self, access: Access) -> tuple[int, ...]:
        """The statuses the gate of ``access`` may refuse with (for the API's documentation)."""
        gate = self._gates[access]
        if gate is None:
            return ()
        parts = (
            (gate.keys, (401, 403)),
            (gate.closed, (403,)),
            (gate.rate, (429,)),
            (gate.slots, (503,)),
            (gate.timeout, (504,)),
        )
        return tuple(sorted({s for part, codes in parts if part is not None for s in codes}))

    def start(self) -> None:
        if self.rate is not None:
            self.rate.start()

    def stop(self) -> None:
        if self.rate is not None:
            self.rate.stop()


def _active(gate: Gate) -> bool:
    return any(
        part is not None for part in (gate.keys, gate.rate, gate.slots, gate.timeout, gate.closed)
    )
