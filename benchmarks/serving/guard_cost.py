"""What access control and limits cost a request, measured in process.

Drives the ASGI app directly (no server, no network: only the app's own work) with
``POST /bench/constant`` (reads the body, answers a constant: the framework path alone) under
four settings: every guard off; the defaults (concurrency and time limits on, keys and rate
limit off); API keys; API keys and a rate limit. Prints microseconds per request (the best of
``--rounds`` rounds of ``--requests`` requests each, the settings taking turns) and the
difference from "off".

    .venv/bin/python benchmarks/serving/guard_cost.py
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from modelyard.config import Settings
from modelyard.security.keys import hash_key, new_key
from modelyard.serving.app import create_app

KEY = new_key()
BODY = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
CASES: dict[str, dict[str, Any]] = {
    "off": {"max_concurrency": 0, "request_timeout_seconds": 0},
    "defaults": {},
    "keys": {"api_key_hashes": f"{hash_key(new_key())},{hash_key(KEY)}"},
    "keys+rate": {"api_key_hashes": hash_key(KEY), "rate_limit": "1000000/second"},
}


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"authorization", f"Bearer {KEY}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
    }


async def measure(apps: dict[str, Any], requests: int, rounds: int) -> dict[str, float]:
    """Microseconds per request of each app: the best round, the cases taking turns so
    that other load on the machine falls on all of them alike."""
    scope = scope_for("/bench/constant")
    message = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    statuses: set[int] = set()

    async def send(sent: dict[str, Any]) -> None:
        if sent["type"] == "http.response.start":
            statuses.add(sent["status"])

    for app in apps.values():
        app.guard.start()
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            started = time.perf_counter()
            for _ in range(requests):
                await app(scope, receive, send)
            best[name] = min(best[name], (time.perf_counter() - started) / requests)
    for app in apps.values():
        app.guard.stop()
    assert statuses == {200}, statuses
    return {name: seconds * 1e6 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        apps = {
            name: create_app(
                Settings(  # type: ignore[call-arg]
                    _env_file=None, home=Path(home), bench_endpoints=True, **values
                )
            )
            for name, values in CASES.items()
        }
        costs = asyncio.run(measure(apps, args.requests, args.rounds))
    for name, cost in costs.items():
        print(f"{name:10s} {cost:6.2f} us/request  ({cost - costs['off']:+.2f})")


if __name__ == "__main__":
    main()
