"""Engine, session factory and the transaction helper.

Transactions belong to whoever starts the work (an HTTP request, a CLI command, a
dispatcher tick): they open one with :meth:`Database.transaction`; service functions take the
:class:`~sqlalchemy.orm.Session`, may ``flush()`` and never ``commit()``.

SQLite connections get ``foreign_keys=ON``, WAL journalling and a busy timeout, and
SQLAlchemy (not the ``sqlite3`` module) emits ``BEGIN`` so transactions behave as on
PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
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
    DatabaseUnavailableError,
    InvalidInputError,
    ProseoError,
)

log = logging.getLogger(__name__)

RECLAIM_AFTER_ROWS = 10_000
"""Rolled-back job steps from which :meth:`Database.reclaim` vacuums (PostgreSQL)."""

PLANNING_TABLES = (
    "processing_order",
    "order_orbit_range",
    "order_output_parameter",
    "order_input_filter",
    "job",
    "job_step",
    "product_query",
    "product_query_satisfying_product",
    "product",
    "product_parameter",
    "state_history",
)
"""The tables a plan writes: what a rolled-back dry run leaves dead rows in."""


_LOST = (
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection already closed",
    "ssl connection has been closed",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
)


def _connection_lost(error: exc.DBAPIError) -> bool:
    """Whether ``error`` means the database is out of reach (not a fault of the statement)."""
    if error.connection_invalidated or isinstance(error, exc.InterfaceError):
        return True
    text = str(error.orig).lower()
    return any(sign in text for sign in _LOST)


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
        except (exc.OperationalError, exc.ProgrammingError, exc.InterfaceError) as error:
            if _connection_lost(error):
                url = self.engine.url.render_as_string(hide_password=True)
                raise DatabaseUnavailableError(
                    f"the database {url} cannot be reached: {str(error.orig).strip()}; "
                    "nothing was changed, try again"
                ) from error
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

    def reclaim(self, tables: Sequence[str], rows: int) -> None:
        """After a rolled-back unit of work that wrote ``rows`` rows (a dry run of a campaign
        or a large order): on PostgreSQL, ``VACUUM (ANALYZE)`` the given tables, for
        ``rows`` of :data:`RECLAIM_AFTER_ROWS` or more; otherwise nothing.

        Why: the rolled-back rows stay as dead tuples in the tables and their indexes until
        autovacuum comes by, and an autovacuum ANALYZE in between records the tables as
        nearly empty. The next plans then pick index scans that wade through the dead entries
        for every job: measured on a ten-year S5P campaign (364,000 job steps dry-run), the
        first batches after the dry run took 2-10 s instead of 0.4 s, growing batch by
        batch. The vacuum took 1.6 s there. Errors are logged, not raised: the dry run's
        answer stands either way.
        """
        if self.engine.dialect.name != "postgresql" or rows < RECLAIM_AFTER_ROWS:
            return
        names = ", ".join(self.engine.dialect.identifier_preparer.quote(t) for t in tables)
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {names}")
        except exc.DBAPIError as error:
            log.warning("vacuum after a dry run failed: %s", error.orig)

    def refresh_statistics(self, tables: Sequence[str], fraction: float = 0.1) -> list[str]:
        """On PostgreSQL, ``ANALYZE`` those of ``tables`` in which more than ``fraction`` of
        the rows (and 1,000 at least) changed since their last analysis; otherwise nothing.
        Called after a plan is committed.

        Why: autovacuum analyses a table only after 10 % of it changed and at most once a
        minute, while a campaign adds thousands of placeholder products of classes that had
        none a batch before. With statistics that still say "no such rows", PostgreSQL fetched
        a class's candidates through the wrong index, reading the whole class each time, and
        every batch got slower than the one before. An analysis samples at most 30,000 rows
        per table (about 0.1 s). Errors are logged, not raised.

        :returns: the tables analysed."""
        if self.engine.dialect.name != "postgresql":
            return []
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                stale = [
                    name
                    for name, changed, live in conn.exec_driver_sql(
                        "SELECT relname, n_mod_since_analyze, n_live_tup "
                        "FROM pg_stat_user_tables WHERE relname = ANY(%(names)s)",
                        {"names": list(tables)},
                    )
                    if changed > max(1000, fraction * live)
                ]
                if stale:
                    quote = self.engine.dialect.identifier_preparer.quote
                    conn.exec_driver_sql("ANALYZE " + ", ".join(quote(t) for t in stale))
                return stale
        except exc.DBAPIError as error:
            log.warning("refreshing planner statistics failed: %s", error.orig)
            return []

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
