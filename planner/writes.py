"""The planner's writes: one small interface, :class:`PlanStore`, over two implementations.

- :class:`PlainPlanStore` (SQLite, and any database but PostgreSQL): reads run at once on
  the session, rows go in with the driver's ``executemany``; the database checks every
  foreign key itself.
- :class:`PipelinedPlanStore` (PostgreSQL): a second connection (:class:`SnapshotReader`,
  which sees what the planning transaction saw) draws ids and fetches candidates while a
  writer thread streams the rows into ``COPY`` on the session's connection
  (:class:`RowWriter` in background mode). When the role may switch the row triggers off
  (:func:`may_skip_triggers`), it does so for the transaction and checks the references
  itself, set-based: every foreign-key value of every row written, found from the tables'
  own metadata (so a foreign key added to the schema later is checked too), minus the rows
  the plan itself wrote, is locked ``FOR KEY SHARE`` in one query per referenced table after
  the last write, before commit. A referenced row deleted meanwhile fails the plan.

Use :func:`open_plan_store` as a context manager; everything is in the database (or an error
raised) when the ``with`` block ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from proseo.db.bulk import (
    RowWriter,
    SnapshotReader,
    lock_referenced,
    may_skip_triggers,
    set_row_triggers,
)
from proseo.errors import PlanningError

T = TypeVar("T")

PER_ROW = "per-row foreign-key checks"
SET_BASED = "set-based checks and locks, row triggers off"


class PlanStore:
    """Where a plan reads ids and candidates and writes its rows (see the module docstring).

    :attr:`format` gives the values the columns store (:meth:`RowWriter.time`, ``flag``,
    ``nullable``, ``null``); :attr:`integrity` says how references are checked.
    """

    integrity: str = PER_ROW

    def __init__(self, writer: RowWriter) -> None:
        self.format = writer

    def read(self, work: Callable[[Session | Connection], T]) -> Future[T]:
        """Run ``work`` (a read or an id draw), possibly beside the writes; its future."""
        raise NotImplementedError

    def write(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples in the order of ``columns``, values from :attr:`format`)."""
        raise NotImplementedError


class PlainPlanStore(PlanStore):
    """Everything at once, in order, on the session."""

    def __init__(self, session: Session) -> None:
        super().__init__(RowWriter(session))
        self._session = session

    def read(self, work: Callable[[Session | Connection], T]) -> Future[T]:
        done: Future[T] = Future()
        done.set_result(work(self._session))
        return done

    def write(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.format.write(table, columns, rows)


class _References:
    """The foreign-key values of the rows a plan writes, by referenced table, and the ids of
    the rows it writes itself (which need no lock)."""

    def __init__(self, null: Any) -> None:
        self._null = null
        self.referenced: dict[Table, set[Any]] = defaultdict(set)
        self.own: dict[Table, set[Any]] = defaultdict(set)

    def note(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Record the references of ``rows`` from ``table``'s foreign keys."""
        if "id" in columns and "id" in table.c:
            position = columns.index("id")
            self.own[table].update(row[position] for row in rows)
        for key in table.foreign_keys:
            if key.parent.name not in columns:
                continue
            position = columns.index(key.parent.name)
            values = {row[position] for row in rows}
            values.discard(self._null)
            self.referenced[key.column.table] |= values

    def lock(self, session: Session) -> dict[str, list[int]]:
        """Lock every referenced row the plan did not write ``FOR KEY SHARE``; the ids that do
        not exist, by table name."""
        missing = {}
        for table, ids in self.referenced.items():
            absent = lock_referenced(session, table, ids - self.own.get(table, set()))
            if absent:
                missing[table.name] = absent
        return missing


class PipelinedPlanStore(PlanStore):
    """PostgreSQL: reads on a second connection, writes by a writer thread, references
    checked set-based when the row triggers may be switched off."""

    def __init__(self, session: Session, reader: SnapshotReader, writer: RowWriter) -> None:
        super().__init__(writer)
        self._reader = reader
        self._writer = writer
        self._references: _References | None = None
        if may_skip_triggers(session):
            set_row_triggers(session, enabled=False)
            self._references = _References(writer.null)
            self.integrity = SET_BASED

    def read(self, work: Callable[[Session | Connection], T]) -> Future[T]:
        return self._reader.submit(work)

    def write(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self._references is not None:
            self._references.note(table, columns, rows)
        self._writer.write(table, columns, rows)

    def check_references(self) -> Future[dict[str, list[int]]] | None:
        """After the last write: lock and check the references (in the writer's order)."""
        if self._references is None:
            return None
        return self._writer.call(self._references.lock)


@contextmanager
def open_plan_store(session: Session, order: str) -> Iterator[PlanStore]:
    """The plan store for ``session`` (the caller's transaction); ``order`` names the order
    in errors.

    :raises PlanningError: naming the table and ids of referenced rows deleted while
        planning (plan again); the caller rolls back.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield PlainPlanStore(session)
        return
    # The session is the writer's until the with block ends; the reader's work is given
    # before any write (without a second connection it runs at once on the session).
    with SnapshotReader(session) as reader:
        check: Future[dict[str, list[int]]] | None = None
        with RowWriter(session, background=True) as writer:
            store = PipelinedPlanStore(session, reader, writer)
            yield store
            check = store.check_references()
        if check is not None:
            missing = check.result()
            for table, ids in missing.items():
                shown = ", ".join(str(i) for i in ids[:5])
                more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
                raise PlanningError(
                    f"processing order {order}: {table} rows {shown}{more} were deleted "
                    "while planning; plan again"
                )
            set_row_triggers(session, enabled=True)
