"""A typed spelling of ``app.callback`` (Dash ships without type information)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from dash import Dash, Input, Output

F = TypeVar("F", bound=Callable[..., Any])


def callback(app: Dash, *dependencies: Any, **options: Any) -> Callable[[F], F]:
    """``@callback(app, Output(...), Input(...))`` registers the function and returns it."""
    return cast(Callable[[F], F], app.callback(*dependencies, **options))


def refreshing(app: Dash, timer_id: str, *dependencies: Any, **options: Any) -> Callable[[F], F]:
    """A callback that reloads a panel on its own timer, one reload at a time.

    The timer (a ``dcc.Interval`` with ``max_intervals=1``) fires once; the callback resets
    it when its work is done, so the next reload starts a full period after this one ended.
    A shared timer would instead fire while a slow reload is still running, and Dash drops
    the older, still-running request in favour of the new one: on a busy machine a panel
    would never be updated at all.
    """
    outputs = [d for d in dependencies if isinstance(d, Output)]
    rest = [d for d in dependencies if not isinstance(d, Output)]

    def decorate(fn: F) -> F:
        def reload(tick: int | None, *args: Any) -> Any:
            result = fn(tick, *args)
            values = result if len(outputs) > 1 else (result,)
            return (*values, 0)

        app.callback(
            *outputs,
            Output(timer_id, "n_intervals"),
            Input(timer_id, "n_intervals"),
            *rest,
            **options,
        )(reload)
        return fn

    return decorate
