"""Systematic production on the TST mission, SQLite and PostgreSQL: order templates, every
trigger kind, exactly-once occurrences, orders that approve, plan, release and close
themselves, the execution time, and notifications POSTed to a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select, update

from orderman.automation import RETRY_DELAYS_S, advance_orders, deliver_notifications
from orderman.orders import get_order
from orderman.service import run_command
from orderman.templates import (
    create_template,
    delete_template,
    get_template,
    parse_template_spec,
)
from orderman.triggers import (
    Occurrence,
    create_trigger,
    fire,
    get_trigger,
    parse_trigger_spec,
    preview,
    run_triggers,
)
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import JobStepState, OrderState, ProductionType
from proseo.errors import ConflictError, InvalidInputError
from proseo.model import (
    Job,
    JobStep,
    OrderNotification,
    ProcessingOrder,
    ProductionTrigger,
    ProductParameter,
    StateHistory,
    TriggerOccurrence,
)
from proseo.model.base import utc_now
from tests.conftest import TST_ORBIT, TST_T0, add_product_with_file

L1B_TEMPLATE = {
    "mission": "TST",
    "name": "L1B-NRT",
    "requested_product_classes": ["L1B_______"],
    "slicing_type": "NONE",
    "processing_mode": "OPER",
    "auto_release": True,
    "auto_close": True,
}


def _template(database: Database, **overrides: Any) -> None:
    with database.transaction() as session:
        create_template(session, parse_template_spec({**L1B_TEMPLATE, **overrides}), "tester")


def _trigger(database: Database, **fields: Any) -> int:
    data = {"mission": "TST", "template": "L1B-NRT", **fields}
    with database.transaction() as session:
        return create_trigger(session, parse_trigger_spec(data), "tester").id


def _backdate(database: Database, trigger_id: int, moment: datetime) -> None:
    with database.transaction() as session:
        session.execute(
            update(ProductionTrigger)
            .where(ProductionTrigger.id == trigger_id)
            .values(active_since=moment, created_at=moment)
        )


def _orders(database: Database) -> list[ProcessingOrder]:
    with database.transaction() as session:
        orders = list(session.scalars(select(ProcessingOrder).order_by(ProcessingOrder.id)))
        session.expunge_all()
        return orders


# -- templates -------------------------------------------------------------------------------


def test_templates_are_validated_as_orders_and_versioned(tst: Database) -> None:
    with pytest.raises(InvalidInputError) as info, tst.transaction() as session:
        create_template(
            session,
            parse_template_spec({**L1B_TEMPLATE, "requested_product_classes": ["NOPE"]}),
            "tester",
        )
    assert info.value.field == "requested_product_classes"
    with pytest.raises(InvalidInputError, match="notification_endpoint"):
        parse_template_spec({**L1B_TEMPLATE, "notification_endpoint": "ftp://x"})
    with pytest.raises(InvalidInputError, match="start_time"):  # a template has no window
        parse_template_spec({**L1B_TEMPLATE, "start_time": "2024-01-01T00:00:00Z"})
    _template(tst)
    with pytest.raises(ConflictError, match="version 1"):
        _template(tst)
    with tst.transaction() as session:
        spec = parse_template_spec({**L1B_TEMPLATE, "priority": 80})
        assert create_template(session, spec, "tester", new_version=True).version == 2
        assert get_template(session, "TST", "L1B-NRT").settings["priority"] == 80
        assert get_template(session, "TST", "L1B-NRT", 1).settings.get("priority") is None
    _trigger(tst, name="T", kind="DATA_DRIVEN", settings={"product_type": "L0________"})
    with pytest.raises(ConflictError, match="used by trigger"), tst.transaction() as session:
        delete_template(session, "TST", "L1B-NRT")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "CALENDAR", "settings": {"cron": "61 * * * *"}}, "cron"),
        (
            {
                "kind": "DATATAKE",
                "settings": {"product_type": "L0________", "group_parameter": "d"},
            },
            "expected_count",
        ),
        ({"kind": "TIME_INTERVAL", "settings": {"interval_s": 0}}, "interval_s"),
        ({"kind": "ORBIT", "settings": {"spacecraft": "TST1", "extra": 1}}, "extra"),
        ({"kind": "SOMETIMES", "settings": {}}, "kind"),
    ],
)
def test_bad_triggers_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=field):
        parse_trigger_spec({"mission": "TST", "name": "X", "template": "T", **fields})


def test_trigger_settings_are_checked_against_the_mission(tst: Database) -> None:
    _template(tst)
    with pytest.raises(InvalidInputError, match=r"settings\.spacecraft"):
        _trigger(tst, name="O", kind="ORBIT", settings={"spacecraft": "NOPE"})
    with pytest.raises(InvalidInputError, match=r"settings\.product_type"):
        _trigger(tst, name="D", kind="DATA_DRIVEN", settings={"product_type": "NOPE"})


# -- timed triggers --------------------------------------------------------------------------


def test_time_interval_trigger_catches_up_and_makes_each_occurrence_once(tst: Database) -> None:
    _template(tst)
    trigger_id = _trigger(
        tst,
        name="EVERY-2H",
        kind="TIME_INTERVAL",
        settings={"interval_s": 7200, "start": "2024-01-01T00:00:00Z"},
    )
    _backdate(tst, trigger_id, TST_T0)
    now = TST_T0 + timedelta(hours=7)  # occurrences at 02:00, 04:00, 06:00
    report = run_triggers(tst, now=now)
    assert report.created == 3
    windows = [(o.start_time, o.stop_time) for o in _orders(tst)]
    assert windows == [
        (TST_T0 + timedelta(hours=h), TST_T0 + timedelta(hours=h + 2)) for h in (0, 2, 4)
    ]
    assert all(o.created_by == "trigger:EVERY-2H" for o in _orders(tst))
    assert all(o.production_type is ProductionType.SYSTEMATIC for o in _orders(tst))
    # a restart, a second runner: nothing again
    assert run_triggers(tst, now=now).created == 0
    assert run_triggers(tst, now=now + timedelta(hours=1)).created == 1  # 08:00
    with tst.transaction() as session:
        assert session.scalar(select(func.count(TriggerOccurrence.id))) == 4


@pytest.mark.parametrize(("catch_up", "made"), [("LATEST", 1), ("NONE", 0)])
def test_missed_occurrences_follow_catch_up(tst: Database, catch_up: str, made: int) -> None:
    _template(tst)
    trigger_id = _trigger(
        tst,
        name="HOURLY",
        kind="TIME_INTERVAL",
        catch_up=catch_up,
        settings={"interval_s": 3600, "start": "2024-01-01T00:00:00Z"},
    )
    _backdate(tst, trigger_id, TST_T0)
    now = TST_T0 + timedelta(hours=10, minutes=30)  # ten missed, the last 30 min late
    run_triggers(tst, now=now)
    orders = _orders(tst)
    assert len(orders) == made
    if made:
        assert orders[0].stop_time == TST_T0 + timedelta(hours=10)


def test_calendar_trigger_makes_the_previous_day_and_preview_writes_nothing(
    tst: Database,
) -> None:
    _template(tst)
    trigger_id = _trigger(
        tst, name="DAILY", kind="CALENDAR", settings={"cron": "0 2 * * *", "period": "day"}
    )
    _backdate(tst, trigger_id, TST_T0)
    now = TST_T0 + timedelta(days=2, hours=3)  # 02:00 on Jan 1, 2 and 3 passed
    with tst.transaction() as session:
        shown = preview(session, get_trigger(session, "TST", "DAILY"), now, upcoming=2)
    assert [e["when"] for e in shown] == ["pending"] * 3 + ["upcoming"] * 2
    assert shown[0]["window"] == "2023-12-31T00:00:00Z .. 2024-01-01T00:00:00Z"
    assert shown[3]["due_at"] == "2024-01-04T02:00:00Z"
    assert shown[4]["window"] == "2024-01-04T00:00:00Z .. 2024-01-05T00:00:00Z"
    assert shown[0]["order"] == "DAILY-20240101T020000Z"
    assert _orders(tst) == []
    assert run_triggers(tst, now=now).created == 3
    assert [(o.identifier, o.start_time) for o in _orders(tst)] == [
        ("DAILY-20240101T020000Z", TST_T0 - timedelta(days=1)),
        ("DAILY-20240102T020000Z", TST_T0),
        ("DAILY-20240103T020000Z", TST_T0 + timedelta(days=1)),
    ]


def test_orbit_trigger_orders_each_ended_orbit_after_its_delay(tst: Database) -> None:
    _template(tst, slicing_type="ORBIT")
    trigger_id = _trigger(
        tst, name="PER-ORBIT", kind="ORBIT", delay_s=600, settings={"spacecraft": "TST1"}
    )
    _backdate(tst, trigger_id, TST_T0 + TST_ORBIT + timedelta(minutes=1))  # after orbit 1
    # orbit 4 ended at T0+400 min but its 10 min delay has not passed
    run_triggers(tst, now=TST_T0 + 4 * TST_ORBIT + timedelta(minutes=5))
    orders = _orders(tst)
    assert [o.identifier for o in orders] == ["PER-ORBIT-TST1-2", "PER-ORBIT-TST1-3"]
    with tst.transaction() as session:
        ranges = [(r.orbit_from, r.orbit_to) for r in get_order(session, orders[0].id).orbit_ranges]
    assert ranges == [(2, 2)]


# -- product-driven triggers -----------------------------------------------------------------


def test_data_driven_trigger_orders_each_arriving_product_once(tst: Database) -> None:
    _template(tst)
    _trigger(
        tst,
        name="ON-L0",
        kind="DATA_DRIVEN",
        settings={"product_type": "L0________", "copy_parameters": ["granule"]},
    )
    assert run_triggers(tst).created == 0  # the products catalogued before do not count
    start = TST_T0 + 7 * TST_ORBIT
    with tst.transaction() as session:
        for k in range(2):
            product = add_product_with_file(
                session, "L0________", start + k * TST_ORBIT / 5, start + (k + 1) * TST_ORBIT / 5
            )
            product.parameters.append(ProductParameter(key="granule", value=str(k)))
    report = run_triggers(tst)
    assert report.created == 2
    assert run_triggers(tst).created == 0
    orders = _orders(tst)
    assert [o.start_time for o in orders] == [start, start + TST_ORBIT / 5]
    assert [o.dynamic_processing_parameters for o in orders] == [{"granule": "0"}, {"granule": "1"}]
    # the orders run themselves: approved by the trigger, planned, released
    moved = advance_orders(tst)
    assert len(moved.approved) == 2
    assert len(moved.planned) == 2
    assert len(moved.released) == 2
    for order in _orders(tst):
        assert order.state is OrderState.RELEASED
        assert order.approved_by == "trigger:ON-L0"


def test_datatake_trigger_waits_for_the_whole_datatake(tst: Database) -> None:
    _template(tst)
    _trigger(
        tst,
        name="DT",
        kind="DATATAKE",
        settings={"product_type": "L0________", "group_parameter": "datatake", "expected_count": 3},
    )
    start = TST_T0 + 8 * TST_ORBIT

    def add(k: int, datatake: str) -> None:
        with tst.transaction() as session:
            product = add_product_with_file(
                session, "L0________", start + k * TST_ORBIT / 5, start + (k + 1) * TST_ORBIT / 5
            )
            product.parameters.append(ProductParameter(key="datatake", value=datatake))

    add(0, "A")
    add(1, "A")
    add(4, "B")
    assert run_triggers(tst).created == 0
    add(2, "A")
    assert run_triggers(tst).created == 1
    assert run_triggers(tst).created == 0
    (order,) = _orders(tst)
    assert (order.start_time, order.stop_time) == (start, start + 3 * TST_ORBIT / 5)
    assert order.identifier == "DT-A"


def test_two_runners_firing_one_occurrence_make_one_order(tst: Database) -> None:
    _template(tst)
    trigger_id = _trigger(tst, name="T", kind="TIME_INTERVAL", settings={"interval_s": 3600})
    occurrence = Occurrence(
        "time:2024-01-01T01:00:00Z",
        TST_T0 + timedelta(hours=1),
        TST_T0,
        TST_T0 + timedelta(hours=1),
    )
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def runner() -> None:
        barrier.wait()
        outcomes.append(fire(tst, trigger_id, occurrence).status)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 4
    assert sorted(outcomes).count("created") == 1
    assert len(_orders(tst)) == 1


def test_a_trigger_order_that_cannot_be_planned_fails_planning_with_the_reason(
    tst: Database,
) -> None:
    _template(tst, slicing_type="ORBIT")
    trigger_id = _trigger(
        tst, name="ON-L0", kind="DATA_DRIVEN", settings={"product_type": "L0________"}
    )
    with tst.transaction() as session:  # sensing far outside the stored orbits
        add_product_with_file(
            session, "L0________", TST_T0 - timedelta(days=400), TST_T0 - timedelta(days=399)
        )
    report = run_triggers(tst)
    assert [o.status for o in report.outcomes] == ["created"]
    # planned: no orbit in that window, so the order fails planning with the reason
    advance_orders(tst)
    (order,) = _orders(tst)
    assert order.state is OrderState.PLANNING_FAILED
    assert "no stored orbit" in (order.state_message or "")
    with tst.transaction() as session:
        row = session.scalars(
            select(TriggerOccurrence).where(TriggerOccurrence.trigger_id == trigger_id)
        ).one()
        assert row.processing_order_id == order.id


def test_an_occurrence_the_template_cannot_make_is_recorded_not_retried(tst: Database) -> None:
    from proseo.model import ConfiguredProcessor

    _template(tst, configured_processors=["TSTL1B_1.0.0_1"])
    trigger_id = _trigger(
        tst, name="ON-L0", kind="DATA_DRIVEN", settings={"product_type": "L0________"}
    )
    with tst.transaction() as session:  # the template's processor is withdrawn meanwhile
        session.execute(
            update(ConfiguredProcessor)
            .where(ConfiguredProcessor.identifier == "TSTL1B_1.0.0_1")
            .values(enabled=False)
        )
        add_product_with_file(
            session, "L0________", TST_T0 + 9 * TST_ORBIT, TST_T0 + 10 * TST_ORBIT
        )
    report = run_triggers(tst)
    assert [o.status for o in report.outcomes] == ["failed"]
    assert "no such enabled configured processor" in (report.outcomes[0].message or "")
    assert _orders(tst) == []
    assert run_triggers(tst).outcomes == []  # recorded: not tried again
    with tst.transaction() as session:
        row = session.scalars(
            select(TriggerOccurrence).where(TriggerOccurrence.trigger_id == trigger_id)
        ).one()
        assert row.processing_order_id is None
        assert "TSTL1B_1.0.0_1" in (row.message or "")


# -- orders that run themselves --------------------------------------------------------------


def test_auto_release_only_after_planning_not_after_a_suspend(tst: Database) -> None:
    from orderman.service import run_plan
    from tests.conftest import approved_tst_order

    order_id = approved_tst_order(tst, auto_release=True)
    run_plan(tst, order_id)
    assert advance_orders(tst).released == ["ORD"]
    run_command(tst, order_id, "suspend")
    assert advance_orders(tst).released == []
    with tst.transaction() as session:
        assert get_order(session, order_id).state is OrderState.PLANNED


def test_execution_time_holds_the_job_steps(tst: Database, tst_settings: Settings) -> None:
    from orderman.service import run_plan
    from productionplanner.dispatcher import Dispatcher
    from tests.conftest import approved_tst_order

    order_id = approved_tst_order(tst, execution_time=(utc_now() + timedelta(hours=1)).isoformat())
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    dispatcher = Dispatcher(tst, tst_settings)
    assert dispatcher.tick().submitted == 0
    with tst.transaction() as session:
        session.execute(
            update(ProcessingOrder)
            .where(ProcessingOrder.id == order_id)
            .values(execution_time=utc_now() - timedelta(seconds=1))
        )
    assert dispatcher.tick().submitted == 2
    with tst.transaction() as session:
        states = session.scalars(
            select(JobStep.state).join(Job).where(Job.processing_order_id == order_id)
        ).all()
    assert JobStepState.RUNNING in states


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        status = type(self).answers.pop(0) if type(self).answers else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"answers": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()


def test_the_end_of_an_order_is_posted_with_retries_and_recorded(
    tst: Database, receiver: tuple[str, type[_Receiver]]
) -> None:
    from orderman.service import run_plan
    from tests.conftest import approved_tst_order

    url, handler = receiver
    handler.answers = [500]  # the first attempt fails
    order_id = approved_tst_order(tst, notification_endpoint=url)
    run_plan(tst, order_id)
    run_command(tst, order_id, "cancel")  # -> FAILED
    advance_orders(tst)
    assert len(handler.received) == 1
    with tst.transaction() as session:
        note = session.scalars(select(OrderNotification)).one()
        assert (note.attempts, note.delivered_at, note.last_error) == (1, None, "HTTP 500")
        # the back-off: not again before its time
        assert note.next_attempt_at > utc_now() + timedelta(seconds=RETRY_DELAYS_S[0] - 2)
        note.next_attempt_at = utc_now()
    assert deliver_notifications(tst) == 1
    assert len(handler.received) == 2
    payload = handler.received[-1]
    assert payload["identifier"] == "ORD"
    assert payload["state"] == "FAILED"
    assert payload["event"] == "order FAILED"
    assert advance_orders(tst).notified == []  # delivered once, not again
    with tst.transaction() as session:
        reasons = session.scalars(
            select(StateHistory.reason).where(StateHistory.entity_id == order_id)
        ).all()
    assert any(r and r.startswith(f"notification delivered to {url}") for r in reasons)


# -- the command line ------------------------------------------------------------------------


def test_templates_and_triggers_from_the_command_line(
    tst: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    from proseo.cli.app import run

    url = ("--local", "--database-url", tst.engine.url.render_as_string(hide_password=False))

    def proseo(*args: str, code: int = 0) -> str:
        assert run([*url, *args]) == code, capsys.readouterr()
        return capsys.readouterr().out

    proseo(
        "template", "create", "L2-SYS", "-m", "TST", "-c", "L2________", "--slicing", "ORBIT",
        "--mode", "OPER", "--auto-release", "--priority", "70",
    )  # fmt: skip
    shown = json.loads(proseo("template", "show", "L2-SYS", "-m", "TST", "--json"))
    assert shown["version"] == 1
    assert shown["settings"] == {
        "requested_product_classes": ["L2________"],
        "slicing_type": "ORBIT",
        "processing_mode": "OPER",
        "priority": 70,
        "auto_release": True,
    }
    assert "L2-SYS v1: L2________" in proseo("template", "list")
    bad = run(
        [
            *url,
            "template",
            "create",
            "BAD",
            "-m",
            "TST",
            "-c",
            "L2________",
            "--slicing",
            "TIME_SLICE",
        ]
    )
    assert bad == 3  # an input error, naming the field
    assert "slice_duration_s" in capsys.readouterr().err
    proseo(
        "trigger", "create", "DAILY", "-m", "TST", "--kind", "calendar", "--template", "L2-SYS",
        "--cron", "0 2 * * *",
        "--settings", '{"start": "2024-01-01T00:00:00Z", "stop": "2024-01-03T12:00:00Z"}',
    )  # fmt: skip
    assert "DAILY: CALENDAR -> template L2-SYS, enabled, 0 occurrences" in proseo(
        "trigger", "list", "-m", "TST"
    )
    shown = proseo(
        "trigger", "preview", "DAILY", "-m", "TST", "--next", "1", "--at", "2024-01-02T03:00:00Z"
    ).splitlines()  # fmt: skip
    assert [line.split()[:2] for line in shown] == [
        ["pending", "time:2024-01-01T02:00:00Z"],
        ["pending", "time:2024-01-02T02:00:00Z"],
        ["upcoming", "time:2024-01-03T02:00:00Z"],
    ]
    assert shown[0].endswith(
        "2023-12-31T00:00:00Z .. 2024-01-01T00:00:00Z  -> DAILY-20240101T020000Z"
    )
    proseo("trigger", "disable", "DAILY", "-m", "TST")
    assert json.loads(proseo("trigger", "show", "DAILY", "-m", "TST", "--json"))["enabled"] is False
    assert "orders:" not in proseo("trigger", "run")  # disabled: nothing
    proseo("template", "delete", "L2-SYS", "-m", "TST", code=5)  # used by the trigger
    proseo("trigger", "enable", "DAILY", "-m", "TST")
    made = proseo("trigger", "run")  # now: the three days from its start to its stop
    assert "trigger DAILY: order DAILY-20240101T020000Z (time:2024-01-01T02:00:00Z)" in made
    assert "orders: 3 approved, 2 planned, 2 released" in made
    assert "no stored orbit" in made  # 2023-12-31: before TST's first orbit
    assert json.loads(proseo("trigger", "show", "DAILY", "-m", "TST", "--json"))["occurrences"] == 3
    proseo("trigger", "delete", "DAILY", "-m", "TST")
    proseo("template", "delete", "L2-SYS", "-m", "TST")
    assert "no order templates" in proseo("template", "list")
