"""Bad input gets a clear answer (issue 15): one error document with a request id for every
error of the REST API, ids and times checked at the edge, names matched whole, a missing
schema named, and text a Job Order cannot carry refused when the order is made."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from orderman.orders import create_order, parse_order_spec
from orderman.service import run_command, run_plan
from planner.slicing import count_job_windows, slice_order
from processor_wrappers.__main__ import main as wrapper_main
from productionplanner.descriptions import build_descriptions
from productionplanner.dispatcher import Dispatcher
from proseo.api.app import API_PREFIX, create_app
from proseo.catalogue.facilities import default_facility
from proseo.cli.app import run
from proseo.config import Settings, load_settings
from proseo.contract import RunManifest, RunStatus
from proseo.db import Database
from proseo.enums import JobStepState, SlicingType
from proseo.errors import InvalidInputError, SelectionRuleError
from proseo.model import Job, JobStep, Mission, ProcessingOrder
from proseo.model.base import utc_now
from proseo.rule_language import parse_rule
from proseo.storage import check_name
from tests.conftest import add_user, api_client, approved_tst_order, tst_order_spec
from tests.pgcluster import free_port
from tests.test_wrapper import tst_l1b_description

HUGE = "142454252895830228992"


def _is_error_document(body: Any, status_field: str | None = None) -> None:
    assert set(body) == {"error", "category", "message", "details"}, body
    assert body["details"]["request_id"]
    if status_field is not None:
        assert body["details"]["field"] == status_field, body


def test_every_error_is_one_document_with_a_request_id(tst: Database) -> None:
    app = create_app(load_settings(), database=tst)
    reader = api_client(
        app, add_user(tst, "reader", ["PRODUCT_READER", "ORDER_READER", "ORDER_MGR"])
    )
    too_small = reader.get("/products", params={"limit": 0}, headers={"X-Request-ID": "abc-1"})
    assert too_small.status_code == 422
    _is_error_document(too_small.json(), "limit")
    assert too_small.json()["details"]["request_id"] == "abc-1"
    assert too_small.headers["x-request-id"] == "abc-1"
    naive = reader.get("/products", params={"sensing_from": "2024-01-01T00:00:00"})
    assert naive.status_code == 422
    _is_error_document(naive.json(), "sensing_from")
    assert "timezone" in naive.json()["message"]
    for path in (f"/products/{HUGE}", f"/orders/{HUGE}", f"/jobsteps/{HUGE}"):
        huge = reader.get(path)
        assert huge.status_code == 422, path
        _is_error_document(huge.json())
        assert HUGE in huge.json()["message"]
    offset = reader.get("/products", params={"offset": HUGE})
    assert offset.status_code == 422
    _is_error_document(offset.json(), "offset")
    nowhere = reader.get("/no/such/route")
    assert nowhere.status_code == 404
    _is_error_document(nowhere.json())
    wrong_method = reader.put("/products")
    assert wrong_method.status_code == 405
    _is_error_document(wrong_method.json())
    nul = reader.post(
        "/orders",
        json=tst_order_spec(identifier="NUL", dynamic_processing_parameters={"p": "a\x00b"}),
    )
    assert nul.status_code == 422
    _is_error_document(nul.json(), "dynamic_processing_parameters")
    assert "Job Order File" in nul.json()["message"]
    responses = app.openapi()["paths"][f"{API_PREFIX}/orders/{{order_id}}"]["get"]["responses"]
    assert {"401", "403", "404", "422", "500"} <= set(responses)


def test_an_unexpected_error_is_a_document_and_a_log_line(
    tst: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(load_settings(), database=tst)
    token = add_user(tst, "reader", ["MISSION_READER"])

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("proseo.api.catalogue.list_missions", broken)
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.get(
        f"{API_PREFIX}/missions",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "bug-42"},
    )
    assert answer.status_code == 500
    _is_error_document(answer.json())
    assert "bug-42" in answer.json()["message"]
    assert any("bug-42" in r.getMessage() for r in caplog.records)


def test_without_a_schema_the_answer_says_db_upgrade(
    empty_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = empty_engine.url.render_as_string(hide_password=False)
    assert run(["--database-url", url, "mission", "list"]) == 11
    assert "run 'proseo db upgrade'" in capsys.readouterr().err
    client = TestClient(create_app(load_settings(), database=Database(empty_engine)))
    answer = client.get(f"{API_PREFIX}/missions", auth=("someone", "password"))
    assert answer.status_code == 500
    _is_error_document(answer.json())
    assert "proseo db upgrade" in answer.json()["message"]
    data_dir = tmp_path / "fresh"
    assert run(["--data-dir", str(data_dir), "order", "list"]) == 11
    assert "run 'proseo db upgrade' first" in capsys.readouterr().err
    assert not (data_dir / "proseo.sqlite").exists()  # no empty database left behind


def test_names_are_matched_whole_and_ids_are_bounded_in_the_cli(
    tst: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("x.dat\n", "x.dat\r", ".hidden", "a/b", "..", ""):
        with pytest.raises(InvalidInputError):
            check_name(bad)
    assert check_name("S5P_OPER_L2__NO2____20240101T000000.nc") != ""
    url = tst.engine.url.render_as_string(hide_password=False)
    for args in (["order", "show", HUGE], ["jobstep", "show", HUGE], ["product", "show", "0"]):
        assert run(["--database-url", url, *args]) == 2, args
        assert "Invalid value" in capsys.readouterr().err


def test_naive_times_in_ingestion_metadata_are_refused(tst: Database, tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path), database=tst)
    ingestor = api_client(app, add_user(tst, "ingestor", ["PRODUCT_INGESTOR"]))
    metadata = {
        "product_type": "L0________",
        "sensing_start": "2024-03-01T00:00:00",
        "sensing_stop": "2024-03-01T00:20:00Z",
    }
    answer = ingestor.post(
        "/ingest/TST",
        data={"metadata": json.dumps(metadata)},
        files=[("files", ("x.dat", b"x"))],
    )
    assert answer.status_code == 422
    _is_error_document(answer.json(), "metadata.sensing_start")


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
    length_s=st.integers(min_value=0, max_value=4 * 10**8),
    slice_s=st.integers(min_value=1, max_value=10**7),
    slicing=st.sampled_from(
        [
            SlicingType.NONE,
            SlicingType.TIME_SLICE,
            SlicingType.CALENDAR_DAY,
            SlicingType.CALENDAR_MONTH,
            SlicingType.CALENDAR_YEAR,
        ]
    ),
)
def test_window_count_equals_the_windows_made(
    start: datetime, length_s: int, slice_s: int, slicing: SlicingType
) -> None:
    assume(slicing is not SlicingType.TIME_SLICE or length_s // slice_s < 5_000)
    begin = start.replace(tzinfo=UTC)
    stop = begin + timedelta(seconds=length_s)
    duration = timedelta(seconds=slice_s)
    made = slice_order(slicing, begin, stop, slice_duration=duration)
    assert count_job_windows(slicing, begin, stop, duration) == len(made)


def test_orders_beyond_the_limits_are_refused_before_anything_is_built(
    tst: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(load_settings(limits={"max_request_bytes": 4096}), database=tst)
    manager = api_client(app, add_user(tst, "manager", ["ORDER_MGR"]))
    huge = manager.post(
        "/orders",
        json=tst_order_spec(
            identifier="HUGE",
            orbits=[],
            start_time="2000-01-01T00:00:00Z",
            stop_time="2024-01-01T00:00:00Z",
            slicing_type="TIME_SLICE",
            slice_duration_s=0.001,
        ),
    )
    assert huge.status_code == 422
    _is_error_document(huge.json(), "slicing_type")
    assert "limits.max_job_windows" in huge.json()["message"]
    assert "campaign" in huge.json()["message"]
    ages = manager.post(
        "/orders",
        json=tst_order_spec(
            identifier="AGES",
            orbits=[],
            start_time="0001-01-01T00:00:00Z",
            stop_time="9999-12-31T00:00:00Z",
            slicing_type="CALENDAR_DAY",
        ),
    )
    assert ages.status_code == 422
    _is_error_document(ages.json(), "slicing_type")
    beyond = manager.post(
        "/orders",
        json=tst_order_spec(identifier="BEYOND", orbits=[{"spacecraft": "TST1", "from": 95,
                                                           "to": 1_000_000}]),
    )  # fmt: skip
    assert beyond.status_code == 422
    _is_error_document(beyond.json(), "orbits")
    assert "stored: 1-100" in beyond.json()["message"]
    body = manager.post("/orders", content=b"{" + b" " * 5000 + b"}",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert body.status_code == 413
    _is_error_document(body.json())
    with pytest.raises(InvalidInputError, match="past the year 9999"):
        slice_order(
            SlicingType.CALENDAR_YEAR,
            datetime(9990, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, tzinfo=UTC),
        )
    url = tst.engine.url.render_as_string(hide_password=False)
    assert run(["--database-url", url, "mission", "sync", "TST", "--orbits", "1-1000000"]) == 3
    assert "limits.max_orbits_per_sync" in capsys.readouterr().err


def test_an_unusable_description_still_gives_a_failed_manifest(tmp_path: Path) -> None:
    run = tmp_path / "proseo-7-1"
    run.mkdir()
    (run / "description.json").write_text('{"schema_version": 1, "run_key": ')
    assert wrapper_main([str(run / "description.json"), str(run / "manifest.json")]) == 2
    manifest = RunManifest.from_dict(json.loads((run / "manifest.json").read_text()))
    assert manifest.status is RunStatus.FAILED
    assert manifest.run_key == "proseo-7-1"
    assert manifest.reason is not None
    assert "unusable job step description" in manifest.reason


def test_unreachable_storage_is_the_job_steps_reason(
    tst: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    """The wrapper cannot reach the facility's S3 storage (nothing listens at the endpoint):
    once its patience, the requeues and the clean-up's patience are used up (all set short
    here; by default they span hours of an outage), the job step fails and the order's
    reason says why (not 'the run ended without a result manifest')."""
    tst_settings.executor.storage_patience_s = 0.5
    tst_settings.executor.transient_requeues = 1
    tst_settings.executor.requeue_backoff_s = 0.1
    tst_settings.executor.cleanup_patience_s = 0.0
    closed = free_port()
    with tst.transaction() as session:
        default_facility(session).storage_settings = {
            "kind": "s3",
            "bucket": "nowhere",
            "endpoint_url": f"http://127.0.0.1:{closed}",
            "access_key": "x",
            "secret_key": "y",
        }
    order_id = approved_tst_order(
        tst, identifier="UNREACHABLE", orbits=[{"spacecraft": "TST1", "from": 1, "to": 1}]
    )
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    Dispatcher(tst, tst_settings).run(interval_s=0.1, until_idle=True, timeout_s=120)
    with tst.transaction() as session:
        failed = session.scalars(
            select(JobStep)
            .join(Job)
            .where(Job.processing_order_id == order_id, JobStep.state == JobStepState.FAILED)
        ).all()
        message = session.get_one(ProcessingOrder, order_id).state_message or ""
    assert failed
    assert all((s.attempt, s.transient_failures) == (2, 1) for s in failed)
    assert "without a result manifest" not in message
    assert "the storage could not be reached for 0.5 s" in message, message
    assert f"127.0.0.1:{closed}" in message, message


def test_the_clean_up_patience_counts_from_the_end_of_the_run(
    tst: Database, tst_settings: Settings
) -> None:
    """A failed run's outputs cannot be deleted (nothing listens at the storage's endpoint).
    The clean-up patience counts from the run's end in its manifest, so a dispatcher
    started (or restarted) after the patience passed records the failure at its first try,
    while one within the patience leaves the step to a later round."""
    tst_settings.executor.cleanup_patience_s = 600.0
    storage = {
        "kind": "s3",
        "bucket": "nowhere",
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "access_key": "x",
        "secret_key": "y",
    }
    dispatcher = Dispatcher(tst, tst_settings)
    run_dir = dispatcher.run_dir("proseo-7-1")
    run_dir.mkdir(parents=True)
    description = tst_l1b_description(storage, "in/L0.dat", "out/L1B.dat")
    (run_dir / "description.json").write_text(json.dumps(description))
    with tst.transaction() as session:
        facility = default_facility(session)
        facility.storage_settings = storage
        recent = utc_now() - timedelta(seconds=10)
        assert not dispatcher._cleaned_up(facility, "proseo-7-1", recent)
        restarted = Dispatcher(tst, tst_settings)  # its own back-off, no memory of the try
        long_ago = utc_now() - timedelta(seconds=601)
        assert restarted._cleaned_up(facility, "proseo-7-1", long_ago)


def test_outputs_of_an_order_without_a_file_class_follow_the_missions_names(
    tst: Database,
) -> None:
    from missions.testmission import plugin

    with tst.transaction() as session:
        order = create_order(session, parse_order_spec(tst_order_spec(identifier="NO-FC")))
        assert order.file_class == "OPER"
        order_id = order.id
    run_command(tst, order_id, "approve")
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    with tst.transaction() as session:
        step_ids = session.scalars(
            select(JobStep.id).join(Job).where(Job.processing_order_id == order_id)
        ).all()
        outputs = build_descriptions(
            session, list(step_ids), default_facility(session), {"kind": "posix", "root": "/"},
            utc_now(),
        )  # fmt: skip
    names = [o.file_name for d in outputs.values() for o in d.outputs]
    assert names
    assert all(plugin.parse_file_name(name) is not None for name in names), names


def test_a_malformed_multipart_body_is_an_input_error(tst: Database, tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path), database=tst)
    ingestor = api_client(app, add_user(tst, "ingestor", ["PRODUCT_INGESTOR"]))
    answer = ingestor.post(
        "/ingest/TST",
        content=b"--b\r\n[[]]--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert answer.status_code == 422
    _is_error_document(answer.json(), "body")


def test_rules_refuse_huge_deltas_and_merges_that_move_the_target() -> None:
    with pytest.raises(SelectionRuleError, match="at most 36500 d"):
        parse_rule("FOR L0 SELECT ValIntersect(99999999999999999999 d, 0)")
    assert parse_rule("FOR L0 SELECT ValIntersect(36500 d, 0)")
    same_target = parse_rule(
        "FOR AUX SELECT LatestValidityClosest(1d, 1d); FOR AUX SELECT LatestValidityClosest(2d, 2d)"
    )
    (policy,) = same_target.simple_rules[0].policies
    assert (policy.delta_before_ms, policy.delta_after_ms) == (2 * 86_400_000, 2 * 86_400_000)
    with pytest.raises(InvalidInputError, match="aim at different times"):
        parse_rule(
            "FOR AUX SELECT LatestValidityClosest(1d, 2d); "
            "FOR AUX SELECT LatestValidityClosest(2d, 2d)"
        )


def test_sample_data_makes_tst_inputs_the_plugin_recognises(tmp_path: Path) -> None:
    from missions.testmission import plugin
    from missions.testmission.sample_data import write_sample_data

    files = write_sample_data(tmp_path, 1, 2)
    assert len(files) == 2 * 5 + 1
    kinds = [plugin.parse_file_name(f.name) for f in files]
    assert all(k is not None for k in kinds)
    assert {k.product_type for k in kinds if k} == {"L0________", "AUX_ORB___"}
    with pytest.raises(ValueError, match="1 to 100"):
        write_sample_data(tmp_path, 99, 101)


def test_nul_characters_are_refused_not_a_server_error(tst: Database) -> None:
    app = create_app(load_settings(), database=tst)
    user = api_client(app, add_user(tst, "cli", ["CLI_USER", "ORDER_MGR"]))
    token = user.post("/tokens", json={"name": "a\x00b"})
    assert token.status_code == 422
    _is_error_document(token.json(), "name")
    order = user.post("/orders", json=tst_order_spec(identifier="x\x00y"))
    assert order.status_code == 422
    _is_error_document(order.json(), "identifier")
    if tst.backend == "postgresql":  # the safety net below the API: no 500 either
        with pytest.raises(InvalidInputError, match="NUL"), tst.transaction() as session:
            session.add(Mission(code="NUL", name="a\x00b"))


def test_order_create_quiet_prints_the_new_id(
    tst: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    url = tst.engine.url.render_as_string(hide_password=False)
    args = ["--database-url", url, "order", "create", "-m", "TST", "--id", "Q-1", "-c",
            "L2________", "--orbits", "TST1:1-2", "--slicing", "ORBIT", "-q"]  # fmt: skip
    assert run(args) == 0
    printed = capsys.readouterr().out.strip()
    with tst.transaction() as session:
        made = session.scalars(select(ProcessingOrder).where(ProcessingOrder.identifier == "Q-1"))
        assert printed == str(made.one().id)


def test_two_dispatchers_on_one_database_both_survive_and_run_each_step_once(
    tst: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    run_log = tmp_path / "runs.log"
    order_id = approved_tst_order(
        tst,
        identifier="TWO",
        orbits=[{"spacecraft": "TST1", "from": 1, "to": 2}],
        dynamic_processing_parameters={"tstRunLog": str(run_log)},
    )
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    proseo = str(Path(sys.executable).with_name("proseo"))
    args = [proseo, "--database-url", tst.engine.url.render_as_string(hide_password=False),
            "--data-dir", str(tst_settings.data_dir), "dispatcher", "run", "--until-idle",
            "--interval", "0.1", "--timeout", "120"]  # fmt: skip
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [r.communicate(timeout=180)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert all("Traceback" not in out for out in outputs), outputs
    with tst.transaction() as session:
        assert session.get_one(ProcessingOrder, order_id).state.value == "COMPLETED"
        steps = session.scalars(
            select(JobStep.id).join(Job).where(Job.processing_order_id == order_id)
        ).all()
    assert len(run_log.read_text().splitlines()) == len(steps)  # each step ran once


def test_long_planning_reports_progress_and_an_interruption_leaves_nothing(
    tst: Database,
) -> None:
    order_id = approved_tst_order(
        tst,
        identifier="LONG",
        orbits=[],
        start_time="2024-01-01T00:00:00Z",
        stop_time="2024-01-07T00:00:00Z",
        slicing_type="TIME_SLICE",
        slice_duration_s=20,
        requested_product_classes=["L2________"],
    )
    proseo = str(Path(sys.executable).with_name("proseo"))
    url = tst.engine.url.render_as_string(hide_password=False)
    planning = subprocess.Popen(
        [proseo, "--database-url", url, "order", "plan", str(order_id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert planning.stderr is not None
    first = planning.stderr.readline()  # the first phase has ended: planning is under way
    assert first.startswith("planning: catalogue and job windows"), first
    planning.send_signal(signal.SIGINT)
    _, rest = planning.communicate(timeout=120)
    assert planning.returncode == 130, rest
    assert "interrupted: nothing was written" in rest
    with tst.transaction() as session:
        assert session.get_one(ProcessingOrder, order_id).state.value == "APPROVED"
        assert (
            session.scalars(select(Job.id).where(Job.processing_order_id == order_id)).all() == []
        )
