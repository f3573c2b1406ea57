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
from collections.abc import Sequence
from datetime import datetime
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
        rows = session.execute(
            text("SELECT nextval(:sequence) FROM generate_series(1, :count)"),
            {"sequence": sequence, "count": count},
        )
        return [int(r[0]) for r in rows]
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


def refresh_statistics(session: Session, *tables: Table) -> None:
    """After a bulk insert on PostgreSQL, ``ANALYZE`` the tables so that the next queries of
    the same transaction are planned with their new size (autovacuum comes too late)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"ANALYZE {table.name}"))
