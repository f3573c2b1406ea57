"""Planning writes its rows in bulk; on PostgreSQL without per-row foreign-key triggers when
the role may. Whatever the way, every reference of the rows written must hold, and the rows
a plan refers to must stay until it commits."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from orderman.service import run_plan
from planner.plan import PlanSummary
from proseo.db import Database
from proseo.db.bulk import (
    RowWriter,
    SnapshotReader,
    allocate_ids,
    lock_referenced,
    new_uuids,
    table_of,
)
from proseo.errors import PlanningError
from proseo.model import (
    Job,
    JobStep,
    Mission,
    Product,
    ProductClass,
    ProductParameter,
    ProductQuery,
    StateHistory,
)
from proseo.model.order import product_query_satisfying_product
from tests.conftest import approved_tst_order

PLAN_TABLES: list[Table] = [
    table_of(Job),
    table_of(JobStep),
    table_of(Product),
    table_of(ProductParameter),
    table_of(ProductQuery),
    product_query_satisfying_product,
]


def _dangling_references(database: Database) -> dict[str, int]:
    """Per foreign key of the tables planning writes: rows whose reference has no row."""
    found: dict[str, int] = {}
    with database.transaction() as session:
        for table in PLAN_TABLES:
            for fk in table.foreign_keys:
                parent = fk.column.table.alias("parent")
                child = fk.parent
                count = session.scalar(
                    select(func.count())
                    .select_from(table.outerjoin(parent, child == parent.c[fk.column.name]))
                    .where(child.is_not(None), parent.c[fk.column.name].is_(None))
                )
                found[f"{table.name}.{child.name}"] = int(count or 0)
    return found


def _plan_with_output_parameters(tst: Database) -> PlanSummary:
    order_id = approved_tst_order(
        tst,
        output_parameters={"revision": "02"},
    )
    return run_plan(tst, order_id)


def test_every_reference_of_the_planned_rows_holds(tst: Database) -> None:
    summary = _plan_with_output_parameters(tst)
    assert summary.job_steps == 4
    postgresql = tst.engine.dialect.name == "postgresql"
    # The test cluster's role is a superuser: PostgreSQL plans without row triggers.
    assert ("row triggers off" in summary.integrity) is postgresql
    dangling = _dangling_references(tst)
    assert len(dangling) >= 12  # every foreign key of the six tables was looked at
    assert set(dangling.values()) == {0}, dangling
    with tst.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ProductParameter)) == 4
        assert session.scalar(select(func.count()).select_from(product_query_satisfying_product))
        # Jobs get a "planned" history row; a job step's created_at is its planning time.
        planned = session.execute(
            select(StateHistory.entity_type, func.count())
            .where(StateHistory.reason == "planned")
            .group_by(StateHistory.entity_type)
        ).all()
        assert [(kind.value, count) for kind, count in planned] == [("JOB", 2)]
        uuids = list(session.scalars(select(Product.uuid).where(Product.job_step_id.is_not(None))))
        assert len(set(uuids)) == len(uuids) == 8
        assert all(u.version == 4 for u in uuids)


def _restricted_url(tst: Database) -> str:
    """A login role of the test database without superuser rights or the SET grant."""
    with tst.engine.connect() as connection:
        connection.execute(text("DROP ROLE IF EXISTS proseo_planner"))
        connection.execute(text("CREATE ROLE proseo_planner LOGIN"))
        connection.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO proseo_planner"))
        connection.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO proseo_planner"))
        connection.commit()
    return (
        make_url(str(tst.engine.url.render_as_string(hide_password=False)))
        .set(username="proseo_planner")
        .render_as_string(hide_password=False)
    )


def test_without_the_privilege_the_database_checks_every_row(tst: Database) -> None:
    if tst.engine.dialect.name != "postgresql":
        pytest.skip("session_replication_role is a PostgreSQL setting")
    restricted = Database(create_engine(_restricted_url(tst)))
    try:
        summary = _plan_with_output_parameters(restricted)
    finally:
        restricted.engine.dispose()
        with tst.engine.connect() as connection:
            connection.execute(text("DROP OWNED BY proseo_planner"))
            connection.execute(text("DROP ROLE proseo_planner"))
            connection.commit()
    assert summary.integrity == "per-row foreign-key checks"
    assert summary.job_steps == 4
    assert set(_dangling_references(tst).values()) == {0}


def test_inputs_of_an_open_plan_cannot_be_deleted(tst: Database) -> None:
    """Row triggers off, the plan locks what it refers to as a foreign-key check would."""
    if tst.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    from orderman.commands import plan
    from orderman.orders import get_order

    order_id = approved_tst_order(tst)
    other = create_engine(tst.engine.url)
    with tst.transaction() as session:
        order = get_order(session, order_id, lock=True)
        summary = plan(session, order, None)
        assert "row triggers off" in summary.integrity
        l0 = session.scalar(
            select(product_query_satisfying_product.c.product_id)
            .join(Product, Product.id == product_query_satisfying_product.c.product_id)
            .where(Product.job_step_id.is_(None))
            .limit(1)
        )
        with other.connect() as connection:
            connection.execute(text("SET lock_timeout = '300ms'"))
            with pytest.raises(Exception, match="lock timeout"):
                connection.execute(text("DELETE FROM product WHERE id = :id"), {"id": l0})
    other.dispose()


def test_lock_referenced_names_missing_rows(database: Database) -> None:
    with database.transaction() as session:
        mission = Mission(code="TST", name="Test")
        classes = [ProductClass(mission=mission, product_type=t) for t in ("A", "B")]
        session.add_all(classes)
        session.flush()
        ids = [c.id for c in classes]
        assert lock_referenced(session, table_of(ProductClass), [*ids, *ids]) == []
        assert lock_referenced(session, table_of(ProductClass), [ids[0], 10**9, 10**9 + 1]) == [
            10**9,
            10**9 + 1,
        ]
        assert lock_referenced(session, table_of(ProductClass), []) == []


def test_row_writer_round_trips_nulls_times_flags_and_odd_text(database: Database) -> None:
    odd = 'a\tb\\c\nd\re \\N "q", f'  # fits the 32 characters of file_class
    moment = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    with database.transaction() as session:
        mission = Mission(code="TST", name="Test")
        pc = ProductClass(mission=mission, product_type="L0")
        session.add(pc)
        session.flush()
        writer = RowWriter(session)
        ids = allocate_ids(session, table_of(Product), 3)
        ours = new_uuids(3)
        berlin = moment.astimezone(ZoneInfo("Europe/Berlin"))
        columns = (
            "id",
            "uuid",
            "product_class_id",
            "sensing_start",
            "sensing_stop",
            "file_class",
            "mode",
            "product_quality",
            "created_at",
        )
        later = writer.time(moment + timedelta(hours=1))
        rows = [
            (
                ids[0],
                ours[0],
                pc.id,
                writer.time(moment),
                later,
                odd,
                writer.null,
                "NOMINAL",
                later,
            ),
            (
                ids[1],
                ours[1],
                pc.id,
                writer.time(berlin),
                later,
                "",
                writer.nullable("OPER"),
                "TEST",
                later,
            ),
            # A text that reads like COPY's NULL marker stays a text.
            (ids[2], ours[2], pc.id, later, later, "\\N", "\\", "NOMINAL", later),
        ]
        written = writer.write(table_of(Product), columns, rows)
        assert written == 3
        with pytest.raises(ValueError, match="no column"):
            writer.write(table_of(Product), ("nonsense",), [])
        with pytest.raises(ValueError, match="naive"):
            writer.time(datetime(2024, 1, 1))
    with database.transaction() as session:
        first, second, third = (session.get(Product, i) for i in ids)
        assert first is not None
        assert second is not None
        assert third is not None
        assert (third.file_class, third.mode) == ("\\N", "\\")
        assert (first.file_class, first.mode) == (odd, None)
        assert (second.file_class, second.mode) == ("", "OPER")
        assert first.sensing_start == moment == second.sensing_start
        assert first.sensing_stop == moment + timedelta(hours=1) == first.created_at
        assert first.uuid == uuid.UUID(ours[0])
        assert second.product_quality.value == "TEST"
    if database.engine.dialect.name == "postgresql":
        # None is not NULL for COPY: the writer says which column, and the rows are not kept.
        with (
            pytest.raises(ValueError, match=r"None for product\.mode"),
            database.transaction() as session,
        ):
            RowWriter(session).write(
                table_of(Product),
                ("id", "uuid", "product_class_id", "sensing_start", "sensing_stop", "mode"),
                [(ids[2] + 1, new_uuids(1)[0], pc.id, later, later, None)],
            )


def test_new_uuids_are_random_version_4() -> None:
    made = [uuid.UUID(u) for u in new_uuids(5000)]
    assert len(set(made)) == 5000
    assert {u.version for u in made} == {4}
    assert {u.variant for u in made} == {uuid.RFC_4122}
    assert new_uuids(0) == []


def test_deleted_reference_fails_the_plan_and_keeps_nothing(
    tst: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A referenced row gone between reading and locking fails the plan with a clear error."""
    import planner.writes as plan_module

    if tst.engine.dialect.name != "postgresql":
        pytest.skip("the set-based checks run where the row triggers are switched off")
    monkeypatch.setattr(
        plan_module, "lock_referenced", lambda session, table, ids: [42] if ids else []
    )
    order_id = approved_tst_order(tst)
    with pytest.raises(PlanningError, match="were deleted while planning; plan again"):
        run_plan(tst, order_id)
    with tst.transaction() as session:
        assert session.scalar(select(func.count()).select_from(JobStep)) == 0
        assert session.scalar(select(func.count()).select_from(ProductQuery)) == 0


def _product_rows(writer: RowWriter, class_id: int, ids: list[int]) -> list[tuple[object, ...]]:
    moment = writer.time(datetime(2024, 1, 1, tzinfo=UTC))
    return [
        (pid, u, class_id, moment, moment, "NOMINAL", moment)
        for pid, u in zip(ids, new_uuids(len(ids)), strict=True)
    ]


PRODUCT_COLUMNS = (
    "id",
    "uuid",
    "product_class_id",
    "sensing_start",
    "sensing_stop",
    "product_quality",
    "created_at",
)


def _test_class(database: Database) -> int:
    with database.transaction() as session:
        pc = ProductClass(mission=Mission(code="TST", name="Test"), product_type="L0")
        session.add(pc)
        session.flush()
        return pc.id


def _count_products(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Product)) or 0)


def _write_products(
    database: Database, count: int, rows: Callable[[RowWriter, list[int]], Iterable[Any]]
) -> None:
    """Write ``rows(writer, ids)`` in one transaction through a background writer."""
    with database.transaction() as session:
        ids = allocate_ids(session, table_of(Product), count)
        with RowWriter(session, background=True) as writer:
            writer.write(table_of(Product), PRODUCT_COLUMNS, rows(writer, ids))


def test_background_writer_keeps_the_order_of_writes_and_calls(database: Database) -> None:
    """Rows go in the order given; a call sees everything written before it."""
    class_id = _test_class(database)
    with database.transaction() as session:
        ids = allocate_ids(session, table_of(Product), 12_000)
        with RowWriter(session, background=True) as writer:
            first = _product_rows(writer, class_id, ids[:7_000])
            assert writer.write(table_of(Product), PRODUCT_COLUMNS, first) == 7_000
            seen = writer.call(lambda s: s.scalar(select(func.count()).select_from(Product)))
            second = _product_rows(writer, class_id, ids[7_000:])
            writer.write(table_of(Product), PRODUCT_COLUMNS, second)
        assert seen.result() == 7_000
    assert _count_products(database) == 12_000


def test_background_writer_reports_a_refused_row_and_keeps_nothing(database: Database) -> None:
    """A row the database refuses (a duplicate key in a late batch) fails the transaction
    with the database's error; nothing of it stays."""
    class_id = _test_class(database)

    def with_duplicate(writer: RowWriter, ids: list[int]) -> list[tuple[object, ...]]:
        rows = _product_rows(writer, class_id, ids)
        return [*rows, rows[0]]

    with pytest.raises(Exception, match=r"(?i)duplicate key|unique constraint"):
        _write_products(database, 9_000, with_duplicate)
    assert _count_products(database) == 0


def test_background_writer_abandons_unsent_rows_when_the_caller_fails(database: Database) -> None:
    """An error while making rows reaches the caller as it is, the writing thread stops
    (no hang) and the rows sent so far are rolled back with the transaction."""
    class_id = _test_class(database)

    def rows_then_failure(writer: RowWriter, ids: list[int]) -> Iterator[tuple[object, ...]]:
        yield from _product_rows(writer, class_id, ids)
        raise RuntimeError("the planner gave up")

    with pytest.raises(RuntimeError, match="the planner gave up"):
        _write_products(database, 5_000, rows_then_failure)
    assert not [t for t in threading.enumerate() if t.name.startswith("row-writer")]
    assert _count_products(database) == 0


def test_snapshot_reader_sees_what_the_session_saw(database: Database) -> None:
    """On PostgreSQL the second connection reads the data committed when it was made, not
    what another transaction commits later, and draws ids no one else gets. On SQLite (one
    connection, one writer) the work runs at once on the session itself."""
    if database.engine.dialect.name == "sqlite":
        with database.transaction() as session, SnapshotReader(session) as reader:
            assert reader.submit(lambda c: c is session).result()
        return
    class_id = _test_class(database)
    with database.transaction() as session:
        mine = allocate_ids(session, table_of(Product), 2)
        with SnapshotReader(session) as reader:
            with database.transaction() as other:
                writer = RowWriter(other)
                later = allocate_ids(other, table_of(Product), 1)
                rows = _product_rows(writer, class_id, later)
                writer.write(table_of(Product), PRODUCT_COLUMNS, rows)
            seen = reader.submit(lambda c: c.scalar(select(func.count()).select_from(Product)))
            drawn = reader.submit(lambda c: allocate_ids(c, table_of(Product), 3))
        assert seen.result() == 0
        assert len(set(drawn.result()) | set(mine) | set(later)) == 6
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 1


def test_plan_without_a_second_connection_reads_on_the_planning_one(
    tst: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When no second connection can be had (PostgreSQL's max_connections reached), the
    plan reads ids and candidates on its own connection first and makes the same rows."""
    opened: list[bool] = []

    def refuse(engine: object, snapshot: str) -> None:
        opened.append(True)
        raise OperationalError("connect", {}, Exception("sorry, too many clients already"))

    monkeypatch.setattr(SnapshotReader, "_open", staticmethod(refuse))
    summary = _plan_with_output_parameters(tst)
    assert summary.job_steps == 4
    assert set(_dangling_references(tst).values()) == {0}
    with tst.transaction() as session:
        satisfied = session.scalar(
            select(func.count()).select_from(ProductQuery).where(ProductQuery.is_satisfied)
        )
    assert satisfied  # the inputs were found through the planning connection
    if tst.engine.dialect.name == "postgresql":
        assert opened
        assert "no second connection" in caplog.text
    else:
        assert not opened  # SQLite reads on its one connection anyway
