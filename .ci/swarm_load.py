#!/usr/bin/env python3
"""Steady /predict traffic for the swarm checks; every failed request is counted.

    python3 .ci/swarm_load.py http://127.0.0.1:PORT/predict --rate 40 --threads 4 > out.json

Runs until SIGTERM or SIGINT, then prints one JSON object: requests, ok, failures by
kind (an HTTP status other than 200, or the exception's class), the first few failures
with their time, and the model versions that answered. Each thread keeps one keep-alive
connection, as a real client would, and opens a new one only after an error. Standard
library only: it runs on the CI machine's own python3.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
import urllib.parse
from collections import Counter

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self.first_failures: list[str] = []
        self.versions: Counter[str] = Counter()
        self.started = time.monotonic()

    def record(self, failure: str | None, version: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            if failure is None:
                self.ok += 1
                if version:
                    self.versions[version] += 1
                return
            self.failures[failure] += 1
            if len(self.first_failures) < 10:
                self.first_failures.append(f"{time.monotonic() - self.started:.1f}s {failure}")

    def summary(self) -> dict[str, object]:
        with self.lock:
            return {
                "seconds": round(time.monotonic() - self.started, 1),
                "requests": self.requests,
                "ok": self.ok,
                "failed": sum(self.failures.values()),
                "failures": dict(self.failures),
                "first_failures": self.first_failures,
                "versions": dict(self.versions),
            }


def client(
    url: urllib.parse.SplitResult, interval: float, stop: threading.Event, tally: Tally
) -> None:
    body = json.dumps(ROW).encode()
    headers = {"Content-Type": "application/json"}
    conn: http.client.HTTPConnection | None = None
    next_at = time.monotonic()
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=15)
        try:
            conn.request("POST", url.path or "/", body, headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status == 200:
                model = json.loads(payload).get("model") or {}
                tally.record(None, str(model.get("version", "")))
            else:
                tally.record(f"HTTP {response.status}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            tally.record(type(exc).__name__)
            conn.close()
            conn = None
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    if conn is not None:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the /predict URL")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second, all threads")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tally = Tally()
    interval = args.threads / args.rate
    threads = [
        threading.Thread(target=client, args=(url, interval, stop, tally), daemon=True)
        for _ in range(args.threads)
    ]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        stop.wait(0.5)
    for thread in threads:
        thread.join(timeout=20)
    json.dump(tally.summary(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
