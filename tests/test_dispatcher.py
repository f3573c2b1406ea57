"""The dispatcher with the local executor and the TST processor, on SQLite and PostgreSQL:
a backward chain runs end to end, failures and retries, input timeouts, idempotent results,
lost submissions, SKIP LOCKED, and a dispatcher killed with SIGKILL and restarted."""

from __future__ import annotations

import collections
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderman.service import run_command, run_plan
from productionplanner.dispatcher import Dispatcher, TickReport
from productionplanner.executors import ExecutorStatus, Submission
from productionplanner.executors.local import LocalExecutor
from proseo.catalogue.facilities import default_facility
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import JobState, JobStepState, OrderState, StatefulEntity
from proseo.errors import ExecutorError
from proseo.model import Job, JobStep, ProcessingOrder, Product, ProductFile, StateHistory
from proseo.storage import PosixStorage
from tests.conftest import LOCAL_PROCESSES, approved_tst_order


def _released_order(database: Database, **overrides: Any) -> int:
    order_id = approved_tst_order(database, **overrides)
    run_plan(database, order_id)
    run_command(database, order_id, "release")
    return order_id


def _run_log(tmp_path: Path) -> Path:
    return tmp_path / "runs.log"


def _drain(dispatcher: Dispatcher, seconds: float = 120) -> TickReport:
    return dispatcher.run(interval_s=0.1, until_idle=True, timeout_s=seconds)


def _order(database: Database, order_id: int) -> ProcessingOrder:
    with database.transaction() as session:
        order = session.get_one(ProcessingOrder, order_id)
        session.expunge(order)
        return order


def _step_states(database: Database, order_id: int) -> collections.Counter[JobStepState]:
    with database.transaction() as session:
        return collections.Counter(
            session.scalars(
                select(JobStep.state).join(Job).where(Job.processing_order_id == order_id)
            )
        )


@pytest.fixture
def settings(tst_settings: Settings) -> Settings:
    return tst_settings


def test_backward_chain_runs_end_to_end(tst: Database, settings: Settings, tmp_path: Path) -> None:
    order_id = _released_order(
        tst, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    assert _step_states(tst, order_id) == {JobStepState.READY: 2, JobStepState.WAITING_INPUT: 2}
    dispatcher = Dispatcher(tst, settings)
    report = _drain(dispatcher)
    assert report.idle
    assert report.failed == 0
    order = _order(tst, order_id)
    assert order.state is OrderState.COMPLETED, order.state_message
    assert _step_states(tst, order_id) == {JobStepState.COMPLETED: 4}
    storage = PosixStorage(settings.storage_root)
    with tst.transaction() as session:
        jobs = session.scalars(select(Job).where(Job.processing_order_id == order_id)).all()
        assert {j.state for j in jobs} == {JobState.COMPLETED}
        outputs = session.execute(
            select(Product, ProductFile)
            .join(JobStep, Product.job_step_id == JobStep.id)
            .join(Job)
            .join(ProductFile, ProductFile.product_id == Product.id)
            .where(Job.processing_order_id == order_id)
        ).all()
        # two jobs x (L1B with two components, L2): six files, every one in storage with
        # the recorded size and MD5
        assert len(outputs) == 8
        for product, file in outputs:
            key = f"{file.file_path}/{file.product_file_name}"
            data = (settings.storage_root / key).read_bytes()
            assert len(data) == file.file_size_bytes
            assert hashlib.md5(data).hexdigest() == file.checksum
            assert product.generation_time is not None
            assert file.product_file_name.startswith(
                f"TST_{product.file_class or 'OPER'}_{product.product_class.product_type}"
            ) or file.product_file_name.startswith("TST_")
        # the L2 step read the L1B_RA component made by the L1B step of its job
        l2 = [p for p, _ in outputs if p.product_class.product_type == "L2________"]
        text = (
            settings.storage_root
            / next(f for p, f in outputs if p.id == l2[0].id).file_path
            / next(f for p, f in outputs if p.id == l2[0].id).product_file_name
        ).read_text()
        assert "input TST_" in text
        assert "L1B_RA____" in text
        step = session.scalars(
            select(JobStep).join(Job).where(Job.processing_order_id == order_id)
        ).first()
        assert step is not None
        assert step.attempt == 1
        assert step.exit_code == 0
        assert step.processing_start_time is not None
        assert step.processing_completion_time is not None
        assert "TST processor" in (step.processing_stdout or "")
        history = session.scalars(
            select(StateHistory.to_state)
            .where(
                StateHistory.entity_type == StatefulEntity.JOB_STEP,
                StateHistory.entity_id == step.id,
            )
            .order_by(StateHistory.id)
        ).all()
        assert history[-2:] == ["RUNNING", "COMPLETED"]
    assert storage.exists(f"{outputs[0][1].file_path}/{outputs[0][1].product_file_name}")
    runs = _run_log(tmp_path).read_text().splitlines()
    assert len(runs) == 4
    assert len(set(runs)) == 4
    # a second dispatcher over the same manifests changes nothing
    again = Dispatcher(tst, settings).run(once=True)
    assert not again.changed
    with tst.transaction() as session:
        # 29 L0 granules and one AUX_ORB___ from the fixture, eight outputs
        assert session.scalar(select(func.count(ProductFile.id))) == 30 + 8


def test_failures_are_retried_then_fail_the_order(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    order_id = _released_order(
        tst,
        max_retries=1,
        dynamic_processing_parameters={
            "tstRunLog": str(_run_log(tmp_path)),
            "tstFailTypes": "L2________",
        },
    )
    report = _drain(Dispatcher(tst, settings))
    assert report.idle
    order = _order(tst, order_id)
    assert order.state is OrderState.FAILED
    assert order.has_failed_job_steps
    assert "failed with exit code 200" in (order.state_message or "")
    assert _step_states(tst, order_id) == {JobStepState.COMPLETED: 2, JobStepState.FAILED: 2}
    runs = collections.Counter(
        line.split("_")[2] for line in _run_log(tmp_path).read_text().splitlines()
    )
    assert runs == {"L1B": 2, "L2": 4}  # each L2 step: attempt 1, automatic retry, attempt 2
    with tst.transaction() as session:
        failed = session.scalars(
            select(JobStep)
            .join(Job)
            .where(Job.processing_order_id == order_id, JobStep.state == JobStepState.FAILED)
        ).all()
        assert {s.attempt for s in failed} == {2}
        assert all(s.is_failed and s.exit_code == 200 for s in failed)
        assert all("told to fail" in (s.processing_stderr or "") for s in failed)
        assert session.scalars(
            select(Job.state).where(Job.processing_order_id == order_id)
        ).all() == [JobState.FAILED, JobState.FAILED]
        assert session.scalars(
            select(Job.has_failed_job_steps).where(Job.processing_order_id == order_id)
        ).all() == [True, True]
    # the operator's retry puts the failed steps back; their outputs are still missing
    _, retried = run_command(tst, order_id, "retry")
    assert retried == 2
    order = _order(tst, order_id)
    assert order.state is OrderState.PLANNED
    # no job step is failed any more: the flags are cleared on the order and on its jobs
    assert not order.has_failed_job_steps
    with tst.transaction() as session:
        assert session.scalars(
            select(Job.state).where(Job.processing_order_id == order_id)
        ).all() == [JobState.PLANNED, JobState.PLANNED]
        assert not any(
            session.scalars(
                select(Job.has_failed_job_steps).where(Job.processing_order_id == order_id)
            )
        )


def test_input_timeout_fails_or_releases(tst: Database, settings: Settings) -> None:
    # orbit 3 has 80 % of its L0: the L1B step waits (MINCOVER(90))
    spec = {"requested_product_classes": ["L1B_______"], "input_data_timeout_s": 1}
    orbit3 = {"orbits": [{"spacecraft": "TST1", "from": 3, "to": 3}]}
    failing = _released_order(tst, identifier="FAIL", **spec, **orbit3)
    releasing = _released_order(
        tst,
        identifier="RELEASE",
        release_on_input_timeout=True,
        output_parameters={"case": "release"},  # its own L1B, not the FAIL order's
        **spec,
        **orbit3,
    )
    dispatcher = Dispatcher(tst, settings)
    assert dispatcher.run(once=True).timed_out == 0
    time.sleep(1.1)
    report = _drain(dispatcher)
    assert report.timed_out == 2
    assert _order(tst, failing).state is OrderState.FAILED
    assert "input data timeout" in (_order(tst, failing).state_message or "")
    assert _order(tst, releasing).state is OrderState.COMPLETED  # ran with 4 of 5 granules


def test_lost_submission_is_submitted_again_once(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    """The dispatcher commits RUNNING, then dies before the executor got the run."""

    class Dying(LocalExecutor):
        def submit(self, specs: Any) -> Any:
            raise KeyboardInterrupt

    order_id = _released_order(
        tst, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    dying = Dispatcher(tst, settings, executors={"localhost": Dying(tmp_path / "pids")})
    with pytest.raises(KeyboardInterrupt):
        dying.tick()
    assert _step_states(tst, order_id)[JobStepState.RUNNING] == 2
    fresh = Dispatcher(tst, settings, executors={"localhost": LocalExecutor(tmp_path / "pids", 4)})
    first = fresh.tick()
    assert first.resubmitted == 2
    _drain(fresh)
    assert _order(tst, order_id).state is OrderState.COMPLETED
    runs = _run_log(tmp_path).read_text().splitlines()
    assert len(runs) == 4
    assert len(set(runs)) == 4


def test_skip_locked_leaves_locked_steps_to_another_dispatcher(
    tst: Database, settings: Settings, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is a PostgreSQL feature; SQLite serialises writers")
    order_id = _released_order(tst, orbits=[{"spacecraft": "TST1", "from": 4, "to": 6}])
    other = Session(tst.engine)
    try:
        locked = other.scalars(
            select(JobStep.id)
            .join(Job)
            .where(Job.processing_order_id == order_id, JobStep.state == JobStepState.READY)
            .order_by(JobStep.id)
            .limit(2)
            .with_for_update(skip_locked=True)
        ).all()
        assert len(locked) == 2
        report = Dispatcher(tst, settings).run(once=True)
        assert report.submitted == 1  # three L1B steps ready, two locked by the other
        with tst.transaction() as session:
            states = session.scalars(select(JobStep.state).where(JobStep.id.in_(locked))).all()
        assert set(states) == {JobStepState.READY}
    finally:
        other.rollback()
        other.close()
    _drain(Dispatcher(tst, settings))


def kill_dispatcher_while_running_and_restart(
    database: Database, settings: Settings, tmp_path: Path, sleep_s: int, timeout_s: int
) -> int:
    """Release a TST order over orbits 4-6 (three L1B then three L2 steps, each sleeping
    ``sleep_s``), start ``proseo dispatcher run``, SIGKILL it once three steps run, restart it
    with ``--until-idle`` and check the order completed with every step run exactly once.

    :returns: the order id.
    """
    order_id = _released_order(
        database,
        orbits=[{"spacecraft": "TST1", "from": 4, "to": 6}],
        dynamic_processing_parameters={
            "tstRunLog": str(_run_log(tmp_path)),
            "tstSleepSeconds": str(sleep_s),
        },
    )
    env = {
        **os.environ,
        "PROSEO_DATA_DIR": str(settings.data_dir),
        "PROSEO_DATABASE_URL": settings.effective_database_url,
        "PROSEO_EXECUTOR__MAX_PARALLEL": str(LOCAL_PROCESSES),
    }
    command = [sys.executable, "-m", "proseo", "dispatcher", "run", "--interval", "0.2"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _step_states(database, order_id)[JobStepState.RUNNING] < 3:
        assert time.monotonic() < deadline, "the dispatcher never started the steps"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.run(
        [*command, "--until-idle", "--timeout", str(timeout_s)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert _order(database, order_id).state is OrderState.COMPLETED
    runs = _run_log(tmp_path).read_text().splitlines()
    # orbits 4, 5 and 6 each make L1B then L2
    assert len(runs) == 6, runs
    assert len(set(runs)) == 6, runs
    return order_id


def test_dispatcher_killed_and_restarted_runs_nothing_twice(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    kill_dispatcher_while_running_and_restart(tst, settings, tmp_path, sleep_s=2, timeout_s=120)


def test_suspend_while_running_then_resume(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    order_id = _released_order(
        tst,
        orbits=[{"spacecraft": "TST1", "from": 4, "to": 6}],
        dynamic_processing_parameters={
            "tstRunLog": str(_run_log(tmp_path)),
            "tstSleepSeconds": "1",
        },
    )
    dispatcher = Dispatcher(tst, settings)
    assert dispatcher.tick().submitted == 3  # the three L1B steps
    assert _order(tst, order_id).state is OrderState.RUNNING
    _, still_running = run_command(tst, order_id, "suspend")
    assert still_running == 3
    assert _order(tst, order_id).state is OrderState.SUSPENDING
    _drain(dispatcher)  # the running steps finish; nothing new starts
    assert _order(tst, order_id).state is OrderState.PLANNED
    assert _step_states(tst, order_id) == {JobStepState.COMPLETED: 3, JobStepState.PLANNED: 3}
    run_command(tst, order_id, "resume")
    _drain(dispatcher)
    assert _order(tst, order_id).state is OrderState.COMPLETED
    assert len(_run_log(tmp_path).read_text().splitlines()) == 6


def test_forced_suspend_stops_the_runs(tst: Database, settings: Settings, tmp_path: Path) -> None:
    order_id = _released_order(
        tst,
        orbits=[{"spacecraft": "TST1", "from": 4, "to": 4}],
        dynamic_processing_parameters={"tstSleepSeconds": "30"},
    )
    dispatcher = Dispatcher(tst, settings)
    assert dispatcher.tick().submitted == 1
    run_command(tst, order_id, "suspend", force=True)
    assert _order(tst, order_id).state is OrderState.PLANNED
    assert dispatcher.tick().cancelled == 1
    (run_key,) = [p.name for p in (settings.data_dir / "runs").iterdir() if p.is_dir()]
    executor = next(iter(dispatcher._executors.values()))
    deadline = time.monotonic() + 15
    while executor.poll([Submission(run_key, "-")])[run_key] is ExecutorStatus.ACTIVE:
        assert time.monotonic() < deadline, "the run was not stopped"
        time.sleep(0.1)
    assert not (settings.data_dir / "runs" / run_key / "manifest.json").exists()
    assert _step_states(tst, order_id) == {JobStepState.PLANNED: 2}


def test_an_executor_failure_is_reported_and_the_steps_run_later(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    class Refusing(LocalExecutor):
        def submit(self, specs: Any) -> Any:
            raise ExecutorError(
                "sbatch failed with exit code 1: Unable to contact slurm controller"
            )

    order_id = _released_order(
        tst, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    refusing = Dispatcher(tst, settings, executors={"localhost": Refusing(tmp_path / "pids")})
    report = refusing.run(once=True)
    assert report.errors == [
        "dispatching to localhost: sbatch failed with exit code 1: "
        "Unable to contact slurm controller"
    ]
    assert _step_states(tst, order_id)[JobStepState.RUNNING] == 2  # taken, not yet running
    assert refusing.run(once=True).errors  # the next round tries again and says so again
    working = Dispatcher(tst, settings)
    _drain(working)
    assert _order(tst, order_id).state is OrderState.COMPLETED
    runs = _run_log(tmp_path).read_text().splitlines()
    assert len(runs) == 4
    assert len(set(runs)) == 4


def test_facility_changes_take_effect_in_the_next_round(tst: Database, settings: Settings) -> None:
    dispatcher = Dispatcher(tst, settings)
    dispatcher.run(once=True)
    with tst.transaction() as session:
        facility = default_facility(session)
        first = dispatcher._executor(facility)
        assert dispatcher._executor(facility) is first
        facility.max_job_steps = 7
        session.flush()
        second = dispatcher._executor(facility)
    assert second is not first
    assert isinstance(second, LocalExecutor)
    assert second.max_parallel == min(7, settings.executor.max_parallel)


def test_the_executor_capacity_bounds_what_is_taken(
    tst: Database, settings: Settings, tmp_path: Path
) -> None:
    order_id = _released_order(tst, orbits=[{"spacecraft": "TST1", "from": 4, "to": 6}])
    two = LocalExecutor(tmp_path / "pids", max_parallel=2)
    report = Dispatcher(tst, settings, executors={"localhost": two}).run(once=True)
    assert report.submitted == 2  # the facility could take 4; this machine runs 2
    assert _step_states(tst, order_id)[JobStepState.RUNNING] == 2
    assert _step_states(tst, order_id)[JobStepState.READY] == 1


def test_ready_steps_of_a_failed_order_do_not_keep_the_dispatcher_busy(
    tst: Database, settings: Settings
) -> None:
    """The L1B steps fail for good: their jobs and the order fail, the L2 steps stay waiting,
    and --until-idle ends instead of waiting for the operator."""
    order_id = _released_order(tst, dynamic_processing_parameters={"tstFailTypes": "L1B_______"})
    report = Dispatcher(tst, settings).run(interval_s=0.1, until_idle=True, timeout_s=60)
    assert report.idle
    assert _order(tst, order_id).state is OrderState.FAILED
    assert report.states == {}


def test_a_failed_run_leaves_no_stored_outputs(tst: Database, settings: Settings) -> None:
    """What a failed run stored of its outputs (here: as a wrapper killed half-way through its
    stage-out would leave) is deleted when the failure is collected: the next attempt names
    its outputs anew, so they would stay orphaned."""
    import json

    from proseo.catalogue.consistency import check_consistency
    from proseo.catalogue.facilities import storage_of_facility
    from proseo.contract import JobStepDescription

    _released_order(
        tst,
        orbits=[{"spacecraft": "TST1", "from": 4, "to": 4}],
        dynamic_processing_parameters={"tstFailTypes": "L1B_______", "tstSleepSeconds": "1"},
    )
    dispatcher = Dispatcher(tst, settings)
    assert dispatcher.tick().submitted == 1
    (key,) = [p.name for p in dispatcher.runs_dir.iterdir() if p.name.startswith("proseo-")]
    description = JobStepDescription.from_dict(
        json.loads((dispatcher.run_dir(key) / "description.json").read_text())
    )
    storage = storage_of_facility(tst, settings)
    partial = settings.data_dir / "partial.dat"
    partial.write_text("half of a stage-out")
    for output in description.outputs[:2]:
        storage.put(partial, output.key)
    assert len(check_consistency(tst, settings).orphans) == 2
    _drain(dispatcher)
    assert not any(storage.exists(o.key) for o in description.outputs)
    assert check_consistency(tst, settings).consistent


def _most_running_at_once(database: Database, step_ids: list[int]) -> int:
    """The largest number of the job steps RUNNING at one moment, from the state history
    (+1 when one became RUNNING, -1 when one left RUNNING)."""
    with database.transaction() as session:
        rows = session.execute(
            select(StateHistory.changed_at, StateHistory.from_state, StateHistory.to_state)
            .where(
                StateHistory.entity_type == StatefulEntity.JOB_STEP,
                StateHistory.entity_id.in_(step_ids),
            )
            .order_by(StateHistory.changed_at, StateHistory.id)
        ).all()
    events = []
    for at, before, after in rows:
        if after == JobStepState.RUNNING.value:
            events.append((at, 1))
        elif before == JobStepState.RUNNING.value:
            events.append((at, -1))
    most = running = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):  # leaving before entering
        running += change
        most = max(most, running)
    return most


def test_four_dispatchers_take_disjoint_steps_within_capacity(
    tst: Database, settings: Settings, tmp_path: Path, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("several dispatchers share one PostgreSQL (SQLite has one writer at a time)")
    capacity = 2
    with tst.transaction() as session:
        default_facility(session).max_job_steps = capacity
    order_id = _released_order(
        tst,
        orbits=[{"spacecraft": "TST1", "from": 1, "to": 6}],
        dynamic_processing_parameters={
            "tstRunLog": str(_run_log(tmp_path)),
            "tstSleepSeconds": "0.7",
        },
    )
    env = {
        **os.environ,
        "PROSEO_DATA_DIR": str(settings.data_dir),
        "PROSEO_DATABASE_URL": settings.effective_database_url,
        "PROSEO_EXECUTOR__MAX_PARALLEL": str(LOCAL_PROCESSES),
    }
    command = [
        sys.executable, "-m", "proseo", "dispatcher", "run", "--interval", "0.05",
        "--until-idle", "--timeout", "180",
    ]  # fmt: skip
    dispatchers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for dispatcher in dispatchers:
        _, errors = dispatcher.communicate(timeout=240)
        assert dispatcher.returncode == 0, errors
    # orbit 3 lacks a granule (its L1B waits): the other five orbits make L1B then L2
    states = _step_states(tst, order_id)
    assert states[JobStepState.COMPLETED] == 10, states
    runs = _run_log(tmp_path).read_text().splitlines()
    assert len(runs) == 10, runs
    assert len(set(runs)) == 10, runs  # no step ran twice
    with tst.transaction() as session:
        step_ids = list(
            session.scalars(select(JobStep.id).join(Job).where(Job.processing_order_id == order_id))
        )
    assert _most_running_at_once(tst, step_ids) == capacity  # loaded, never above
