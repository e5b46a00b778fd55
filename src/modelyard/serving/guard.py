"""Who may call an endpoint, how often, how many at once, and for how long.

Each endpoint is registered with an :data:`Access` level: ``open`` (liveness and readiness
in every protocol), ``api`` (predictions, model metadata, service info), ``admin`` (reload)
or ``metrics`` (open, or an API key when ``MODELYARD_METRICS_NEED_KEY`` is set). :meth:`Guard.gate`
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
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any, Literal

from modelyard.config import Settings
from modelyard.security.keys import KeyRing
from modelyard.serving.errors import ApiError
from modelyard.serving.http import Call, Endpoint, Reply

Access = Literal["open", "api", "admin", "metrics"]
Headers = tuple[tuple[str, str], ...]

API_KEY_HEADERS = (b"authorization", b"x-api-key")
ADMIN_KEY_HEADERS = (*API_KEY_HEADERS, b"x-admin-key")
CHALLENGE = (("www-authenticate", 'Bearer realm="modelyard"'),)
RETRY_SOON = (("retry-after", "1"),)
EXPIRY_SECONDS = 1.0


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
    """``MODELYARD_RATE_LIMIT`` per identity: a fixed window (one counter a caller, as
    GitHub's API counts) in limits' memory storage, which the request increments and reads
    the expiry of, the two storage calls limits' ``FixedWindowRateLimiter`` makes for
    ``hit`` and ``get_window_stats`` (four) would make, with the key's parts made once.

    limits' memory storage starts a thread to drop expired counters every 10 ms while any
    exist; each start stalls the event loop (measured: +25 us a request at 10,000 requests
    a second). Here one task of the event loop drops them every second instead.
    """

    def __init__(self, text: str) -> None:
        from limits import parse

        self.text = text
        self.item = parse(text)
        self._amount = self.item.amount
        self._limit = str(self.item.amount)
        self._window = self.item.get_expiry()
        self._head, self._tail = self.item.key_for("\0").split("\0")
        self._storage: Any = None  # a _storage_class() storage, once started
        self._expiry: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._storage = storage = _storage_class()()
        with contextlib.suppress(RuntimeError):  # no event loop: nothing expires by itself
            self._expiry = asyncio.get_running_loop().create_task(
                _every(EXPIRY_SECONDS, storage.expire), name="rate-limit-expiry"
            )

    def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    @property
    def counters(self) -> int:
        """Callers counted now (expired ones are dropped within a second)."""
        return len(self._storage.storage) if self._storage is not None else 0

    def hit(self, identity: str) -> Headers:
        """Count one request of ``identity``: its rate-limit headers, or a 429."""
        storage = self._storage
        if storage is None:
            self.start()
            storage = self._storage
        key = self._head + identity + self._tail  # as limits' own key_for writes it
        count = storage.incr(key, self._window)
        reset = storage.get_expiry(key)
        headers = (
            ("x-ratelimit-limit", self._limit),
            ("x-ratelimit-remaining", str(max(0, self._amount - count))),
            ("x-ratelimit-reset", str(math.ceil(reset))),
        )
        if count <= self._amount:
            return headers
        wait = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            "rate_limited",
            f"over the rate limit of {self.text}; retry in {wait} s",
            headers=(*headers, ("retry-after", str(wait))),
        )


def _storage_class() -> type[Any]:
    """limits' memory storage with its expiry left to us (limits is imported only when a
    rate limit is set)."""
    from limits.storage import MemoryStorage

    class Storage(MemoryStorage):
        """limits' memory storage, its expired counters dropped by :meth:`expire`."""

        def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (the base's hook)
            return

        def expire(self) -> None:
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

    return Storage


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        action()


class Deadlines:
    """Requests cancelled past ``seconds``: one task looks a few times a second, so a
    request costs a dict entry, not a timer of its own (``asyncio.timeout`` measured
    +9 us a request); a request ends within ``seconds`` and a quarter (at most 1 s more)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 4)
        self.running: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(
                _every(self.tick, self._cancel_late), name="request-deadlines"
            )

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _cancel_late(self) -> None:
        now = time.monotonic()
        for task, deadline in self.running.items():
            if deadline <= now and task not in self.expired:
                self.expired.add(task)
                task.cancel()

    async def run(self, endpoint: Endpoint, call: Call) -> Reply:
        task = asyncio.current_task()
        if task is None:
            return await endpoint(call)
        if self._watch is None:
            self.start()
        self.running[task] = time.monotonic() + self.seconds
        try:
            return await endpoint(call)
        except asyncio.CancelledError:
            if task not in self.expired:
                raise
            task.uncancel()
        finally:
            del self.running[task]
            self.expired.discard(task)
        raise ApiError(
            "timeout", f"the request took over {self.seconds:g} s; retry later", headers=RETRY_SOON
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
        timeout: Deadlines | None = None,
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
                reply = await self.timeout.run(endpoint, call)
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


class Guard:
    """The gates of one app, built from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rate = RateLimit(settings.rate_limit) if settings.rate_limit else None
        limit = settings.max_concurrency
        slots = Slots(limit) if limit > 0 else None
        seconds = settings.request_timeout_seconds
        self.deadlines = timeout = Deadlines(seconds) if seconds > 0 else None
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

    def security(self, access: Access) -> list[dict[str, list[str]]]:
        """The OpenAPI security requirements of ``access`` (none when it takes no key)."""
        gate = self._gates[access]
        if gate is None or gate.keys is None:
            return []
        names = ["bearer", "apiKey"] if access != "admin" else ["bearer", "adminKey"]
        return [{name: []} for name in names]

    def security_schemes(self) -> dict[str, dict[str, str]]:
        """The OpenAPI security schemes the gates take (empty when no key is set)."""
        keyed = {a for a, g in self._gates.items() if g is not None and g.keys is not None}
        if not keyed:
            return {}
        schemes = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A key from `modelyard keygen`: `Authorization: Bearer <key>`.",
            }
        }
        if keyed - {"admin"}:
            schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        if "admin" in keyed:
            schemes["adminKey"] = {"type": "apiKey", "in": "header", "name": "X-Admin-Key"}
        return schemes

    def start(self) -> None:
        """Start the rate limit's storage and the deadline watch (in the app's lifespan)."""
        if self.rate is not None:
            self.rate.start()
        if self.deadlines is not None:
            self.deadlines.start()

    def stop(self) -> None:
        if self.rate is not None:
            self.rate.stop()
        if self.deadlines is not None:
            self.deadlines.stop()


def _active(gate: Gate) -> bool:
    return any(
        part is not None for part in (gate.keys, gate.rate, gate.slots, gate.timeout, gate.closed)
    )
