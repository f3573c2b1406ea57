"""The local executor: capacity, poll, failure, cancel, and adoption after a restart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from productionplanner.executors import ExecutorStatus, RunSpec, Submission
from productionplanner.executors.local import LocalExecutor
from proseo.plugins import load_executor_class
from proseo.storage import PosixStorage
from tests.runs import outcomes, wait_until_ended
from tests.test_wrapper import IDENTITY

PROCESSOR = """
import sys, time
from pathlib import Path
from processor_wrappers.joborder import read_job_order
seconds, code, job_order = float(sys.argv[1]), int(sys.argv[2]), read_job_order(Path(sys.argv[3]))
time.sleep(seconds)
for proc in job_order.procs:
    for output in proc.outputs:
        Path(output.file_name).write_text("done")
sys.exit(code)
"""


def _spec(tmp_path: Path, run_key: str, seconds: float, code: int = 0) -> RunSpec:
    script = tmp_path / "processor.py"
    script.write_text(PROCESSOR)
    storage = PosixStorage(tmp_path / "storage")
    source = tmp_path / "in.dat"
    source.write_text("x")
    storage.put(source, "T/in.dat")
    description = {
        **IDENTITY,
        "run_key": run_key,
        "storage": {"kind": "posix", "root": str(tmp_path / "storage")},
        "processor": {
            "name": "P",
            "version": "1",
            "max_time_s": 60,
            "tasks": [
                {
                    "name": "P",
                    "version": "1",
                    "command": f"{sys.executable} {script} {seconds} {code}",
                }
            ],
        },
        "inputs": [{"file_type": "IN", "files": [{"key": "T/in.dat", "name": "in.dat"}]}],
        "outputs": [{"file_type": "OUT", "file_name": "out.dat", "key": f"T/{run_key}/out.dat"}],
    }
    path = tmp_path / f"{run_key}.json"
    path.write_text(json.dumps(description))
    return RunSpec(run_key, path, tmp_path / f"{run_key}.manifest.json")


def test_capacity_success_and_failure(tmp_path: Path) -> None:
    assert load_executor_class("local") is LocalExecutor
    executor = LocalExecutor(tmp_path / "runs", max_parallel=2)
    specs = [
        _spec(tmp_path, "proseo-1-1", 0.3),
        _spec(tmp_path, "proseo-2-1", 0.3, code=200),
        _spec(tmp_path, "proseo-3-1", 0),
    ]
    submitted = executor.submit(specs)
    assert [s.run_key for s in submitted] == ["proseo-1-1", "proseo-2-1"]  # capacity 2
    assert executor.poll(submitted) == {
        "proseo-1-1": ExecutorStatus.ACTIVE,
        "proseo-2-1": ExecutorStatus.ACTIVE,
    }
    statuses = wait_until_ended(executor, submitted)
    assert statuses == {"proseo-1-1": ExecutorStatus.ENDED, "proseo-2-1": ExecutorStatus.ENDED}
    assert outcomes(specs[:2]) == {"proseo-1-1": "COMPLETED", "proseo-2-1": "FAILED"}
    assert json.loads(specs[1].manifest_path.read_text())["exit_code"] == 200
    # ended runs leave the active folders (counting active runs stays cheap)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ended"]
    assert (tmp_path / "runs" / "ended" / "proseo-2-1" / "wrapper.log").exists()
    third = executor.submit(specs)  # the first two are adopted, not started again
    assert [s.run_key for s in third] == ["proseo-1-1", "proseo-2-1", "proseo-3-1"]
    assert wait_until_ended(executor, third)["proseo-3-1"] is ExecutorStatus.ENDED
    assert outcomes(specs[2:]) == {"proseo-3-1": "COMPLETED"}
    assert (tmp_path / "storage" / "T/proseo-1-1/out.dat").read_text() == "done"


def test_cancel_and_adoption_after_a_restart(tmp_path: Path) -> None:
    first = LocalExecutor(tmp_path / "runs", max_parallel=4)
    long_run = _spec(tmp_path, "proseo-5-1", 30)
    (submission,) = first.submit([long_run])
    del first  # the dispatcher "dies"; its run goes on in its own session
    second = LocalExecutor(tmp_path / "runs", max_parallel=4)
    adopted = second.adopt(["proseo-5-1", "proseo-6-1"])
    assert adopted == [submission]
    assert second.poll(adopted) == {"proseo-5-1": ExecutorStatus.ACTIVE}
    assert second.poll([Submission("proseo-7-1", "1")]) == {"proseo-7-1": ExecutorStatus.UNKNOWN}
    assert second.submit([long_run]) == [submission]  # not started twice
    second.cancel(adopted)
    second.cancel(adopted)  # idempotent
    assert wait_until_ended(second, adopted, 15) == {"proseo-5-1": ExecutorStatus.ENDED}
    assert outcomes([long_run]) == {"proseo-5-1": "no manifest"}
    assert not long_run.manifest_path.exists()
