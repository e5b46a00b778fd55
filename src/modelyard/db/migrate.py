"""Running the Alembic migrations shipped inside the package, and checking the schema.

``modelyard db upgrade`` calls :func:`upgrade_database`; every service that uses the
database calls :func:`check_schema` at start-up and refuses to run on a database that is
behind, with a message that says to run ``modelyard db upgrade``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from modelyard.errors import DatabaseUnavailableError, SchemaOutOfDateError

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_HINT = "run `modelyard db upgrade`"


def safe_url(engine: Engine) -> str:
    """The engine's URL with any password masked."""
    return engine.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def _reachable(engine: Engine) -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        first = str(exc.orig or exc).strip().splitlines()
        raise DatabaseUnavailableError(
            f"cannot use the database {safe_url(engine)}: {first[0] if first else exc}"
        ) from exc


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration shipped with this version of modelyard."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def read_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with _reachable(engine), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_database(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision`` (default: the newest); returns the revision reached."""
    config = _config()
    with _reachable(engine), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return read_revision(engine) or "base"


def downgrade_database(engine: Engine, revision: str) -> str:
    """Take the database back to ``revision`` ("base": drop everything)."""
    config = _config()
    with _reachable(engine), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    return read_revision(engine) or "base"


def check_schema(engine: Engine) -> str:
    """The current revision; SchemaOutOfDateError unless it is the newest migration."""
    current = read_revision(engine)
    head = head_revision()
    if current != head:
        found = "an empty database" if current is None else f"revision {current}"
        raise SchemaOutOfDateError(
            f"the database {safe_url(engine)} is at {found}, this modelyard needs "
            f"revision {head}: {UPGRADE_HINT}"
        )
    return current
