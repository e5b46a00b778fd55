"""API and admin keys: made by ``modelyard keygen``, stored as hashes, checked in constant time.

A key is ``my_`` and 32 random bytes in URL-safe base64 (256 bits from :mod:`secrets`). The
settings hold only its hash, ``sha256:<64 hex digits>``: a fast hash is sound for a random
key of that entropy (nothing to guess from a dictionary, 2^256 to brute-force; a slow
password hash would cost every request and add nothing), and the scheme prefix leaves
room for another scheme beside it later. A request's key is hashed once and compared with
every stored digest by :func:`hmac.compare_digest`, without stopping at the first match, so
the time taken does not tell which stored hash, or how much of one, a guess matched.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

SCHEME = "sha256"
KEY_PREFIX = "my_"
_HEX_DIGITS = frozenset("0123456789abcdef")


def new_key() -> str:
    """A new random key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of ``key``: ``sha256:<hex digest>``."""
    return f"{SCHEME}:{hashlib.sha256(key.encode()).hexdigest()}"


def parse_hashes(text: str) -> tuple[bytes, ...]:
    """The digests of a comma-separated list of ``sha256:<hex>`` hashes (ValueError if one
    is malformed, naming it by position, never by value)."""
    digests = []
    for position, item in enumerate((part.strip() for part in text.split(",")), 1):
        if not item:
            continue
        scheme, _, digest = item.partition(":")
        if scheme != SCHEME or len(digest) != 64 or not set(digest) <= _HEX_DIGITS:
            raise ValueError(
                f"hash {position} is not '{SCHEME}:' and 64 lower-case hex digits "
                "(make one with `modelyard keygen`)"
            )
        digests.append(bytes.fromhex(digest))
    return tuple(digests)


@dataclass(frozen=True)
class KeyRing:
    """The keys that open one kind of action: stored digests, and plain keys (the local
    stack's ``MODELYARD_ADMIN_KEY``) kept as their digests too."""

    digests: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, hashes: str, *plain: str | None) -> KeyRing:
        extra = tuple(hashlib.sha256(key.encode()).digest() for key in plain if key)
        return cls(parse_hashes(hashes) + extra)

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def match(self, given: str) -> bytes | None:
        """The digest of ``given`` when it is one of the keys, else None (constant time
        over every stored digest)."""
        digest = hashlib.sha256(given.encode()).digest()
        found = False
        for stored in self.digests:
            found |= hmac.compare_digest(digest, stored)
        return digest if found else None

    def allows(self, given: str | None, *, open_without_keys: bool) -> bool:
        """Whether ``given`` opens the action: a matching key, or no keys configured and the
        action open without them."""
        if not self.enabled:
            return open_without_keys
        return given is not None and self.match(given) is not None


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
