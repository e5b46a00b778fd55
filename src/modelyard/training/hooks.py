"""Kedro hooks of the modelyard project: put the MLflow target from Settings in the catalog.

``kedro run`` reads the settings from the environment (and ``.env``);
:func:`modelyard.training.train` runs the session under :func:`settings_for_run` so that
the settings object it was given wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kedro.framework.hooks import hook_impl

from modelyard.config import Settings, get_settings
from modelyard.training.tracking import TrackingTarget

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
    @hook_impl  # type: ignore[untyped-decorator]
    def after_catalog_created(self, catalog: Any) -> None:
        catalog[TRACKING_DATASET] = TrackingTarget.from_settings(run_settings())
