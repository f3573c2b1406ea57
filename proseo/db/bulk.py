"""Bulk writes for set-based work (planning 10^5 job steps, ingesting 10^4 products).

Ids are allocated up front (:func:`allocate_ids`), so rows go in without ``RETURNING``:
:class:`RowWriter` streams plain tuples into PostgreSQL's ``COPY ... FROM STDIN`` (text
format, optionally from a writer thread) and SQLite's ``executemany``; :func:`bulk_insert`
takes dictionaries (ingestion). :class:`SnapshotReader` reads beside a writing transaction
on a second connection; :func:`may_skip_triggers`, :func:`set_row_triggers` and
:func:`lock_referenced` let a bulk writer check references set-based instead of per row
(:mod:`planner.writes`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    Numeric,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

CHUNK = 10_000

_log = logging.getLogger(__name__)

T = TypeVar("T")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for bulk work that makes 10^5-10^6 small
    objects (tuples, strings) without reference cycles: every collection of the oldest
    generation walks all of them again, which cost about a sixth of the planner's Python time
    on the 6,000-orbit benchmark. Reference counting still frees everything as usual; the
    collector is switched back on afterwards if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def table_of(model: type[Any]) -> Table:
    """The Core table of an ORM model (bulk statements on it skip per-row ORM bookkeeping)."""
    table: Table = model.__table__
    return table


def allocate_ids(session: Session | Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh primary-key values for ``table``.

    PostgreSQL draws them from the table's sequence (safe with concurrent writers, and from
    any connection: sequences are not transactional). SQLite continues after the largest id;
    this is safe because SQLite has one writer at a time and the caller's transaction must
    already hold the write lock (it has written before).
    """
    if count <= 0:
        return []
    if _dialect_name(session) == "postgresql":
        sequence = session.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        ids = session.scalar(
            text("SELECT array_agg(nextval(:sequence)) FROM generate_series(1, :count)"),
            {"sequence": sequence, "count": count},
        )
        return list(ids)
    start = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return list(range(start, start + count))


def _dialect_name(session: Session | Connection) -> str:
    if isinstance(session, Connection):
        return session.dialect.name
    return session.get_bind().dialect.name


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of column values, all with the same keys).

    PostgreSQL: one ``COPY ... FROM STDIN`` (several times faster than multi-row ``VALUES``,
    whose parsing dominates for wide tables); Python-side column defaults are applied first.
    SQLite: ``executemany`` in chunks of :data:`CHUNK`.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, table, rows)
        return
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(table), list(rows[start : start + CHUNK]))


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY ... FROM STDIN`` of dict rows: Python-side column defaults applied, JSON columns
    as JSON text, ``None`` as NULL, other values through ``str()`` (times as ISO text with
    offset, booleans as True/False, enumerations as their value); see :class:`_CopyFormat`."""
    given = list(rows[0])
    defaults = [
        column.default
        for column in table.columns
        if column.name not in rows[0] and column.default is not None
    ]
    columns = given + [
        column.name
        for column in table.columns
        if column.name not in rows[0] and column.default is not None
    ]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    json_positions = [i for i, name in enumerate(columns) if name in json_columns]
    for name, value in rows[0].items():
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} for {table.name}.{name}")
    get = itemgetter(*given)
    single = len(given) == 1

    def values(row: dict[str, Any]) -> list[Any]:
        picked = [get(row)] if single else list(get(row))
        for default in defaults:
            picked.append(default.arg(None) if default.is_callable else default.arg)  # type: ignore[attr-defined]
        for position in json_positions:
            if picked[position] is not None:
                picked[position] = json.dumps(picked[position])
        return [NULL if v is None else v for v in picked]

    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    _copy_rows(raw, table, columns, map(values, rows))


class _Null:
    """The NULL of a ``COPY`` row (``\\N``), told apart from a text that reads ``\\N``."""

    __slots__ = ()

    def __str__(self) -> str:
        return "\\N"

    def __format__(self, spec: str) -> str:
        return "\\N"

    def __repr__(self) -> str:
        return "NULL"


NULL: Any = _Null()
"""The value that writes NULL through ``COPY`` (:attr:`RowWriter.null` on PostgreSQL)."""

# Types whose values, as the writers produce them, never hold a tab, newline or backslash.
_PLAIN_TYPES = (Integer, Numeric, Float, DateTime, Boolean, Uuid)


def _plain(column_type: TypeEngine[Any]) -> bool:
    """Whether values of this column type never need escaping for ``COPY`` (also for a
    type decorator, such as the UTC time type, over one of :data:`_PLAIN_TYPES`)."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, _PLAIN_TYPES)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _CopyFormat:
    """Rows of one table as lines of ``COPY ... FROM STDIN`` in PostgreSQL's text format
    (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format").

    A row becomes one ``str.format`` of a tab-separated template. Values of text columns (any
    type not in :data:`_PLAIN_TYPES`) are escaped (backslash, tab, newline, carriage return),
    memoised per distinct string: planning repeats the same few texts 10^5 times. :data:`NULL`
    writes NULL; ``None`` in a text column is refused.
    """

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = columns
        self._format = "\t".join("{}" for _ in columns) + "\n"
        self._text = [i for i, name in enumerate(columns) if not _plain(table.c[name].type)]
        self._escaped: dict[Any, Any] = {NULL: NULL}

    @property
    def statement(self) -> str:
        """The ``COPY`` statement these lines are for."""
        quoted = ", ".join(f'"{name}"' for name in self.columns)
        return f'COPY "{self.table.name}" ({quoted}) FROM STDIN'

    def _escape(self, value: Any, position: int) -> Any:
        if value is None:
            column = f"{self.table.name}.{self.columns[position]}"
            raise ValueError(f"None for {column}: write NULL as RowWriter.null")
        escaped = str(value).translate(_COPY_ESCAPES)
        if type(value) is str:
            self._escaped[value] = escaped
        return escaped

    def lines(self, rows: list[Sequence[Any]]) -> str:
        """The text of ``rows`` (tuples in the order of the columns).

        :raises ValueError: for a row of another width, or ``None`` in a text column."""
        width = len(self.columns)
        if set(map(len, rows)) - {width}:
            raise ValueError(f"rows for {self.table.name} must have {width} values")
        if self._text:
            # Column-wise, so the lookups of known texts run in C: rows repeat a few texts.
            columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
            known = self._escaped.get
            for i in self._text:
                escaped = list(map(known, columns[i]))
                if None in escaped:
                    for k, value in enumerate(columns[i]):
                        if escaped[k] is None:  # new here, or new in this batch
                            hit = known(value) if type(value) is str else None
                            escaped[k] = self._escape(value, i) if hit is None else hit
                columns[i] = escaped
            rows = list(zip(*columns, strict=True))
        line = self._format.format
        return "".join([line(*row) for row in rows])


class _CopyStream:
    """A file-like ``read()`` for ``COPY ... FROM STDIN`` that makes the next batch of lines
    only when asked: the server stores a batch while Python makes the next one."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.error: Exception | None = None
        """What went wrong making lines (psycopg2 reports it only as a cancelled COPY)."""

    def read(self, size: int = -1) -> str:
        del size  # a batch of rows at a time, whatever psycopg2 asks for
        try:
            return next(self._lines, "")
        except Exception as error:
            self.error = error
            raise

    def readline(self, size: int = -1) -> str:  # pragma: no cover - psycopg2 uses read()
        return self.read(size)


COPY_BATCH = 2_000
"""Rows per batch of lines handed to ``COPY``."""


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``: ids for ``IN (...)`` lists of bounded length."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(
    format: _CopyFormat, rows: Iterable[Sequence[Any]], counted: list[int]
) -> Iterator[str]:
    """The lines of ``rows`` in batches of :data:`COPY_BATCH`; adds the row count to
    ``counted[0]``."""
    iterator = iter(rows)
    while batch := list(islice(iterator, COPY_BATCH)):
        counted[0] += len(batch)
        yield format.lines(batch)


def _run_copy(raw: Any, statement: str, stream: _CopyStream) -> None:
    cursor: Any = raw.cursor()
    try:
        cursor.copy_expert(statement, stream, size=1 << 16)
    except Exception as error:
        if stream.error is not None:
            raise stream.error from error
        raise
    finally:
        cursor.close()


def _copy_rows(
    raw: Any, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Stream ``rows`` into ``table`` with ``COPY`` on the psycopg2 connection ``raw``;
    returns how many rows went in."""
    format = _CopyFormat(table, columns)
    counted = [0]
    _run_copy(raw, format.statement, _CopyStream(_batches(format, rows, counted)))
    return counted[0]


class _Aborted(Exception):
    """The rows of a ``COPY`` will not all come (the caller gave up, or wrote wrong rows)."""


_END = ""


class _Queued:
    """The next batch of lines from a queue, for ``iter(callable, _END)``; raises
    :class:`_Aborted` when the caller gave up (so the ``COPY`` fails instead of storing
    part of the rows)."""

    def __init__(self, chunks: SimpleQueue[str | type[_Aborted]]) -> None:
        self._chunks = chunks

    def __call__(self) -> str:
        lines = self._chunks.get()
        if lines is _Aborted:
            raise _Aborted("the rows for this COPY were abandoned")
        assert isinstance(lines, str)
        return lines


def new_uuids(count: int) -> list[str]:
    """``count`` random (version 4, RFC 4122 variant) UUIDs as 32 hex digits, the text both
    databases take for a UUID column; one ``os.urandom`` call for all of them."""
    digits = os.urandom(16 * count).hex()
    variant = "89ab89ab89ab89ab"
    return [
        f"{digits[i : i + 12]}4{digits[i + 13 : i + 16]}"
        f"{variant[int(digits[i + 16], 16)]}{digits[i + 17 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


class RowWriter:
    """Writes many rows of plain tuples into the tables of one session's transaction, as fast
    as each database takes them: PostgreSQL ``COPY ... FROM STDIN`` in text format
    (:class:`_CopyFormat`), SQLite ``executemany`` of the driver's own statement (no
    per-value SQLAlchemy processing).

    With ``background`` on PostgreSQL, a second thread sends what :meth:`write` formats (and
    runs what :meth:`call` is given) on the session's connection, in the order given, while
    the calling thread goes on: the server stores rows while Python makes the next ones and
    does other work. The caller must not use the session until :meth:`close` (or the end of
    the ``with`` block) has waited for the thread. :meth:`write` returns once the rows are
    formatted; a database error surfaces at a later :meth:`write` or at :meth:`close`. Leaving
    the ``with`` block with an exception aborts what is still unsent (the transaction is then
    to be rolled back). Without ``background``, or on SQLite, everything runs at once.

    Values must already be what the column stores: use :meth:`time` for UTC times,
    :meth:`flag` for booleans, the ``.value`` of enumerations and :attr:`null` (or
    :meth:`nullable`) for NULL — ``None`` is not looked for, to keep rows cheap. Columns left
    out take their server default (on SQLite: ``NULL``, or the next id for an integer
    primary key).
    """

    def __init__(self, session: Session, *, background: bool = False) -> None:
        self.session = session
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self._raw: Any = (
            session.connection().connection.dbapi_connection if self.postgresql else None
        )
        self.null: Any = NULL if self.postgresql else None
        """The value that writes NULL."""
        self._times: dict[datetime, str] = {}
        self._sender = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="row-writer")
            if background and self.postgresql
            else None
        )
        self._sent: list[Future[Any]] = []
        self._queues: list[SimpleQueue[str | type[_Aborted]]] = []
        """The queue of every COPY given (aborting puts a last item in each)."""
        self._failure: BaseException | None = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if error is None:
            self.close()
        else:
            self._abort()

    def close(self) -> None:
        """Wait until everything given is in the database.

        :raises Exception: the first error of the writing thread (a database error, or a
            row the server refused)."""
        if self._sender is None:
            return
        try:
            for future in self._sent:
                future.result()
        except BaseException:
            self._abort()
            raise
        self._sender.shutdown()
        self._sender = None

    def _abort(self) -> None:
        if self._sender is None:
            return
        for chunks in self._queues:  # a finished COPY never reads the extra item
            chunks.put(_Aborted)
        self._sender.shutdown(wait=True, cancel_futures=True)
        self._sender = None

    def _check(self) -> None:
        """Raise the writing thread's error early, so the caller stops making rows."""
        for future in self._sent:
            if future.done() and future.exception() is not None:
                self.close()

    def _send(self, statement: str, chunks: SimpleQueue[str | type[_Aborted]]) -> None:
        if self._failure is not None:
            return  # the transaction already failed; the first error is reported
        try:
            _run_copy(self._raw, statement, _CopyStream(iter(_Queued(chunks), _END)))
        except BaseException as error:
            self._failure = error
            raise

    def call(self, work: Callable[[Session], T]) -> Future[T]:
        """Run ``work(session)`` after everything given before it (in the writing thread with
        ``background``), e.g. a query that must see the rows written so far.

        :returns: its future; without ``background`` it is run at once (an error is raised
            at once) and the future is done."""
        if self._sender is None:
            done: Future[T] = Future()
            done.set_result(work(self.session))
            return done
        self._check()

        def run() -> T:
            if self._failure is not None:
                raise _Aborted("an earlier write failed")
            try:
                return work(self.session)
            except BaseException as error:
                self._failure = error
                raise

        future = self._sender.submit(run)
        self._sent.append(future)
        return future

    def nullable(self, value: Any) -> Any:
        """``value``, or :attr:`null` for ``None``."""
        return self.null if value is None else value

    def time(self, moment: datetime | None) -> Any:
        """A timezone-aware UTC time as the column stores it (memoised: planning writes the
        same window times many times), or :attr:`null` for ``None``.

        :raises ValueError: for a naive time."""
        if moment is None:
            return self.null
        text = self._times.get(moment)
        if text is None:
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"naive datetime {moment.isoformat()} where UTC is required")
            utc = moment.astimezone(UTC)
            text = (
                f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} {utc.hour:02d}:{utc.minute:02d}:"
                f"{utc.second:02d}.{utc.microsecond:06d}"
            )
            if self.postgresql:
                text += "+00:00"
            self._times[moment] = text
        return text

    def flag(self, value: bool) -> str | int:
        """A boolean as the column stores it."""
        if self.postgresql:
            return "t" if value else "f"
        return 1 if value else 0

    def write(self, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert ``rows`` (tuples in the order of ``columns``); returns how many."""
        for name in columns:
            if name not in table.c:
                raise ValueError(f"table {table.name} has no column {name}")
        if self.postgresql:
            if self._sender is None:
                return _copy_rows(self._raw, table, columns, rows)
            self._check()
            format = _CopyFormat(table, columns)
            chunks: SimpleQueue[str | type[_Aborted]] = SimpleQueue()
            self._queues.append(chunks)
            self._sent.append(self._sender.submit(self._send, format.statement, chunks))
            counted = [0]
            try:
                for lines in _batches(format, rows, counted):
                    chunks.put(lines)
                    self._check()
            except BaseException:
                chunks.put(_Aborted)
                raise
            chunks.put(_END)
            return counted[0]
        names = ", ".join('"' + name + '"' for name in columns)
        marks = ", ".join("?" for _ in columns)
        statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        connection = self.session.connection()
        count = 0
        iterator = iter(rows)
        while batch := list(islice(iterator, CHUNK)):
            connection.exec_driver_sql(statement, batch)
            count += len(batch)
        return count


class SnapshotReader:
    """A second connection beside a writing transaction, for reads and sequence draws that
    need not wait for the writes: on PostgreSQL its own thread and connection, in a
    ``REPEATABLE READ`` transaction that imports the session's snapshot
    (``pg_export_snapshot``), so it sees the committed data the session saw when the reader
    was made, but not the session's own uncommitted changes. Work runs in the order given.

    On SQLite (one connection, one writer; ids continue after the largest stored one), and
    on PostgreSQL when no second connection can be had (``max_connections`` reached, pool
    exhausted: logged as a warning), each work runs at once on the session itself; the
    caller must then give its work before it lets anything else use the session.

    Use as a context manager; the second transaction is rolled back at the end (it only
    reads).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._thread: ThreadPoolExecutor | None = None
        self._connection: Connection | None = None
        if session.get_bind().dialect.name != "postgresql":
            return
        snapshot = session.scalar(text("SELECT pg_export_snapshot()"))
        try:
            self._connection = self._open(session.get_bind().engine, snapshot)
        except (DBAPIError, SQLAlchemyTimeoutError) as error:
            _log.warning("no second connection (%s); reading on the planning connection", error)
            return
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-reader")

    @staticmethod
    def _open(engine: Engine, snapshot: str) -> Connection:
        connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            connection.begin()
            connection.execute(text("SET TRANSACTION SNAPSHOT :snapshot"), {"snapshot": snapshot})
        except BaseException:
            connection.close()
            raise
        return connection

    def __enter__(self) -> SnapshotReader:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        self.close()

    def submit(self, work: Callable[[Session | Connection], T]) -> Future[T]:
        """Run ``work`` with the reader's connection (else the session) after the work given
        before; its future (done at once on the session, where an error is raised at
        once)."""
        connection = self._connection
        if self._thread is None or connection is None:
            done: Future[T] = Future()
            done.set_result(work(self.session))
            return done
        return self._thread.submit(work, connection)

    def close(self) -> None:
        """End the reading transaction and give the connection back (waits for the work
        given, whose errors stay with their futures)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()
            self._connection = None


def may_skip_triggers(session: Session) -> bool:
    """Whether this PostgreSQL session may set ``session_replication_role`` (superuser, or
    ``GRANT SET ON PARAMETER session_replication_role`` on PostgreSQL 15 and later); always
    ``False`` on SQLite, which checks no foreign keys per row here anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    row = session.execute(
        text(
            "SELECT rolsuper, current_setting('server_version_num')::int "
            "FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    if row[0]:
        return True
    if row[1] < 150000:
        return False
    return bool(
        session.scalar(text("SELECT has_parameter_privilege('session_replication_role', 'SET')"))
    )


def set_row_triggers(session: Session, enabled: bool) -> None:
    """Switch PostgreSQL's row triggers off (``session_replication_role = replica``) or back
    on, until the transaction ends (a rollback switches them back on too).

    Off, the foreign keys of the rows written are *not* checked row by row: the caller must
    make sure of what the triggers would have, that every referenced row exists and is locked
    against deletion (:func:`lock_referenced`) or is written in the same transaction. Only
    for bulk writes of rows whose references the caller made itself; needs
    :func:`may_skip_triggers`.
    """
    role = "origin" if enabled else "replica"
    session.execute(text(f"SET LOCAL session_replication_role = {role}"))


def lock_referenced(session: Session, table: Table, ids: Iterable[int]) -> list[int]:
    """Lock the rows of ``table`` with these ids ``FOR KEY SHARE`` (as a foreign-key check
    does: nobody may delete them or change their key until this transaction ends) and
    return the ids that do not exist (sorted). On SQLite, which has one writer at a time,
    only the existence is checked."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found: set[int] = set()
    if session.get_bind().dialect.name == "postgresql":
        found.update(
            session.scalars(
                text(f'SELECT id FROM "{table.name}" WHERE id = ANY(:ids) FOR KEY SHARE'),
                {"ids": wanted},
            )
        )
    else:
        key = table.c.id
        for start in range(0, len(wanted), 500):
            found.update(session.scalars(select(key).where(key.in_(wanted[start : start + 500]))))
    return [i for i in wanted if i not in found]
