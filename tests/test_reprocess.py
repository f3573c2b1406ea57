"""Targeted reprocessing on the TST mission, SQLite and PostgreSQL, with real runs of the TST
processor: after a corrected AUX_ORB___ and after a new configured processor, exactly the
products that depend on what was replaced are made again, from the new input or with the new
processor; the old ones are superseded and no longer used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orderman.campaigns import campaign_view, get_campaign, run_campaign_command
from orderman.reprocess import affected_by_input, affected_by_processor, targeted_campaign
from orderman.runner import production_round
from orderman.service import run_command, run_plan
from productionplanner.dispatcher import Dispatcher
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import InvalidInputError
from proseo.model import ConfiguredProcessor, Product, ProductClass, ProductQuery
from proseo.model.order import product_query_satisfying_product
from tests.conftest import TST_T0, add_product_with_file, approved_tst_order, store_catalogued_files


def _produce(database: Database, settings: Settings, **order: Any) -> None:
    order_id = approved_tst_order(database, **order)
    run_plan(database, order_id)
    run_command(database, order_id, "release")
    Dispatcher(database, settings).run(interval_s=0.05, until_idle=True, timeout_s=120)


def _products(database: Database, product_type: str) -> list[Product]:
    with database.transaction() as session:
        rows = list(
            session.scalars(
                select(Product)
                .join(ProductClass)
                .where(
                    ProductClass.product_type == product_type,
                    Product.product_files.any(),
                    Product.enclosing_product_id.is_(None),
                )
                .order_by(Product.id)
            )
        )
        session.expunge_all()
        return rows


def _run_campaign(database: Database, settings: Settings, name: str) -> dict[str, Any]:
    run_campaign_command(database, "TST", name, "start", "tester")
    dispatcher = Dispatcher(database, settings)
    for _ in range(20):
        production_round(database)
        with database.transaction() as session:
            view = campaign_view(session, get_campaign(session, "TST", name))
        if view["state"] == "COMPLETED":
            return view
        dispatcher.run(interval_s=0.05, until_idle=True, timeout_s=60)
    raise AssertionError(f"campaign {name} did not complete: {view}")


def test_after_a_corrected_aux_exactly_its_lineage_is_made_again(
    tst: Database, tst_settings: Settings
) -> None:
    _produce(tst, tst_settings)  # L1B and L2 of orbits 1-2, from the one AUX_ORB___
    old_l1b, old_l2 = _products(tst, "L1B_______"), _products(tst, "L2________")
    (old_aux,) = _products(tst, "AUX_ORB___")
    with tst.transaction() as session:  # the corrected orbit file: same validity, newer
        aux = add_product_with_file(
            session, "AUX_ORB___", old_aux.sensing_start, old_aux.sensing_stop
        )
        aux.generation_time = TST_T0 + timedelta(days=3)
        aux.product_files[0].product_file_name = "AUX_ORB____corrected"
        session.flush()
        new_aux = aux.id
        affected = affected_by_input(session, new_aux)
    store_catalogued_files(tst, tst_settings)
    assert affected.replaced == [old_aux.id]
    assert affected.by_class() == {"L1B_______": 2, "L2________": 2}
    assert affected.windows() == 2
    with tst.transaction() as session:
        targeted_campaign(session, "TST", "AUX-FIX", affected, "tester")
    view = _run_campaign(tst, tst_settings, "AUX-FIX")
    assert (view["batches"], view["job_steps_produced"]) == (2, 4)
    new_l1b = [p for p in _products(tst, "L1B_______") if p.superseded_at is None]
    new_l2 = [p for p in _products(tst, "L2________") if p.superseded_at is None]
    assert len(new_l1b) == len(new_l2) == 2
    assert {p.id for p in new_l1b}.isdisjoint({p.id for p in old_l1b})
    with tst.transaction() as session:
        for old in [*old_l1b, *old_l2]:
            assert session.get_one(Product, old.id).superseded_at is not None
        used = set(
            session.scalars(
                select(product_query_satisfying_product.c.product_id)
                .join(ProductQuery)
                .where(ProductQuery.job_step_id.in_([p.job_step_id for p in new_l1b]))
            )
        )
        assert new_aux in used
        assert old_aux.id not in used
        with pytest.raises(InvalidInputError, match="replaces no product"):
            affected_by_input(session, new_aux)  # the old one is superseded by now


def test_after_a_new_processor_its_products_and_their_lineage_are_made_again(
    tst: Database, tst_settings: Settings
) -> None:
    _produce(tst, tst_settings, configured_processors=["TSTL2_1.9.0_1"])
    with tst.transaction() as session:
        affected = affected_by_processor(session, "TSTL2_1.10.0_1")
        assert affected.by_class() == {"L2________": 2}
        assert {p.configured_processor for p in affected.products} == {"TSTL2_1.9.0_1"}
        targeted_campaign(session, "TST", "L2-1.10", affected, "tester", processor="TSTL2_1.10.0_1")
    _run_campaign(tst, tst_settings, "L2-1.10")
    with tst.transaction() as session:
        current = session.scalars(
            select(ConfiguredProcessor.identifier)
            .join(Product, Product.configured_processor_id == ConfiguredProcessor.id)
            .join(ProductClass)
            .where(
                ProductClass.product_type == "L2________",
                Product.superseded_at.is_(None),
                Product.product_files.any(),
            )
        ).all()
    assert sorted(current) == ["TSTL2_1.10.0_1", "TSTL2_1.10.0_1"]
    assert len(_products(tst, "L1B_______")) == 2  # the inputs were not made again


def test_reprocess_command(
    tst: Database, tst_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from proseo.cli.app import run

    _produce(tst, tst_settings, configured_processors=["TSTL2_1.9.0_1"])
    url = ("--local", "--database-url", tst.engine.url.render_as_string(hide_password=False))
    base = [*url, "reprocess", "-m", "TST", "--after-processor", "TSTL2_1.10.0_1"]
    assert run([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 products to make again over 2 sensing windows:\n  L2________: 2" in out
    assert run([*base, "--campaign", "L2-NEW"]) == 0
    assert "campaign L2-NEW created: 2 batches (state CREATED)" in capsys.readouterr().out
    assert run([*url, "reprocess", "-m", "TST"]) == 3  # neither option
    assert "give exactly one of the two" in capsys.readouterr().err
    with tst.transaction() as session:
        assert campaign_view(session, get_campaign(session, "TST", "L2-NEW"))["batches"] == 2


def test_reprocess_over_rest(tst: Database, tst_settings: Settings) -> None:
    from proseo.api.app import create_app
    from tests.conftest import add_user, api_client

    _produce(tst, tst_settings, configured_processors=["TSTL2_1.9.0_1"])
    client = api_client(
        create_app(tst_settings, database=tst),
        add_user(tst, "planner", ["ORDER_MGR", "ORDER_READER"]),
    )
    body = {"mission": "TST", "after_processor": "TSTL2_1.10.0_1"}
    dry = client.post("/reprocess?dry_run=true", json=body)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["by_class"], dry.json()["campaign"]) == ({"L2________": 2}, None)
    both = client.post("/reprocess", json={**body, "after_aux": 1})
    assert both.status_code == 422
    assert "exactly one" in both.json()["message"]
    made = client.post("/reprocess", json={**body, "campaign": "L2-NEW"})
    assert (made.status_code, made.json()["batches"]) == (200, 2)
    assert client.get("/campaigns/TST/L2-NEW").json()["state"] == "CREATED"


def test_s5p_after_a_corrected_aux_met_only_that_days_lineage_is_made_again(
    database: Database, tmp_path: Path
) -> None:
    """S5P: an L2 order over one orbit on 2019-05-10 (8139) and one on 2019-05-12 (8167),
    run with the mission's light processor, each L1B from the AUX_MET_2D of its own day (the
    rule's LatestValIntersect(1d, 1d) reaches one day either side, so the two orbits' AUX do
    not overlap). A corrected AUX_MET_2D for 2019-05-10 affects orbit 8139 only: its L1B and,
    through the L1B's radiance and irradiance components, all six L2 (AER_AI too, which reads
    no AUX itself). The targeted campaign makes those seven again and nothing of 8167."""
    from missions.s5p import L2_PRODUCTS, build_definition
    from orderman.orders import create_order, parse_order_spec
    from proseo.catalogue.sync import sync_mission
    from proseo.model import Orbit
    from tests.conftest import settings_for

    day = datetime(2019, 5, 10, tzinfo=UTC)
    with database.transaction() as session:
        sync_mission(session, build_definition(), orbit_range=(8139, 8167))
        for number in (8139, 8167):
            orbit = session.scalars(select(Orbit).where(Orbit.orbit_number == number)).one()
            granule = (orbit.stop_time - orbit.start_time) / 5
            for k in range(5):
                start = orbit.start_time + k * granule
                add_product_with_file(session, "L0__ODB_1_", start, start + granule)
        auxes = {}
        for d in (0, 2):
            aux = add_product_with_file(
                session, "AUX_MET_2D", day + timedelta(days=d), day + timedelta(days=d + 1)
            )
            aux.product_files[0].product_file_name = f"AUX_MET_2D_{d}"
            session.flush()
            auxes[d] = aux.id
        order = create_order(
            session,
            parse_order_spec(
                {
                    "mission": "S5P",
                    "identifier": "S5P-L2",
                    "requested_product_classes": sorted(L2_PRODUCTS),
                    "orbits": [
                        {"spacecraft": "S5P", "from": 8139, "to": 8139},
                        {"spacecraft": "S5P", "from": 8167, "to": 8167},
                    ],
                    "slicing_type": "ORBIT",
                    "processing_mode": "OFFL",
                }
            ),
        )
        order_id = order.id
    settings = settings_for(tmp_path, database)
    store_catalogued_files(database, settings)
    run_command(database, order_id, "approve")
    run_plan(database, order_id)
    run_command(database, order_id, "release")
    Dispatcher(database, settings).run(interval_s=0.05, until_idle=True, timeout_s=180)
    old_l1b = _products(database, "L1B_______")
    assert len(old_l1b) == 2
    with database.transaction() as session:  # which AUX_MET_2D each L1B was made from
        used: dict[datetime, int] = dict(
            session.execute(
                select(Product.sensing_start, product_query_satisfying_product.c.product_id)
                .join(ProductQuery, ProductQuery.job_step_id == Product.job_step_id)
                .join(
                    product_query_satisfying_product,
                    product_query_satisfying_product.c.product_query_id == ProductQuery.id,
                )
                .where(
                    Product.id.in_([p.id for p in old_l1b]),
                    product_query_satisfying_product.c.product_id.in_(list(auxes.values())),
                )
            ).all()
        )
    first, second = sorted(old_l1b, key=lambda p: p.sensing_start)
    assert used == {first.sensing_start: auxes[0], second.sensing_start: auxes[2]}
    with database.transaction() as session:  # the corrected AUX_MET_2D of 2019-05-10
        aux = add_product_with_file(session, "AUX_MET_2D", day, day + timedelta(days=1))
        aux.generation_time = TST_T0 + timedelta(days=30)  # the others: TST_T0
        aux.product_files[0].product_file_name = "AUX_MET_2D_0_corrected"
        session.flush()
        affected = affected_by_input(session, aux.id)
        assert affected.replaced == [auxes[0]]
        assert affected.by_class() == {"L1B_______": 1, **{t: 1 for t in L2_PRODUCTS}}
        assert affected.windows() == 1
        assert {p.sensing_start for p in affected.products} == {first.sensing_start}
        targeted_campaign(session, "S5P", "MET-FIX", affected, "tester")
    store_catalogued_files(database, settings)
    run_campaign_command(database, "S5P", "MET-FIX", "start", "tester")
    dispatcher = Dispatcher(database, settings)
    for _ in range(20):
        production_round(database)
        with database.transaction() as session:
            view = campaign_view(session, get_campaign(session, "S5P", "MET-FIX"))
        if view["state"] == "COMPLETED":
            break
        dispatcher.run(interval_s=0.05, until_idle=True, timeout_s=120)
    assert view["state"] == "COMPLETED", view
    assert view["job_steps_produced"] == 7
    with database.transaction() as session:
        current = session.execute(
            select(ProductClass.product_type, Product.sensing_start)
            .join(ProductClass)
            .where(
                Product.superseded_at.is_(None),
                Product.enclosing_product_id.is_(None),
                Product.product_files.any(),
                ProductClass.product_type.in_(["L1B_______", *L2_PRODUCTS]),
            )
        ).all()
        superseded = session.scalars(
            select(Product.sensing_start).where(
                Product.superseded_at.is_not(None), Product.enclosing_product_id.is_(None)
            )
        ).all()
    assert len(current) == 14  # each class once per orbit: 7 new for 8139, 7 old for 8167
    assert {start for _, start in current} == {first.sensing_start, second.sensing_start}
    assert set(superseded) == {first.sensing_start, day}  # 8139's old products, the old AUX
    assert [
        p.id for p in _products(database, "L1B_______") if p.sensing_start == second.sensing_start
    ] == [second.id]
