"""Targeted reprocessing on the TST mission, SQLite and PostgreSQL, with real runs of the TST
processor: after a corrected AUX_ORB___ and after a new configured processor, exactly the
products that depend on what was replaced are made again, from the new input or with the new
processor; the old ones are superseded and no longer used."""

from __future__ import annotations

from datetime import timedelta
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
