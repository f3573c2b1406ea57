"""Engine, session factory and the transaction helper.

Transactions belong to whoever starts the work (an HTTP request, a CLI command, a
dispatcher tick): they open one with :meth:`Database.transaction`; service functions take the
:class:`~sqlalchemy.orm.Session`, may ``flush()`` and never ``commit()``.

SQLite connections get ``foreign_keys=ON``, WAL journalling and a busy timeout, and
SQLAlchemy (not the ``sqlite3`` module) emits ``BEGIN`` so transactions behave as on
PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from proseo.config import Settings
from proseo.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseBusyError,
    InvalidInputError,
    ProseoError,
)


def create_database_engine(
    url: str, *, echo: bool = False, busy_timeout_ms: int = 30_000
) -> Engine:
    """Create an engine for ``url`` with proseo-py's connection settings.

    :param url: an SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg2://...``).
    :param busy_timeout_ms: SQLite only: how long a writer waits for a lock (milliseconds).
    :raises ConfigurationError: when the URL cannot be parsed or names an unsupported backend.
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ConfigurationError(f"invalid database URL {url!r}: {error}") from error
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database backend {backend!r} in {url!r}; use sqlite or postgresql"
        )
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        # JIT compilation costs ~0.5 s per planning query here and never pays back for the
        # short set-based queries of planning and dispatch.
        kwargs["connect_args"] = {"options": "-c jit=off"}
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy drive transactions instead of the sqlite3 module's implicit ones.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


class Database:
    """The database of one process: an engine and a session factory.

    Use :meth:`transaction` to run a unit of work::

        with database.transaction() as session:
            service_function(session, ...)
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
        self._turns = threading.RLock() if engine.dialect.name == "sqlite" else None
        """SQLite: the threads of this process take turns (re-entrant for nested units of
        work of one thread). A deferred SQLite transaction that read before another one
        wrote cannot write any more (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits
        for), so the server's threads (requests, dispatcher, triggers, pickup) would
        refuse each other's work; PostgreSQL needs no such thing."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Connect to the database the settings name (creating the data directory if needed)."""
        settings.ensure_data_dir()
        return cls(
            create_database_engine(
                settings.effective_database_url,
                echo=settings.echo_sql,
                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            )
        )

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Open a session in a transaction; commit when the block ends, roll back on error.

        An integrity violation at commit or flush is re-raised as :class:`ConflictError`, a
        missing table as :class:`ConfigurationError` (run ``proseo db upgrade``), a lock held
        by another writer past the busy timeout as :class:`DatabaseBusyError`; project
        errors pass through unchanged. Either way nothing of the block is kept.
        """
        if self._turns is not None:
            self._turns.acquire()
        session = self.sessions()
        try:
            with session.begin():
                yield session
        except exc.IntegrityError as error:
            raise ConflictError(
                f"the change conflicts with stored data: {error.orig}", detail=str(error.orig)
            ) from error
        except (exc.OperationalError, exc.ProgrammingError) as error:
            if "database is locked" in str(error.orig):
                raise DatabaseBusyError(
                    "the database is busy: another process held its write lock past the busy "
                    "timeout (sqlite_busy_timeout_ms); nothing was changed, try again"
                ) from error
            if _missing_schema(error):
                url = self.engine.url.render_as_string(hide_password=True)
                raise ConfigurationError(
                    f"the database {url} has no proseo-py schema (or an old one): "
                    f"{error.orig}; run 'proseo db upgrade'",
                    field="database_url",
                ) from error
            raise
        except ProseoError:
            raise
        except (ValueError, exc.StatementError) as error:
            if "cannot contain NUL" in str(error):  # psycopg2: PostgreSQL text has no U+0000
                raise InvalidInputError(
                    "text", None, "contains a NUL character, which the database cannot store"
                ) from error
            raise
        finally:
            session.close()
            if self._turns is not None:
                self._turns.release()

    def exists(self) -> bool:
        """Whether the database is there: always for a server; for SQLite, whether its file
        exists (connecting would create an empty one)."""
        if self.engine.dialect.name != "sqlite":
            return True
        name = self.engine.url.database
        return not name or name == ":memory:" or Path(name).exists()

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()


def _missing_schema(error: exc.DBAPIError) -> bool:
    """Whether a database error says a table is missing (SQLite and PostgreSQL wording)."""
    text = str(error.orig)
    return "no such table" in text or ("relation" in text and "does not exist" in text)
