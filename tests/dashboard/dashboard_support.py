"""Helpers of the dashboard tests: a headless Chromium page and reading what the page shows."""

from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Callable
from typing import Any

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \".*\", line \d+")


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns a truthy value without raising; return that value."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (AssertionError, LookupError, ValueError) as exc:
            last = exc
        else:
            if value:
                return value
            last = None
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s (last error: {last!r})")


def plot_data(page: Any, graph_id: str) -> list[dict[str, Any]]:
    """The traces Plotly draws in the dcc.Graph ``graph_id`` (from the live page)."""
    return page.evaluate(  # type: ignore[no-any-return]
        """(id) => {
            const el = document.querySelector(`#${id} .js-plotly-plot`);
            if (!el || !el._fullData) return [];
            // _fullData holds the decoded arrays (the figure JSON may carry base64 ones)
            const list = (v) => (v ? Array.from(v) : []);
            return el._fullData.map(t => ({name: t.name, x: list(t.x), y: list(t.y)}));
        }""",
        graph_id,
    )


def service_level(page: Any, name: str) -> str:
    return str(page.get_attribute(f"#service-{name}", "data-level"))


def assert_no_traceback(page: Any) -> None:
    text = page.inner_text("body")
    assert not TRACEBACK.search(text), text[:2000]


def registered_port() -> int:
    """A free port below 49152: Kedro-Viz refuses ports in the ephemeral range."""
    while True:
        port = random.randint(20_000, 49_000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
