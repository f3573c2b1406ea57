"""The Slurm executor and the dispatcher against a real single-node Slurm on localhost,
started by the test setup (:mod:`tests.slurmcluster`): submit, array submit, poll, a failing
job, cancel, adoption after a restart, and a dispatcher killed with SIGKILL and restarted."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from productionplanner.dispatcher import Dispatcher
from productionplanner.executors import ExecutorStatus
from productionplanner.executors.slurm import SlurmExecutor, _expand
from proseo.catalogue.facilities import default_facility
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import OrderState
from proseo.model import JobStep
from proseo.plugins import load_executor_class
from tests.runs import outcomes, wait_until_ended
from tests.slurmcluster import SlurmCluster, SlurmUnavailable
from tests.test_dispatcher import (
    _order,
    _released_order,
    _run_log,
    kill_dispatcher_while_running_and_restart,
)
from tests.test_local_executor import _spec


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    try:
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    except SlurmUnavailable as error:
        if os.environ.get("PROSEO_REQUIRE_SLURM") == "1":
            raise
        pytest.skip(f"no Slurm here: {error}")
    yield cluster
    cluster.stop()


def _executor(slurm: SlurmCluster, state: Path) -> SlurmExecutor:
    return SlurmExecutor(state, partition=slurm.partition, env=slurm.env)


def test_array_task_strings() -> None:
    assert _expand("2-5,7,9-11%4") == {2, 3, 4, 5, 7, 9, 10, 11}
    assert _expand("0-6:3") == {0, 3, 6}


def test_submit_array_poll_fail_and_adopt(slurm: SlurmCluster, tmp_path: Path) -> None:
    assert load_executor_class("slurm") is SlurmExecutor
    executor = _executor(slurm, tmp_path / "state")
    single = [_spec(tmp_path, "proseo-1-1", 0.2)]
    (one,) = executor.submit(single)
    assert one.backend_id.isdigit()
    array = [
        _spec(tmp_path, "proseo-2-1", 0.2),
        _spec(tmp_path, "proseo-3-1", 0.2, code=200),
        _spec(tmp_path, "proseo-4-1", 0.2),
    ]
    submitted = executor.submit(array)
    assert [s.backend_id.split("_")[1] for s in submitted] == ["0", "1", "2"]
    assert len({s.backend_id.split("_")[0] for s in submitted}) == 1  # one sbatch, one array
    statuses = wait_until_ended(executor, [one, *submitted])
    assert set(statuses.values()) == {ExecutorStatus.ENDED}
    assert outcomes([*single, *array]) == {
        "proseo-1-1": "COMPLETED",
        "proseo-2-1": "COMPLETED",
        "proseo-3-1": "FAILED",
        "proseo-4-1": "COMPLETED",
    }
    failed = json.loads(array[1].manifest_path.read_text())
    assert failed["status"] == "FAILED"
    assert failed["exit_code"] == 200
    assert (tmp_path / "storage" / "T/proseo-4-1/out.dat").read_text() == "done"
    # a new executor on the same state folder (a restarted dispatcher) adopts, never resubmits
    again = _executor(slurm, tmp_path / "state")
    assert again.adopt(["proseo-2-1", "proseo-9-1"]) == [submitted[0]]
    assert again.submit(array) == submitted


def test_groups_larger_than_the_array_limit_go_as_several_arrays(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    """Slurm refuses an array beyond its MaxArraySize ("Invalid job array specification"):
    five runs with arrays of at most two tasks are three submissions, and all complete."""
    executor = SlurmExecutor.from_settings(
        {"slurm_conf": str(slurm.conf), "partition": slurm.partition, "max_array_size": 2},
        state_dir=tmp_path / "state",
        capacity=10,
    )
    specs = [_spec(tmp_path, f"proseo-{n}-1", 0.1) for n in range(20, 25)]
    submitted = executor.submit(specs)
    jobs = [s.backend_id.split("_")[0] for s in submitted]
    assert len(set(jobs)) == 3
    assert [jobs.count(j) for j in dict.fromkeys(jobs)] == [2, 2, 1]
    assert set(wait_until_ended(executor, submitted).values()) == {ExecutorStatus.ENDED}
    assert set(outcomes(specs).values()) == {"COMPLETED"}
    with pytest.raises(ValueError, match="max_array_size must be at least 1"):
        SlurmExecutor(tmp_path / "other", max_array_size=0)


def test_cancel(slurm: SlurmCluster, tmp_path: Path) -> None:
    executor = _executor(slurm, tmp_path / "state")
    long_run = _spec(tmp_path, "proseo-5-1", 60)
    (submission,) = executor.submit([long_run])
    deadline = time.monotonic() + 30
    while executor.poll([submission])["proseo-5-1"] is not ExecutorStatus.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    executor.cancel([submission])
    executor.cancel([submission])  # idempotent
    assert wait_until_ended(executor, [submission], 30) == {"proseo-5-1": ExecutorStatus.ENDED}
    assert outcomes([long_run]) == {"proseo-5-1": "no manifest"}
    assert not long_run.manifest_path.exists()


@pytest.fixture
def slurm_facility(tst: Database, slurm: SlurmCluster) -> Database:
    with tst.transaction() as session:
        facility = default_facility(session)
        facility.executor_kind = "slurm"
        facility.executor_settings = {
            "slurm_conf": str(slurm.conf),
            "partition": slurm.partition,
        }
    return tst


def test_dispatcher_runs_an_order_on_slurm(
    slurm_facility: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    order_id = _released_order(
        slurm_facility, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    report = Dispatcher(slurm_facility, tst_settings).run(
        interval_s=0.2, until_idle=True, timeout_s=180
    )
    assert report.completed == 4
    assert _order(slurm_facility, order_id).state is OrderState.COMPLETED
    runs = _run_log(tmp_path).read_text().splitlines()
    assert len(runs) == 4
    assert len(set(runs)) == 4
    state = tst_settings.data_dir.resolve() / "executor-localhost" / "submissions.jsonl"
    assert len(state.read_text().splitlines()) == 4  # each run key submitted once


def test_dispatcher_killed_and_restarted_adopts_slurm_jobs(
    slurm_facility: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    kill_dispatcher_while_running_and_restart(
        slurm_facility, tst_settings, tmp_path, sleep_s=3, timeout_s=180
    )
    with slurm_facility.transaction() as session:
        assert set(session.scalars(select(JobStep.attempt))) == {1}  # adopted, not re-run
