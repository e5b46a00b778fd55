"""Engines and sessions for the predictions database (SQLite or PostgreSQL).

``postgresql://`` URLs are served by the psycopg 3 driver; SQLite databases run in WAL mode
with a busy timeout so that the stream, the worker and the dashboard share one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "modelyard_immediate"
"""Execution option: on SQLite, begin the transaction with the write lock held."""


def normalize_url(url: str | URL) -> URL:
    """``postgres://``/``postgresql://`` → psycopg 3; everything else unchanged."""
    parsed = make_url(url)
    if parsed.drivername in {"postgres", "postgresql"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for ``immediate=True`` to take the write lock when the transaction starts:
    # a deferred transaction that reads and then writes would fail with "database is
    # locked" instead of waiting its turn. Readers stay deferred and run concurrently (WAL).
    if conn.get_execution_options().get(IMMEDIATE, False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` with modelyard's settings for its dialect."""
    parsed = normalize_url(url)
    options: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
        **kwargs,
    }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        # Let SQLAlchemy (not pysqlite) issue BEGIN, so that BEGIN IMMEDIATE works.
        options["connect_args"]["isolation_level"] = None
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
