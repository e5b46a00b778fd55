"""Turning modelyard errors into a CLI message and exit code (the CLI's one boundary).

Exit 1: the command ran and failed (a ModelyardError). Exit 2: it could not run as
invoked, as click answers a bad option: a setting that does not parse, or an optional
extra that this installation lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError

from modelyard.config import Settings, describe_invalid
from modelyard.errors import MissingExtraError, ModelyardError, SettingsError
from modelyard.extras import extra_for, lacking

T = TypeVar("T")

FAILED = 1
CANNOT_RUN = 2


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print an expected error as ``error: ...`` on stderr and exit instead of a traceback."""
    try:
        yield
    except (SettingsError, MissingExtraError) as exc:
        fail(str(exc), CANNOT_RUN)
    except ModelyardError as exc:
        fail(str(exc), FAILED)
    except ValidationError as exc:
        # Settings built directly rather than through get_settings()
        if exc.title != Settings.__name__:
            raise
        fail(describe_invalid(exc), CANNOT_RUN)
    except ModuleNotFoundError as exc:
        module, extra = extra_for(exc)
        if extra is None:
            raise
        fail(f"this command needs {lacking(module, extra)}", CANNOT_RUN)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def fail(message: str, code: int) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code) from None


def run_cli(fn: Callable[[], T]) -> T:
    with cli_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover
