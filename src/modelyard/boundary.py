"""Turning modelyard errors into a CLI message and exit code (the CLI's one boundary)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from modelyard.errors import ModelyardError

T = TypeVar("T")


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a ModelyardError as ``error: ...`` on stderr and exit 1 instead of a traceback."""
    try:
        yield
    except ModelyardError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def run_cli(fn: Callable[[], T]) -> T:
    with cli_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover
