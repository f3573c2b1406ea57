"""Alembic environment: migrates the connection handed over by proseo.db.migrate.

SQLite runs in batch mode so later revisions can alter tables there too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import proseo.model  # noqa: F401  (registers every table on Base.metadata)
from proseo.db.migrate import include_object, render_item
from proseo.model.base import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through 'proseo db upgrade' (no connection was given)")
_run(connection)
