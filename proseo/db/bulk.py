"""Bulk inserts for set-based work (planning 10^5 job steps, ingesting 10^4 products).

Ids are allocated up front (:func:`allocate_ids`) so rows can go in as plain ``executemany``
without ``RETURNING``: SQLite then runs one C loop and PostgreSQL multi-row ``VALUES``
batches, where ``INSERT ... RETURNING`` with ordered ids falls back to one statement per row
on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

CHUNK = 10_000


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
    """Insert ``rows`` (dicts of column values) in chunks of :data:`CHUNK` with executemany."""
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(table), list(rows[start : start + CHUNK]))


def refresh_statistics(session: Session, *tables: Table) -> None:
    """After a bulk insert on PostgreSQL, ``ANALYZE`` the tables so that the next queries of
    the same transaction are planned with their new size (autovacuum comes too late)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"ANALYZE {table.name}"))
