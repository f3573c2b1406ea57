"""Reprocessing campaigns on the TST mission, SQLite and PostgreSQL: batches, the dry run, the
progressive release under ``max_in_flight`` with real runs of the TST processor, pause,
resume, cancel and retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from orderman.campaigns import (
    advance_campaigns,
    campaign_view,
    create_campaign,
    dry_run,
    get_campaign,
    parse_campaign_spec,
    run_campaign_command,
    split,
)
from orderman.runner import production_round
from productionplanner.dispatcher import Dispatcher
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import CampaignState, JobStepState, OrderState, ProductionType
from proseo.errors import InvalidInputError, InvalidStateTransition
from proseo.model import Campaign, Job, JobStep, ProcessingOrder

L2 = {
    "requested_product_classes": ["L2________"],
    "slicing_type": "ORBIT",
    "processing_mode": "OPER",
}


def _spec(**overrides: Any) -> dict[str, Any]:
    return {
        "mission": "TST",
        "name": "RPRO",
        "settings": L2,
        "spacecraft": "TST1",
        "orbit_from": 4,
        "orbit_to": 6,
        "batch_unit": "ORBITS",
        "batch_size": 1,
        "max_in_flight": 2,
        **overrides,
    }


def _create(database: Database, **overrides: Any) -> None:
    with database.transaction() as session:
        create_campaign(session, parse_campaign_spec(_spec(**overrides)), "tester")


def _view(database: Database, batches: bool = False) -> dict[str, Any]:
    with database.transaction() as session:
        return campaign_view(session, get_campaign(session, "TST", "RPRO"), batches=batches)


def _in_flight(database: Database) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count(JobStep.id)).where(
                    JobStep.state.in_(
                        [JobStepState.READY, JobStepState.WAITING_INPUT, JobStepState.RUNNING]
                    )
                )
            )
            or 0
        )


def test_batches_by_month_day_and_orbits() -> None:
    months = split(
        parse_campaign_spec(
            _spec(
                orbit_from=None, orbit_to=None, spacecraft=None, batch_unit="MONTH",
                start_time="2024-01-15T00:00:00Z", stop_time="2024-04-01T00:00:00Z",
            )
        )
    )  # fmt: skip
    assert [(b.start, b.stop) for b in months] == [
        (datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 2, 15, tzinfo=UTC)),
        (datetime(2024, 2, 15, tzinfo=UTC), datetime(2024, 3, 15, tzinfo=UTC)),
        (datetime(2024, 3, 15, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)),
    ]
    days = split(
        parse_campaign_spec(
            _spec(
                orbit_from=None, orbit_to=None, spacecraft=None, batch_unit="DAY", batch_size=10,
                start_time="2024-01-01T00:00:00Z", stop_time="2024-01-25T00:00:00Z",
            )
        )
    )  # fmt: skip
    assert [b.stop.day for b in days if b.stop] == [11, 21, 25]
    orbits = split(parse_campaign_spec(_spec(orbit_from=1, orbit_to=10, batch_size=4)))
    assert [(b.orbit_from, b.orbit_to) for b in orbits] == [(1, 4), (5, 8), (9, 10)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template": "T"}, "either template or settings"),
        ({"orbit_to": 2}, "below orbit_from"),
        ({"batch_unit": "MONTH"}, "batches of ORBITS"),
        ({"start_time": "2024-01-01T00:00:00Z"}, "either start_time"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ],
)
def test_bad_campaigns_name_the_problem(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        parse_campaign_spec(_spec(**change))


def test_dry_run_counts_and_writes_nothing(tst: Database) -> None:
    result = dry_run(tst, parse_campaign_spec(_spec(orbit_from=1, orbit_to=6, batch_size=2)))
    assert (result.batches, result.orders, result.jobs, result.job_steps) == (3, 3, 6, 12)
    assert result.steps_per_class == {"L1B_______": 6, "L2________": 6}
    with tst.transaction() as session:
        assert session.scalar(select(func.count(Campaign.id))) == 0
        assert session.scalar(select(func.count(ProcessingOrder.id))) == 0


def test_a_campaign_runs_batch_by_batch_within_its_limit(
    tst: Database, tst_settings: Settings
) -> None:
    _create(tst)
    assert _view(tst)["state"] == "CREATED"
    assert advance_campaigns(tst).ordered == []  # not started
    run_campaign_command(tst, "TST", "RPRO", "start", "tester")
    dispatcher = Dispatcher(tst, tst_settings)
    peak = 0
    for _ in range(20):
        report = production_round(tst)
        peak = max(peak, _in_flight(tst))
        if _view(tst)["state"] == "COMPLETED":
            break
        assert len(report.campaigns.ordered) <= 1  # one facility: one batch at a time
        dispatcher.run(interval_s=0.05, until_idle=True, timeout_s=60)
    view = _view(tst, batches=True)
    assert view["state"] == "COMPLETED"
    assert peak == 2  # one batch (L1B + L2) in flight at a time
    assert (view["batches"], view["batches_done"], view["percent_done"]) == (3, 3, 100.0)
    assert (view["job_steps_planned"], view["job_steps_produced"]) == (6, 6)
    assert [b["order"] for b in view["batch_list"]] == ["RPRO-00001", "RPRO-00002", "RPRO-00003"]
    with tst.transaction() as session:
        orders = session.scalars(select(ProcessingOrder)).all()
        assert {(o.production_type, o.priority, o.created_by) for o in orders} == {
            (ProductionType.REPROCESSING, 20, "campaign:RPRO")
        }
        assert {o.state for o in orders} == {OrderState.COMPLETED}


def test_pause_resume_cancel_and_retry(tst: Database, tst_settings: Settings) -> None:
    _create(tst)
    with pytest.raises(InvalidStateTransition, match="pause needs state RUNNING"):
        run_campaign_command(tst, "TST", "RPRO", "pause", "tester")
    run_campaign_command(tst, "TST", "RPRO", "start", "tester")
    production_round(tst)  # batch 1 ordered, planned, released
    assert _in_flight(tst) == 2
    state, suspended = run_campaign_command(tst, "TST", "RPRO", "pause", "tester")
    assert (state, suspended) == (CampaignState.PAUSED, 1)
    assert _in_flight(tst) == 0
    production_round(tst)
    assert _view(tst)["batches_ordered"] == 1  # paused: nothing new
    state, released = run_campaign_command(tst, "TST", "RPRO", "resume", "tester")
    assert (state, released) == (CampaignState.RUNNING, 1)
    assert _in_flight(tst) == 2
    Dispatcher(tst, tst_settings).run(interval_s=0.05, until_idle=True, timeout_s=60)
    production_round(tst)  # batch 2
    assert _view(tst)["batches_ordered"] == 2
    state, cancelled = run_campaign_command(tst, "TST", "RPRO", "cancel", "tester")
    assert (state, cancelled) == (CampaignState.CANCELLED, 1)  # batch 2: suspended, cancelled
    production_round(tst)
    view = _view(tst)
    assert view["batches_ordered"] == 2  # batch 3 never ordered
    assert view["orders_by_state"] == {"COMPLETED": 1, "FAILED": 1}
    with tst.transaction() as session:
        states = session.scalars(
            select(JobStep.state).join(Job).join(ProcessingOrder).where(
                ProcessingOrder.identifier == "RPRO-00002"
            )
        ).all()  # fmt: skip
    assert set(states) == {JobStepState.FAILED}
    with pytest.raises(InvalidStateTransition, match="retry needs state"):
        run_campaign_command(tst, "TST", "RPRO", "retry", "tester")


def test_a_batch_that_failed_planning_is_planned_again_by_retry(tst: Database) -> None:
    """Two days after the stored orbits (1-100 end 2024-01-07T22:40Z), ORBIT-sliced: both
    daily batches fail planning with the reason and the campaign cannot complete. Once the
    orbits are synced, retry sends them back to APPROVED and the next round plans and
    releases them."""
    from missions.testmission import build_definition as build_tst_definition
    from proseo.catalogue.sync import sync_mission

    _create(
        tst,
        spacecraft=None,
        orbit_from=None,
        orbit_to=None,
        start_time="2024-01-08T00:00:00Z",
        stop_time="2024-01-10T00:00:00Z",
        batch_unit="DAY",
        max_in_flight=1000,
    )
    run_campaign_command(tst, "TST", "RPRO", "start", "tester")
    production_round(tst)
    production_round(tst)
    view = _view(tst, batches=True)
    assert view["orders_by_state"] == {"PLANNING_FAILED": 2}
    assert view["state"] == "RUNNING"
    with tst.transaction() as session:
        messages = session.scalars(select(ProcessingOrder.state_message)).all()
        sync_mission(session, build_tst_definition(), orbit_range=(1, 200))
    assert all("orbit" in (m or "") for m in messages), messages
    state, retried = run_campaign_command(tst, "TST", "RPRO", "retry", "tester")
    assert (state, retried) == (CampaignState.RUNNING, 2)
    production_round(tst)
    assert _view(tst)["orders_by_state"] == {"RELEASED": 2}
    assert _in_flight(tst) == 2 * 2 * 15  # L1B and L2 of the 15 orbits a day starting in it


def test_campaign_commands(tst: Database, capsys: pytest.CaptureFixture[str]) -> None:
    from proseo.cli.app import run

    url = ("--local", "--database-url", tst.engine.url.render_as_string(hide_password=False))

    def proseo(*args: str, code: int = 0) -> str:
        assert run([*url, *args]) == code, capsys.readouterr()
        return capsys.readouterr().out

    options = (
        "-m", "TST", "--orbits", "TST1:1-6", "--batch-unit", "orbits", "--batch-size", "3",
        "--max-in-flight", "10",
    )  # fmt: skip
    with tst.transaction() as session:  # the template the campaign takes its settings from
        from orderman.templates import create_template, parse_template_spec

        create_template(session, parse_template_spec({"mission": "TST", "name": "L2", **L2}), "t")
    dry = proseo("campaign", "create", "RPRO", "--template", "L2", *options, "--dry-run")
    assert "2 batches, 2 orders, 6 jobs, 12 job steps" in dry
    assert "no campaigns" in proseo("campaign", "list")
    made = proseo("campaign", "create", "RPRO", "--template", "L2", *options)
    assert "campaign RPRO of TST created: 2 batches (state CREATED)" in made
    assert "now RUNNING" in proseo("campaign", "start", "RPRO", "-m", "TST")
    proseo("campaign", "start", "RPRO", "-m", "TST", code=6)  # not in CREATED any more
    production_round(tst)  # batch 1; then 6 job steps in flight, below 10:
    production_round(tst)  # batch 2
    shown = proseo("campaign", "show", "RPRO", "-m", "TST", "--batches")
    assert "template: L2" in shown
    assert "#1 TST1:1-3 at localhost: RPRO-00001 RELEASED, 0/6 produced" in shown
    assert "#2 TST1:4-6 at localhost: RPRO-00002 RELEASED, 0/6 produced" in shown
    assert "now PAUSED (2 orders)" in proseo("campaign", "pause", "RPRO", "-m", "TST")
