"""Kedro hooks of the modelyard project: the MLflow target from Settings, and progress lines.

The catalog gets the MLflow target from the settings; each pipeline step logs one line as
it starts (Kedro's own per-dataset and per-node lines are off in ``conf/logging.yml``).

``kedro run`` reads the settings from the environment (and ``.env``);
:func:`modelyard.training.train` runs the session under :func:`settings_for_run` so that
the settings object it was given wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kedro.framework.hooks import hook_impl

from modelyard.config import Settings, get_settings
from modelyard.training.tracking import TrackingTarget

log = logging.getLogger(__name__)

TRACKING_DATASET = "tracking"

_RUN_SETTINGS: ContextVar[Settings | None] = ContextVar("modelyard_run_settings", default=None)


@contextmanager
def settings_for_run(settings: Settings) -> Iterator[None]:
    """Make ``settings`` the ones Kedro sessions started inside this block use."""
    token = _RUN_SETTINGS.set(settings)
    try:
        yield
    finally:
        _RUN_SETTINGS.reset(token)


def run_settings() -> Settings:
    return _RUN_SETTINGS.get() or get_settings()


class TrainingHooks:
    def __init__(self) -> None:
        self._steps = 0
        self._done = 0
        self._started = 0.0

    @hook_impl  # type: ignore[untyped-decorator]
    def after_catalog_created(self, catalog: Any) -> None:
        catalog[TRACKING_DATASET] = TrackingTarget.from_settings(run_settings())

    @hook_impl  # type: ignore[untyped-decorator]
    def before_pipeline_run(self, pipeline: Any) -> None:
        self._steps, self._done, self._started = len(pipeline.nodes), 0, time.monotonic()

    @hook_impl  # type: ignore[untyped-decorator]
    def before_node_run(self, node: Any) -> None:
        self._done += 1
        log.info("step %d/%d: %s", self._done, self._steps, node.name)

    @hook_impl  # type: ignore[untyped-decorator]
    def after_pipeline_run(self) -> None:
        log.info("pipeline finished in %.1fs", time.monotonic() - self._started)
