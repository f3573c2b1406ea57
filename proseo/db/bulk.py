"""Bulk inserts for set-based work (planning 10^5 job steps, ingesting 10^4 products).

Ids are allocated up front (:func:`allocate_ids`) so rows can go in as plain ``executemany``
without ``RETURNING``: SQLite then runs one C loop and PostgreSQL multi-row ``VALUES``
batches, where ``INSERT ... RETURNING`` with ordered ids falls back to one statement per row
on SQLite.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.orm import Session

CHUNK = 10_000


def table_of(model: type[Any]) -> Table:
    """The Core table of an ORM model (bulk statements on it skip per-row ORM bookkeeping)."""
    table: Table = model.__table__
    return table


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary-key values for ``table``.

    PostgreSQL draws them from the table's sequence (safe with concurrent writers). SQLite
    continues after the largest id; this is safe because SQLite has one writer at a time and
    the caller's transaction must already hold the write lock (it has written before).
    """
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
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
    """``COPY ... FROM STDIN`` in CSV format, written by the C ``csv`` module: values go as
    ``str()`` (times as ISO text with offset, booleans as True/False, enumerations as their
    value), NULL as an unquoted ``\\N``, JSON columns as JSON text."""
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

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(map(values, rows))
    buffer.seek(0)
    quoted = ", ".join(f'"{name}"' for name in columns)
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor()
    try:
        cursor.copy_expert(
            f"COPY \"{table.name}\" ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
    finally:
        cursor.close()


NULL = "\\N"


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


class _CsvStream:
    """A file-like ``read()`` over rows, writing CSV a batch at a time: ``COPY`` sends each
    batch while the next one is written, so the server stores rows while Python makes more
    (two cores busy instead of one after the other)."""

    def __init__(self, rows: Iterable[Sequence[Any]], batch: int = 2_000) -> None:
        self._rows = iter(rows)
        self._batch = batch
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.count = 0

    def read(self, size: int = -1) -> str:
        del size  # a batch of rows at a time, whatever psycopg2 asks for
        batch = list(islice(self._rows, self._batch))
        if not batch:
            return ""
        self.count += len(batch)
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(batch)
        return self._buffer.getvalue()

    def readline(self, size: int = -1) -> str:  # pragma: no cover - psycopg2 uses read()
        return self.read(size)


class RowWriter:
    """Writes many rows of plain tuples into the tables of one session's transaction, as fast
    as each database takes them: PostgreSQL ``COPY ... FROM STDIN`` streamed in CSV, SQLite
    ``executemany`` of the driver's own statement (no per-value SQLAlchemy processing).

    On PostgreSQL :meth:`write` may run in another thread than the one that made the writer,
    as long as nothing else uses the session meanwhile (it uses the connection taken here).

    Values must already be what the column stores: use :meth:`time` for UTC times,
    :meth:`flag` for booleans, the ``.value`` of enumerations and :attr:`null` (or
    :meth:`nullable`) for NULL — ``None`` is not looked for, to keep rows cheap. Columns left
    out take their server default (on SQLite: ``NULL``, or the next id for an integer
    primary key).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self._raw: Any = (
            session.connection().connection.dbapi_connection if self.postgresql else None
        )
        self.null: str | None = NULL if self.postgresql else None
        """The value that writes NULL."""
        self._times: dict[datetime, str] = {}

    def nullable(self, value: Any) -> Any:
        """``value``, or :attr:`null` for ``None``."""
        return self.null if value is None else value

    def time(self, moment: datetime | None) -> str | None:
        """A timezone-aware UTC time as the column stores it (memoised: planning writes the
        same window times many times). :raises ValueError: for a naive time."""
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
            stream = _CsvStream(rows)
            quoted = ", ".join(f'"{name}"' for name in columns)
            cursor: Any = self._raw.cursor()
            try:
                cursor.copy_expert(
                    f"COPY \"{table.name}\" ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                    stream,
                    size=1 << 16,
                )
            finally:
                cursor.close()
            return stream.count
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
