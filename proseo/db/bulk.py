"""Bulk inserts for set-based work (planning 10^5 job steps, ingesting 10^4 products).

Ids are allocated up front (:func:`allocate_ids`) so rows can go in as plain ``executemany``
without ``RETURNING``: SQLite then runs one C loop and PostgreSQL multi-row ``VALUES``
batches, where ``INSERT ... RETURNING`` with ordered ids falls back to one statement per row
on SQLite.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from functools import lru_cache
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


_SPECIAL = re.compile(r"[\\\t\n\r]")


def _escape(text_value: str) -> str:
    if _SPECIAL.search(text_value) is None:
        return text_value
    return (
        text_value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


@lru_cache(maxsize=262_144)
def _datetime_text(value: datetime) -> str:
    # Cached: job windows and product validities repeat across rows and evaluations.
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} in a bulk insert")
    return value.isoformat()


_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: _escape,
    int: str,
    float: repr,
    bool: lambda v: "t" if v else "f",
    datetime: _datetime_text,
    uuid.UUID: str,
}


def _copy_text(value: Any, is_json: bool) -> str:
    """A value in PostgreSQL's COPY text format (``\\N`` is NULL)."""
    if value is None:
        return "\\N"
    if is_json:
        return _escape(json.dumps(value))
    convert = _BY_TYPE.get(type(value))
    if convert is not None:
        return convert(value)
    if isinstance(value, Enum):
        return _escape(str(value.value))
    if isinstance(value, datetime):
        return _datetime_text(value)
    return _escape(str(value))


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    given = list(rows[0])
    defaults = {
        column.name: column.default
        for column in table.columns
        if column.name not in rows[0] and column.default is not None
    }
    columns = given + list(defaults)
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    flags = [name in json_columns for name in columns]
    buffer = io.StringIO()
    for row in rows:
        values = [row[name] for name in given]
        for default in defaults.values():
            values.append(default.arg(None) if default.is_callable else default.arg)  # type: ignore[attr-defined]
        buffer.write("\t".join(_copy_text(v, j) for v, j in zip(values, flags, strict=True)))
        buffer.write("\n")
    buffer.seek(0)
    quoted = ", ".join(f'"{name}"' for name in columns)
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    cursor: Any = raw.cursor()
    try:
        cursor.copy_expert(f'COPY "{table.name}" ({quoted}) FROM STDIN', buffer)
    finally:
        cursor.close()


def refresh_statistics(session: Session, *tables: Table) -> None:
    """After a bulk insert on PostgreSQL, ``ANALYZE`` the tables so that the next queries of
    the same transaction are planned with their new size (autovacuum comes too late)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"ANALYZE {table.name}"))
