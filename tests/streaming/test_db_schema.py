"""Migrations: the shipped schema matches the models, and services refuse an old schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from modelyard.db.engine import make_engine, normalize_url
from modelyard.db.migrate import (
    UPGRADE_HINT,
    check_schema,
    downgrade_database,
    head_revision,
    read_revision,
    upgrade_database,
)
from modelyard.db.models import Base
from modelyard.errors import DatabaseUnavailableError, SchemaOutOfDateError


def test_migrations_build_the_schema_the_models_describe(engine: Engine) -> None:
    assert read_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {
        "observations",
        "predictions",
        "scoring_failures",
        "quality_snapshots",
        "drift_snapshots",
        "worker_heartbeats",
    } <= tables
    assert check_schema(engine) == head_revision()


def test_empty_and_old_databases_are_refused_with_the_command_to_run(engine: Engine) -> None:
    downgrade_database(engine, "base")
    with pytest.raises(SchemaOutOfDateError) as caught:
        check_schema(engine)
    assert UPGRADE_HINT in str(caught.value)
    assert "empty database" in str(caught.value)
    assert upgrade_database(engine) == head_revision()
    assert check_schema(engine) == head_revision()


def test_unreachable_database_is_reported_as_unavailable() -> None:
    engine = make_engine(
        "postgresql://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 2}
    )
    with pytest.raises(DatabaseUnavailableError, match="cannot use the database"):
        check_schema(engine)


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_runs_in_wal_mode(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
