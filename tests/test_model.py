"""The metadata database on both backends: UTC times, validation, conflicts, atomicity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from proseo.catalogue.missions import create_mission, get_mission, list_missions
from proseo.db import Database
from proseo.errors import ConflictError, InvalidInputError, NotFoundError
from proseo.model import (
    Job,
    JobStep,
    Mission,
    Orbit,
    ProcessingFacility,
    ProcessingOrder,
    Product,
    ProductClass,
    ProductFile,
    ProductQuery,
    Spacecraft,
)

T0 = datetime(2019, 5, 9, 23, 48, 37, 123456, tzinfo=UTC)


def test_times_keep_microseconds_and_come_back_as_utc(database: Database) -> None:
    cest = timezone(timedelta(hours=2))
    with database.transaction() as session:
        mission = create_mission(session, "S5P", "Sentinel-5P")
        spacecraft = Spacecraft(mission=mission, code="S5P", name="Sentinel-5P")
        orbit = Orbit(
            spacecraft=spacecraft,
            orbit_number=8138,
            start_time=T0,
            stop_time=T0.astimezone(cest) + timedelta(seconds=6089, microseconds=900001),
        )
        session.add(orbit)
    with database.transaction() as session:
        stored = session.scalars(select(Orbit)).one()
        assert stored.start_time == T0
        assert stored.start_time.tzinfo is UTC
        assert stored.stop_time == T0 + timedelta(seconds=6089, microseconds=900001)
        assert stored.stop_time.microsecond == 23457
        # Range queries compare as times on both backends.
        hit = session.scalar(
            select(Orbit.orbit_number).where(Orbit.start_time <= T0 + timedelta(microseconds=1))
        )
        miss = session.scalar(select(Orbit.orbit_number).where(Orbit.start_time < T0))
        assert (hit, miss) == (8138, None)


def test_naive_datetime_is_refused_naming_the_field(database: Database) -> None:
    with pytest.raises(InvalidInputError) as info:
        Orbit(orbit_number=1, start_time=datetime(2020, 1, 1), stop_time=T0)
    assert info.value.field == "Orbit.start_time"
    assert "2020, 1, 1" in str(info.value)
    assert "naive" in str(info.value)
    order = ProcessingOrder(identifier="X")
    with pytest.raises(InvalidInputError, match=r"ProcessingOrder\.stop_time"):
        order.stop_time = datetime(2020, 1, 1, 12)
    with pytest.raises(InvalidInputError, match=r"Product\.sensing_start.*'2020-01-01'"):
        Product(sensing_start="2020-01-01")


def test_duplicate_mission_code_is_a_conflict_naming_the_code(database: Database) -> None:
    with database.transaction() as session:
        create_mission(session, "S5P", "Sentinel-5P")
    with (
        pytest.raises(ConflictError, match="mission code 'S5P' already exists"),
        database.transaction() as session,
    ):
        create_mission(session, "S5P", "again")
    with database.transaction() as session:
        assert [m.name for m in list_missions(session)] == ["Sentinel-5P"]


@pytest.mark.parametrize(
    ("code", "name", "field"),
    [("s5p", "x", "mission code"), ("", "x", "mission code"), ("S5P", " ", "mission name")],
)
def test_bad_mission_input_names_field_and_value(
    database: Database, code: str, name: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as info, database.transaction() as session:
        create_mission(session, code, name)
    assert info.value.field == field
    assert repr(code if field == "mission code" else name) in str(info.value)


def test_unknown_mission_is_not_found(database: Database) -> None:
    with (
        database.transaction() as session,
        pytest.raises(NotFoundError, match="no mission with code 'NOPE'"),
    ):
        get_mission(session, "NOPE")


def test_integrity_violation_becomes_conflict_and_rolls_everything_back(
    database: Database,
) -> None:
    with database.transaction() as session:
        mission = create_mission(session, "TST", "Test")
        session.add(Spacecraft(mission=mission, code="TST1", name="one"))

    def add_other_mission_and_duplicate_spacecraft() -> None:
        with database.transaction() as session:
            mission = get_mission(session, "TST")
            create_mission(session, "OTHER", "must vanish with the failed transaction")
            session.add(Spacecraft(mission=mission, code="TST1", name="duplicate"))

    with pytest.raises(ConflictError, match="conflicts with stored data"):
        add_other_mission_and_duplicate_spacecraft()
    with database.transaction() as session:
        assert session.scalars(select(Mission.code)).all() == ["TST"]
        assert len(session.scalars(select(Spacecraft)).all()) == 1


def test_foreign_keys_are_enforced(database: Database) -> None:
    def add_orphan() -> None:
        with database.transaction() as session:
            session.add(Spacecraft(mission_id=4242, code="GHOST", name="no mission"))

    with pytest.raises(ConflictError, match=r"(?i)foreign key"):
        add_orphan()


def test_unknown_enum_value_is_refused(database: Database) -> None:
    with database.transaction() as session:
        mission = create_mission(session, "TST", "Test")
        session.add(ProductClass(mission=mission, product_type="L1B", processing_level="L9"))
        with pytest.raises(Exception, match="L9"):
            session.flush()
        session.rollback()


def test_full_chain_of_entities_round_trips(database: Database) -> None:
    """Order -> job -> job step -> output product with a file and a satisfied product query."""
    with database.transaction() as session:
        mission = create_mission(session, "TST", "Test", processing_modes=["OPER"])
        l0 = ProductClass(mission=mission, product_type="L0", processing_level="L0")
        l1 = ProductClass(mission=mission, product_type="L1B", processing_level="L1B")
        facility = ProcessingFacility(name="localhost")
        order = ProcessingOrder(
            mission=mission,
            identifier="ORD-1",
            start_time=T0,
            stop_time=T0 + timedelta(hours=1),
            requested_product_classes=[l1],
            processing_facility=facility,
        )
        job = Job(processing_order=order, start_time=order.start_time, stop_time=order.stop_time)
        step = JobStep(job=job, priority=order.priority)
        source = Product(product_class=l0, sensing_start=T0, sensing_stop=T0 + timedelta(hours=1))
        output = Product(
            product_class=l1, sensing_start=T0, sensing_stop=T0 + timedelta(hours=1), job_step=step
        )
        source.product_files.append(
            ProductFile(
                processing_facility=facility,
                product_file_name="L0.bin",
                file_path="TST/L0/1",
                file_size_bytes=5_000_000_000,
                checksum="d41d8cd98f00b204e9800998ecf8427e",
            )
        )
        query = ProductQuery(
            job_step=step,
            requested_product_class=l0,
            is_satisfied=True,
            satisfying_products=[source],
        )
        session.add_all([order, source, output, query])
    with database.transaction() as session:
        step = session.scalars(select(JobStep)).one()
        assert step.run_key == f"proseo-{step.id}-0"
        assert [p.product_class.product_type for p in step.output_products] == ["L1B"]
        (query,) = step.product_queries
        assert [p.product_files[0].file_size_bytes for p in query.satisfying_products] == [
            5_000_000_000
        ]
        assert step.job.processing_order.requested_product_classes[0].product_type == "L1B"


def test_sqlite_connection_settings(tmp_path: object) -> None:
    from proseo.db import create_database_engine

    engine = create_database_engine(f"sqlite:///{tmp_path}/x.sqlite", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1234
    engine.dispose()


def test_epoch_us_is_exact_on_both_databases(database: Database) -> None:
    from proseo.db.functions import epoch_us

    moments = [
        datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC),
        datetime(2019, 5, 9, 23, 48, 37, 1, tzinfo=UTC),
    ]
    with database.transaction() as session:
        mission = create_mission(session, "TST", "Test")
        spacecraft = Spacecraft(mission=mission, code="TST1", name="one")
        for number, moment in enumerate(moments):
            session.add(
                Orbit(
                    spacecraft=spacecraft, orbit_number=number, start_time=moment, stop_time=moment
                )
            )
        session.flush()
        values = (
            session.execute(select(epoch_us(Orbit.start_time)).order_by(Orbit.orbit_number))
            .scalars()
            .all()
        )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert values == [(m - epoch) // timedelta(microseconds=1) for m in moments]


def test_bulk_insert_round_trips_awkward_values(database: Database) -> None:
    """COPY on PostgreSQL, executemany on SQLite: escapes, NULLs, JSON, defaults survive."""
    from proseo.db.bulk import allocate_ids, bulk_insert, table_of

    awkward = "tab\there\\back\nnew\rline \\N"
    with database.transaction() as session:
        mission = create_mission(session, "TST", "Test")
        pc = ProductClass(mission=mission, product_type="L0")
        session.add(pc)
        session.flush()
        ids = allocate_ids(session, table_of(Product), 2)
        bulk_insert(
            session,
            table_of(Product),
            [
                {
                    "id": ids[0],
                    "product_class_id": pc.id,
                    "sensing_start": T0,
                    "sensing_stop": T0,
                    "file_class": awkward,
                    "mode": None,
                },
                {
                    "id": ids[1],
                    "product_class_id": pc.id,
                    "sensing_start": T0,
                    "sensing_stop": T0,
                    "file_class": "",
                    "mode": "OPER",
                },
            ],
        )
        facility = ProcessingFacility(name="f")
        session.add(facility)
        session.flush()
        bulk_insert(
            session,
            table_of(ProductFile),
            [
                {
                    "product_id": ids[0],
                    "processing_facility_id": facility.id,
                    "product_file_name": "a",
                    "file_path": "p",
                    "file_size_bytes": 2**40,
                    "auxiliary_file_names": ["b", 'c"\\'],
                    "storage_type": "POSIX",
                }
            ],
        )
    with database.transaction() as session:
        first, second = (session.get(Product, i) for i in ids)
        assert first is not None
        assert second is not None
        assert (first.file_class, first.mode) == (awkward, None)
        assert (second.file_class, second.mode) == ("", "OPER")
        assert first.uuid != second.uuid  # Python-side default applied per row
        assert first.created_at.tzinfo is not None
        (stored,) = first.product_files
        assert stored.auxiliary_file_names == ["b", 'c"\\']
        assert stored.file_size_bytes == 2**40
