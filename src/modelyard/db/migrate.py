"""Running the Alembic migrations shipped inside the package, and checking the schema.

``modelyard db upgrade`` calls :func:`upgrade`; every service that uses the database calls
:func:`check_schema` at start-up and refuses to run on a database that is behind.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from modelyard.errors import SchemaOutOfDateError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_HINT = "run `modelyard db upgrade`"


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


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database to ``revision`` (default: the newest); returns the revision reached."""
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    reached = current_revision(engine) or "base"
    log.info("database %s is at revision %s", engine.url.render_as_string(), reached)
    return reached


def downgrade(engine: Engine, revision: str) -> str:
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    return current_revision(engine) or "base"


def check_schema(engine: Engine) -> str:
    """Raise SchemaOutOfDateError unless the database is at the newest migration."""
    try:
        current = current_revision(engine)
    except Exception as exc:
        raise SchemaOutOfDateError(
            f"cannot read the schema version of {engine.url.render_as_string()}: {exc}"
        ) from exc
    head = head_revision()
    if current != head:
        found = "an empty database" if current is None else f"revision {current}"
        raise SchemaOutOfDateError(
            f"the database {engine.url.render_as_string()} is at {found}, "
            f"this modelyard needs {head}: {UPGRADE_HINT}"
        )
    return current
