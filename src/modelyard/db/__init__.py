"""The predictions database: tables, engines, migrations.

``make_engine(settings.db_url)`` opens it; ``upgrade_database`` migrates it (``modelyard db
upgrade``); ``check_schema`` is what services call before they start.
"""

from modelyard.db.engine import make_engine, make_sessionmaker
from modelyard.db.migrate import check_schema, head_revision, read_revision, upgrade_database

__all__ = [
    "check_schema",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "read_revision",
    "upgrade_database",
]
