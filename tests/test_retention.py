"""Product deletion and retention on the TST mission, SQLite and PostgreSQL, with the files in
real storage: nothing an unfinished job step needs is deleted or evicted; eviction leaves a
tombstone or removes the row as the product class says; superseded products go sooner; an
order's product retention reaches its outputs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from orderman.service import run_command, run_plan
from productionplanner.dispatcher import Dispatcher
from proseo.catalogue.facilities import storage_of_facility
from proseo.catalogue.retention import delete_products, evict
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import ConflictError
from proseo.model import Product, ProductClass, ProductFile
from proseo.model.base import utc_now
from tests.conftest import TST_ORBIT, TST_T0, approved_tst_order


def _l0(database: Database, orbit: int) -> list[int]:
    start = TST_T0 + (orbit - 1) * TST_ORBIT
    with database.transaction() as session:
        return list(
            session.scalars(
                select(Product.id)
                .join(ProductClass)
                .where(
                    ProductClass.product_type == "L0________",
                    Product.sensing_start >= start,
                    Product.sensing_start < start + TST_ORBIT,
                )
                .order_by(Product.id)
            )
        )


def _keys(database: Database, product_ids: list[int]) -> list[str]:
    with database.transaction() as session:
        return [
            f"{folder}/{name}"
            for folder, name in session.execute(
                select(ProductFile.file_path, ProductFile.product_file_name).where(
                    ProductFile.product_id.in_(product_ids)
                )
            )
        ]


def _released(database: Database) -> int:
    order_id = approved_tst_order(database)  # L2 of orbits 1-2
    run_plan(database, order_id)
    run_command(database, order_id, "release")
    return order_id


def test_deletion_is_refused_while_a_job_step_needs_the_product(
    tst: Database, tst_settings: Settings
) -> None:
    _released(tst)
    needed = _l0(tst, 1)[0]
    storage = storage_of_facility(tst, tst_settings)
    (key,) = _keys(tst, [needed])
    with pytest.raises(ConflictError, match=rf"product {needed} is needed by unfinished job step"):
        delete_products(tst, tst_settings, [needed])
    assert storage.exists(key)
    # orbit 6 is nobody's input: its granules go, rows and stored files
    spare = _l0(tst, 6)
    keys = _keys(tst, spare)
    done = delete_products(tst, tst_settings, spare[:2])
    assert (done.deleted, done.files, done.failures) == (spare[:2], 2, [])
    assert [storage.exists(k) for k in keys] == [False, False, True, True, True]
    done = delete_products(tst, tst_settings, spare[2:3], files_only=True)
    with tst.transaction() as session:
        kept = session.get_one(Product, spare[2])
        assert kept.product_files == []
        assert session.get(Product, spare[0]) is None
    assert not storage.exists(keys[2])


def test_eviction_keeps_what_is_needed_and_follows_the_class(
    tst: Database, tst_settings: Settings
) -> None:
    _released(tst)
    storage = storage_of_facility(tst, tst_settings)
    with tst.transaction() as session:
        session.execute(
            update(ProductClass)
            .where(ProductClass.product_type == "L0________")
            .values(retention_s=3600)
        )
        session.execute(update(Product).values(created_at=utc_now() - timedelta(hours=2)))
    preview = evict(tst, tst_settings, dry_run=True)
    needed = set(_l0(tst, 1) + _l0(tst, 2))
    assert set(preview.kept) == needed  # the released order's L1B steps need orbits 1-2
    assert len(preview.evicted) == 29 - len(needed)  # 5 + 5 + 4 + 5 + 5 + 5 granules
    assert set(_keys(tst, preview.evicted))  # a dry run deletes nothing
    keys = _keys(tst, preview.evicted)
    done = evict(tst, tst_settings)
    assert sorted(done.evicted) == sorted(preview.evicted)
    assert not any(storage.exists(k) for k in keys)
    with tst.transaction() as session:
        tombstone = session.get_one(Product, done.evicted[0])
        assert tombstone.product_files == []
        assert tombstone.eviction_time is not None
    assert evict(tst, tst_settings).evicted == []  # tombstones have no files left
    # REMOVE: the rows go too; superseded products go after their own, shorter period
    with tst.transaction() as session:
        session.execute(
            update(ProductClass)
            .where(ProductClass.product_type == "AUX_ORB___")
            .values(superseded_retention_s=60, eviction_mode="REMOVE")
        )
        session.execute(
            update(Product)
            .where(Product.product_class_id.in_(
                select(ProductClass.id).where(ProductClass.product_type == "AUX_ORB___")
            ))
            .values(superseded_at=utc_now() - timedelta(minutes=5), superseded_reason="test")
        )  # fmt: skip
    done = evict(tst, tst_settings)
    assert done.deleted == []  # the AUX is still needed by the L1B job steps
    assert len(done.kept) == len(needed) + 1


def test_an_orders_retention_reaches_its_outputs(tst: Database, tst_settings: Settings) -> None:
    order_id = approved_tst_order(tst, product_retention_s=600)
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    Dispatcher(tst, tst_settings).run(interval_s=0.05, until_idle=True, timeout_s=120)
    with tst.transaction() as session:
        made = session.scalars(
            select(Product).where(Product.job_step_id.is_not(None), Product.product_files.any())
        ).all()
        assert len(made) >= 4
        main = [p for p in made if p.enclosing_product_id is None]
        assert all(p.eviction_time is not None for p in main)
        made_ids = {p.id for p in main}
    assert evict(tst, tst_settings).evicted == []
    later = evict(tst, tst_settings, now=utc_now() + timedelta(minutes=11))
    assert made_ids <= set(later.evicted)


def test_the_server_evicts_in_the_background(tst: Database, tst_settings: Settings) -> None:
    import time

    from proseo.catalogue.retention import start_eviction

    with tst.transaction() as session:
        session.execute(
            update(ProductClass)
            .where(ProductClass.product_type == "L0________")
            .values(retention_s=60)
        )
        session.execute(update(Product).values(created_at=utc_now() - timedelta(hours=1)))
    worker = start_eviction(tst, tst_settings, 0.2)
    try:
        deadline = time.monotonic() + 30
        while _keys(tst, _l0(tst, 6)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.shutdown()
    assert _keys(tst, _l0(tst, 1) + _l0(tst, 6)) == []  # no order needs any of them
