"""Product equivalence (:mod:`planner.equivalence`) on the TST mission, SQLite and PostgreSQL:
a product is produced once whatever orders ask for it, and a reprocessing order (another
processor, file class, mode or revision) is not fooled by older versions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from orderman.orders import get_order
from orderman.service import run_command, run_plan
from proseo.catalogue.facilities import default_facility
from proseo.db import Database
from proseo.enums import OrderState
from proseo.model import Job, JobStep, Product, ProductFile
from tests.conftest import approved_tst_order


def _produce_all(database: Database) -> None:
    """Give every planned output a file at the facility, as if it had been produced."""
    with database.transaction() as session:
        facility = default_facility(session)
        for product in session.scalars(
            select(Product).where(Product.job_step_id.is_not(None), ~Product.product_files.any())
        ):
            product.product_files.append(
                ProductFile(
                    processing_facility=facility,
                    product_file_name=f"p{product.id}",
                    file_path="TST",
                    file_size_bytes=1,
                )
            )


def _l2_steps(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count(JobStep.id))) or 0


def test_a_request_planned_while_the_first_order_runs_is_not_produced_twice(
    tst: Database,
) -> None:
    first = approved_tst_order(tst, identifier="FIRST")
    run_plan(tst, first)
    run_command(tst, first, "release")
    steps = _l2_steps(tst)
    second = approved_tst_order(tst, identifier="SECOND")
    summary = run_plan(tst, second)
    assert summary.job_steps == 0
    assert summary.in_production == 2
    assert summary.skipped_existing == 0
    assert summary.producers == {"FIRST"}
    assert _l2_steps(tst) == steps
    with tst.transaction() as session:
        order = get_order(session, second)
        assert order.state is OrderState.COMPLETED
        assert "being produced by FIRST" in (order.state_message or "")


def test_a_failed_producer_does_not_count(tst: Database) -> None:
    first = approved_tst_order(tst, identifier="FIRST")
    run_plan(tst, first)
    run_command(tst, first, "cancel")  # its job steps are FAILED
    second = approved_tst_order(tst, identifier="SECOND")
    summary = run_plan(tst, second)
    assert summary.in_production == 0
    assert summary.steps_per_class == {"L1B_______": 2, "L2________": 2}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, 0),
        ({"file_class": "TEST"}, 2),
        ({"output_parameters": {"revision": 2}}, 2),
        ({"configured_processors": ["TSTL2_1.9.0_1"]}, 2),
        ({"configured_processors": ["TSTL2_1.10.0_1"]}, 0),  # the one chosen before
        ({"processing_mode": "TEST", "configured_processors": ["TSTL2_1.10.0_2"]}, 2),
    ],
    ids=["same", "file-class", "revision", "older-processor", "same-processor", "mode"],
)
def test_reprocessing_produces_what_differs_and_reuses_what_is_equivalent(
    tst: Database, change: dict[str, Any], expected: int
) -> None:
    first = approved_tst_order(tst, identifier="FIRST")
    run_plan(tst, first)
    _produce_all(tst)
    again = approved_tst_order(tst, identifier="RPRO-1", **change)
    summary = run_plan(tst, again)
    assert summary.steps_per_class.get("L2________", 0) == expected
    assert summary.skipped_existing == 2 - expected
    assert "L1B_______" not in summary.steps_per_class  # the L1B inputs exist
    if expected:
        with tst.transaction() as session:
            made = session.scalars(
                select(Product)
                .join(JobStep, Product.job_step_id == JobStep.id)
                .join(Job, JobStep.job_id == Job.id)
                .where(Job.processing_order_id == again, Product.enclosing_product_id.is_(None))
            ).all()
            order = get_order(session, again)
            assert {p.file_class for p in made} == {order.file_class}
            assert {p.mode for p in made} == {order.processing_mode}
