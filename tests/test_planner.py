"""Orders and the backward planner on the TST mission, on SQLite and PostgreSQL.

Catalogue: TST synced with orbits 1..100 (100 min each from 2024-01-01T00:00Z); five L0
granules per orbit for orbits 1..6 (orbit 3 has only four: 80 % coverage, below the
L1B MINCOVER(90)); one AUX_ORB___ valid 2023-12-31T23:00Z .. 2024-01-02T00:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderman.commands import CommandNotAllowed
from orderman.orders import create_order, get_order, parse_order_spec
from orderman.registry import ORDER_COMMANDS
from orderman.service import run_command, run_plan
from orderman.views import job_step_view, order_view
from proseo.catalogue.facilities import default_facility
from proseo.db import Database
from proseo.enums import JobStepState, OrderState
from proseo.errors import ConflictError, InvalidInputError, PlanningError
from proseo.model import (
    ConfiguredProcessor,
    Job,
    JobStep,
    ProcessingOrder,
    Product,
    ProductClass,
    ProductFile,
    ProductQuery,
)
from tests.conftest import approved_tst_order

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ORBIT = timedelta(minutes=100)


def _order(database: Database, **overrides: Any) -> int:
    return approved_tst_order(database, **overrides)


def _steps(session: Session, order_id: int) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(ProductClass.product_type, JobStep.state, Job.id)
        .join(Job, JobStep.job_id == Job.id)
        .join(Product, (Product.job_step_id == JobStep.id) & Product.enclosing_product_id.is_(None))
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .where(Job.processing_order_id == order_id)
        .order_by(Job.start_time, ProductClass.product_type)
    )
    return [(t, s.value, j) for t, s, j in rows]


def test_backward_chain_with_components_and_versions(tst: Database) -> None:
    order_id = _order(tst)
    summary = run_plan(tst, order_id)
    assert summary.jobs == 2
    assert summary.steps_per_class == {"L1B_______": 2, "L2________": 2}
    with tst.transaction() as session:
        order = get_order(session, order_id)
        assert order.state is OrderState.PLANNED
        steps = session.scalars(
            select(JobStep).join(Job).where(Job.processing_order_id == order_id)
        ).all()
        l1b = next(
            s
            for s in steps
            if s.job.start_time == T0
            and any(p.product_class.product_type == "L1B_______" for p in s.output_products)
        )
        l2 = next(
            s
            for s in steps
            if s.job.start_time == T0
            and any(p.product_class.product_type == "L2________" for p in s.output_products)
        )
        # L1B is made with its two components; versions compared as versions (1.10.0 > 1.9.0).
        assert sorted(p.product_class.product_type for p in l1b.output_products) == [
            "L1B_IR____",
            "L1B_RA____",
            "L1B_______",
        ]
        assert l2.configured_processor is not None
        assert l2.configured_processor.identifier == "TSTL2_1.10.0_1"
        # L2 inputs are the L1B component placeholders of the same job window.
        queries = {q.requested_product_class.product_type: q for q in l2.product_queries}
        ra = queries["L1B_RA____"].satisfying_products
        assert [p.job_step_id for p in ra] == [l1b.id]
        assert not queries["L1B_RA____"].is_satisfied  # in production, no file yet
        l1b_queries = {q.requested_product_class.product_type: q for q in l1b.product_queries}
        assert len(l1b_queries["L0________"].satisfying_products) == 5
        assert l1b_queries["L0________"].is_satisfied
        assert l1b_queries["AUX_ORB___"].is_satisfied


def test_release_sets_ready_and_waiting_and_mincover_waits(tst: Database) -> None:
    order_id = _order(tst, orbits=[{"spacecraft": "TST1", "from": 2, "to": 3}])
    run_plan(tst, order_id)
    order, counts = run_command(tst, order_id, "release")
    assert order.state is OrderState.RELEASED
    assert counts == {"READY": 1, "WAITING_INPUT": 3}
    with tst.transaction() as session:
        states = {(t, j): s for t, s, j in _steps(session, order_id)}
        jobs = sorted({j for _, j in states})
        # Orbit 2: full L0 coverage -> L1B READY; orbit 3: 80 % < MINCOVER(90) -> waiting.
        assert states[("L1B_______", jobs[0])] == "READY"
        assert states[("L1B_______", jobs[1])] == "WAITING_INPUT"
        assert states[("L2________", jobs[0])] == "WAITING_INPUT"


def test_every_slicing_type_plans_jobs(tst: Database) -> None:
    cases: dict[str, tuple[dict[str, Any], int]] = {
        "ORBIT": ({"orbits": [{"spacecraft": "TST1", "from": 1, "to": 3}]}, 3),
        "NONE": ({"start_time": "2024-01-01T00:00:00Z", "stop_time": "2024-01-01T05:00:00Z"}, 1),
        "CALENDAR_DAY": (
            {"start_time": "2024-01-01T06:00:00Z", "stop_time": "2024-01-03T00:00:00Z"},
            2,
        ),
        "CALENDAR_MONTH": (
            {"start_time": "2024-01-01T00:00:00Z", "stop_time": "2024-01-01T01:00:00Z"},
            1,
        ),
        "CALENDAR_YEAR": (
            {"start_time": "2024-01-01T00:00:00Z", "stop_time": "2024-01-01T01:00:00Z"},
            1,
        ),
        "TIME_SLICE": (
            {
                "start_time": "2024-01-01T00:00:00Z",
                "stop_time": "2024-01-01T04:00:00Z",
                "slice_duration_s": 3600,
                "slice_overlap_s": 60,
            },
            4,
        ),
    }
    for slicing, (window, jobs) in cases.items():
        extra: dict[str, Any] = {"orbits": []} if "orbits" not in window else {}
        order_id = _order(
            tst,
            identifier=f"ORD-{slicing}",
            slicing_type=slicing,
            requested_product_classes=["L1B_______"],
            **window,
            **extra,
        )
        summary = run_plan(tst, order_id)
        assert summary.jobs == jobs, slicing
    with tst.transaction() as session:
        order = session.scalars(
            select(ProcessingOrder).where(ProcessingOrder.identifier == "ORD-TIME_SLICE")
        ).one()
        first = min(order.jobs, key=lambda j: j.start_time)
        assert first.start_time == T0 - timedelta(seconds=30)
        assert first.stop_time == T0 + timedelta(hours=1, seconds=30)


def test_produced_products_are_reused_and_replanning_makes_nothing(tst: Database) -> None:
    order_id = _order(tst, identifier="FIRST")
    run_plan(tst, order_id)
    # "Produce" every planned output: give each placeholder a file at the facility.
    with tst.transaction() as session:
        facility = default_facility(session)
        for product in session.scalars(select(Product).where(Product.job_step_id.is_not(None))):
            product.product_files.append(
                ProductFile(
                    processing_facility=facility,
                    product_file_name=f"p{product.id}",
                    file_path="TST",
                    file_size_bytes=1,
                )
            )
    again = _order(tst, identifier="AGAIN")
    summary = run_plan(tst, again)
    assert summary.job_steps == 0
    assert summary.skipped_existing == 2
    with tst.transaction() as session:
        order = get_order(session, again)
        assert order.state is OrderState.COMPLETED
        assert order.state_message == "all requested products exist; nothing planned"
    # A downstream class over the same window reuses the produced L2 and L1B.
    l2_only = _order(
        tst,
        identifier="REUSE-L1B",
        requested_product_classes=["L2________"],
        orbits=[{"spacecraft": "TST1", "from": 1, "to": 3}],
    )
    summary = run_plan(tst, l2_only)
    assert summary.steps_per_class == {"L1B_______": 1, "L2________": 1}


def test_stop_list_is_respected(tst: Database) -> None:
    order_id = _order(tst, input_product_classes=["L1B_______"])
    summary = run_plan(tst, order_id)
    assert summary.steps_per_class == {"L2________": 2}
    assert summary.unsatisfied_queries == 4
    # A stopped component alone does not stop its enclosing class (made for the other part).
    # (The first order is cancelled: while its L2 job steps live, they are the L2 products
    # being produced, and a second order over the same orbits would reuse them.)
    run_command(tst, order_id, "cancel")
    other = _order(tst, identifier="RA-STOPPED", input_product_classes=["L1B_RA____"])
    assert run_plan(tst, other).steps_per_class == {"L1B_______": 2, "L2________": 2}


def test_version_and_mode_choice(tst: Database) -> None:
    order_id = _order(
        tst, identifier="TESTMODE", processing_mode="TEST", input_product_classes=["L1B_______"]
    )
    run_plan(tst, order_id)
    order_id2 = _order(
        tst,
        identifier="PINNED",
        configured_processors=["TSTL2_1.9.0_1"],
        input_product_classes=["L1B_______"],
    )
    run_plan(tst, order_id2)
    with tst.transaction() as session:
        chosen = {
            o: set(
                session.scalars(
                    select(ConfiguredProcessor.identifier)
                    .join(JobStep)
                    .join(Job)
                    .where(Job.processing_order_id == o)
                )
            )
            for o in (order_id, order_id2)
        }
    assert chosen == {order_id: {"TSTL2_1.10.0_2"}, order_id2: {"TSTL2_1.9.0_1"}}


def test_planning_failure_is_recorded_and_nothing_is_kept(tst: Database) -> None:
    # In mode TEST the L1B processor has no configuration: L1B cannot be planned.
    order_id = _order(tst, processing_mode="TEST")
    with pytest.raises(PlanningError, match=r"product class L1B_______ .* in mode TEST"):
        run_plan(tst, order_id)
    with tst.transaction() as session:
        order = get_order(session, order_id)
        assert order.state is OrderState.PLANNING_FAILED
        assert "L1B_______" in (order.state_message or "")
        assert session.scalar(select(func.count(JobStep.id))) == 0
        assert (
            session.scalar(select(func.count(Product.id)).where(Product.job_step_id.is_not(None)))
            == 0
        )
    order, _ = run_command(tst, order_id, "reset")
    assert order.state is OrderState.APPROVED


def test_crash_in_the_middle_leaves_a_replannable_order(
    tst: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import planner.plan as plan_module

    order_id = _order(tst)
    real = plan_module._write

    def crash(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        raise RuntimeError("power failure after the bulk inserts")

    monkeypatch.setattr(plan_module, "_write", crash)
    with pytest.raises(RuntimeError):
        run_plan(tst, order_id)
    monkeypatch.undo()
    with tst.transaction() as session:
        assert get_order(session, order_id).state is OrderState.APPROVED
        assert session.scalar(select(func.count(Job.id))) == 0
    summary = run_plan(tst, order_id)
    assert summary.job_steps == 4
    with tst.transaction() as session:
        assert session.scalar(select(func.count(JobStep.id))) == 4


def test_dry_run_writes_nothing_and_shows_inputs(tst: Database) -> None:
    order_id = _order(tst)
    summary = run_plan(tst, order_id, dry_run=True)
    assert summary.job_steps == 4
    l2 = next(s for s in summary.steps if s.product_type == "L2________")
    assert {i.source_type: (i.found, i.in_production) for i in l2.inputs} == {
        "L1B_RA____": (0, 1),
        "L1B_IR____": (0, 1),
    }
    with tst.transaction() as session:
        assert get_order(session, order_id).state is OrderState.APPROVED
        assert session.scalar(select(func.count(Job.id))) == 0
        assert session.scalar(select(func.count(ProductQuery.id))) == 0


def test_order_views(tst: Database) -> None:
    order_id = _order(tst)
    run_plan(tst, order_id)
    with tst.transaction() as session:
        view = order_view(session, order_id)
        assert view.steps_by_state == {"PLANNED": 4}
        assert [s.output for s in view.job_steps_detail] == [
            "L1B_______",
            "L2________",
            "L1B_______",
            "L2________",
        ]
        step = job_step_view(session, view.job_steps_detail[0].id)
        assert {q.product_type for q in step.inputs} == {"L0________", "AUX_ORB___"}
        assert len(step.outputs) == 3


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"requested_product_classes": ["L9"]}, "requested_product_classes"),
        ({"requested_product_classes": ["L0________"]}, "requested_product_classes"),
        ({"processing_mode": "NRTI"}, "processing_mode"),
        (
            {
                "slicing_type": "TIME_SLICE",
                "orbits": [],
                "start_time": "2024-01-01T00:00:00Z",
                "stop_time": "2024-01-02T00:00:00Z",
            },
            "slice_duration_s",
        ),
        (
            {
                "slicing_type": "NONE",
                "orbits": [],
                "start_time": "2024-01-02T00:00:00Z",
                "stop_time": "2024-01-01T00:00:00Z",
            },
            "stop_time",
        ),
        ({"orbits": [{"spacecraft": "XX", "from": 1, "to": 2}]}, "orbits.spacecraft"),
        ({"configured_processors": ["NOPE"]}, "configured_processors"),
        ({"processing_facility": "mars"}, "processing_facility"),
    ],
)
def test_bad_orders_name_the_field(tst: Database, spec: dict[str, Any], field: str) -> None:
    full = {
        "mission": "TST",
        "identifier": "BAD",
        "requested_product_classes": ["L2________"],
        "orbits": [{"spacecraft": "TST1", "from": 1, "to": 2}],
        "slicing_type": "ORBIT",
        **spec,
    }
    with pytest.raises(InvalidInputError) as info, tst.transaction() as session:
        create_order(session, parse_order_spec(full))
    assert info.value.field == field
    with tst.transaction() as session:
        assert session.scalar(select(func.count(ProcessingOrder.id))) == 0


def test_naive_time_in_order_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="start_time"):
        parse_order_spec(
            {
                "mission": "TST",
                "identifier": "X",
                "requested_product_classes": ["A"],
                "start_time": "2024-01-01T00:00:00",
                "stop_time": "2024-01-02T00:00:00Z",
            }
        )


def test_duplicate_identifier_is_a_conflict(tst: Database) -> None:
    _order(tst)
    with pytest.raises(ConflictError, match="already has an order 'ORD'"):
        _order(tst)


EXPECTED_AFTER: dict[str, set[OrderState | None]] = {
    "approve": {OrderState.APPROVED},
    "plan": {OrderState.PLANNED},
    "release": {OrderState.RELEASED},
    "resume": {OrderState.RELEASED},
    "suspend": {OrderState.PLANNED},
    "cancel": {OrderState.FAILED},
    "retry": {OrderState.PLANNED},
    "reset": {OrderState.INITIAL, OrderState.APPROVED},
    "close": {OrderState.CLOSED},
    "delete": {None},
}


def test_every_command_in_every_state(tst: Database) -> None:
    """Legal commands succeed with the expected state; illegal ones are refused, naming
    the states that allow them, and change nothing."""
    base = _order(tst, identifier="BASE")
    run_plan(tst, base)
    for number, (command, state) in enumerate((c, s) for c in ORDER_COMMANDS for s in OrderState):
        identifier = f"C{number}"
        # each order makes its own products (an output parameter of its own): equivalent
        # products of another order would leave it nothing to plan
        order_id = _order(tst, identifier=identifier, output_parameters={"case": identifier})
        if command != "plan" and state not in (OrderState.INITIAL, OrderState.APPROVED):
            run_plan(tst, order_id)  # give the order a plan so release etc. have work
        with tst.transaction() as session:
            order = get_order(session, order_id)
            order.state = state
        legal = state in ORDER_COMMANDS[command].allowed

        def call(order_id: int = order_id, command: str = command) -> object:
            if command == "plan":
                return run_plan(tst, order_id)
            return run_command(tst, order_id, command)

        if not legal:
            with pytest.raises(CommandNotAllowed) as info:
                call()
            assert f"cannot {command}" in str(info.value)
            assert f"in state {state.value}" in str(info.value)
            assert all(s.value in str(info.value) for s in ORDER_COMMANDS[command].allowed)
            with tst.transaction() as session:
                assert get_order(session, order_id).state is state
            continue
        call()
        with tst.transaction() as session:
            after = session.get(ProcessingOrder, order_id)
            result = None if after is None else after.state
        assert result in EXPECTED_AFTER[command], (command, state, result)


def test_suspend_running_order_waits_for_running_steps_unless_forced(tst: Database) -> None:
    order_id = _order(tst)
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    with tst.transaction() as session:
        order = get_order(session, order_id)
        order.state = OrderState.RUNNING
        step = session.scalars(
            select(JobStep)
            .join(Job)
            .where(Job.processing_order_id == order_id, JobStep.state == JobStepState.READY)
        ).first()
        assert step is not None
        step.state = JobStepState.RUNNING
    order, running = run_command(tst, order_id, "suspend")
    assert (order.state, running) == (OrderState.SUSPENDING, 1)
    with tst.transaction() as session:
        order = get_order(session, order_id)
        order.state = OrderState.RUNNING
    order, running = run_command(tst, order_id, "suspend", force=True)
    assert (order.state, running) == (OrderState.PLANNED, 0)
    with tst.transaction() as session:
        assert {s for _, s, _ in _steps(session, order_id)} == {"PLANNED"}
