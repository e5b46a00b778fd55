"""Logging set-up for entry points: one line per event, prefixed with the service name."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s [{service}] %(levelname)s %(name)s: %(message)s"


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as one line starting with ``[service]``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT.format(service=service), "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "httpx", "httpcore", "alembic.runtime", "git"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
