"""Errors turned into the sentence a panel shows instead of its content."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

from modelyard.dashboard.views import Tone
from modelyard.db.migrate import UPGRADE_HINT
from modelyard.errors import (
    DatabaseUnavailableError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
    SchemaOutOfDateError,
)

log = logging.getLogger(__name__)


def _is_missing_table(exc: SQLAlchemyError) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def explain(exc: Exception, panel: str) -> tuple[str, Tone]:
    """The message (and its tone) that replaces ``panel`` when loading it failed."""
    if isinstance(exc, RegistryUnavailableError):
        return f"MLflow is unreachable: {exc}. The panel comes back once it answers.", "error"
    if isinstance(exc, ModelNotFoundError):
        return f"No such model in the registry ({exc}): run `modelyard train`.", "warn"
    if isinstance(exc, RegistryError):
        return f"The registry answered with an error: {exc}", "error"
    if isinstance(exc, SchemaOutOfDateError):
        return str(exc), "warn"
    if isinstance(exc, DatabaseUnavailableError):
        return str(exc), "error"
    if isinstance(exc, ProgrammingError | OperationalError) and _is_missing_table(exc):
        return f"The database has no modelyard tables yet: {UPGRADE_HINT}.", "warn"
    if isinstance(exc, DBAPIError | SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        detail = str(orig if orig is not None else exc).strip().splitlines()
        return (
            f"The database is unreachable: {detail[0] if detail else type(exc).__name__}",
            "error",
        )
    log.exception("the %s panel failed", panel)
    return f"This panel could not be loaded ({type(exc).__name__}: {exc}).", "error"
