#!/usr/bin/env python3
"""Container healthcheck: exit 0 when every target answers within the timeout.

A target is an http(s):// URL, which must answer 2xx, or tcp://HOST:PORT, which must
accept a connection. Standard library only, so it costs little to run every few seconds.
"""

import socket
import sys
import urllib.parse
import urllib.request

TIMEOUT_SECONDS = 5


def check(target: str) -> str | None:
    """None when ``target`` is healthy, else the reason it is not."""
    parsed = urllib.parse.urlsplit(target)
    try:
        if parsed.scheme == "tcp":
            with socket.create_connection((parsed.hostname, parsed.port), TIMEOUT_SECONDS):
                return None
        with urllib.request.urlopen(target, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except OSError as exc:
        return str(exc)


def main(targets: list[str]) -> int:
    for target in targets:
        reason = check(target)
        if reason is not None:
            print(f"{target}: {reason}", file=sys.stderr)  # noqa: T201 - healthcheck output
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else 2)
