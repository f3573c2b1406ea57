"""The processor wrapper: stage in, Job Order File, run, exit-code rules, stage out, manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import rasterio

from missions.landsat.sample_data import SCENES, fetch_sample_data
from processor_wrappers.wrapper import run_job_step
from proseo.contract import JobStepDescription
from proseo.storage import PosixStorage

SCRIPT = """
import sys, time
from pathlib import Path
from processor_wrappers.joborder import read_job_order
code, mode, job_order = int(sys.argv[1]), sys.argv[2], read_job_order(Path(sys.argv[3]))
print("processing", job_order.processor_name, file=sys.stderr)
if mode == "sleep":
    time.sleep(30)
if mode == "write":
    for proc in job_order.procs:
        for output in proc.outputs:
            names = [n for i in proc.inputs for n in i.file_names]
            Path(output.file_name).write_text("made from " + ",".join(Path(n).name for n in names))
sys.exit(code)
"""


IDENTITY = {
    "job_step_id": 7,
    "attempt": 1,
    "mission": "TST",
    "processing_order": "ORD-1",
    "configured_processor": "TSTL1B_1.0.0_1",
}
"""The identifying fields every job step description carries (informational for the wrapper)."""


def _description(tmp_path: Path, command: str, **extra: Any) -> JobStepDescription:
    storage = PosixStorage(tmp_path / "storage")
    source = tmp_path / "in.dat"
    source.write_text("input")
    storage.put(source, "TST/L0/a/in.dat")
    data = {
        **IDENTITY,
        "run_key": "proseo-7-0",
        "storage": {"kind": "posix", "root": str(tmp_path / "storage")},
        "processor": {
            "name": "TSTL1B",
            "version": "1.0.0",
            "max_time_s": extra.pop("max_time_s", 60),
            "tasks": [{"name": "TSTL1B", "version": "1.0.0", "command": command}],
        },
        "sensing_start": "2024-01-01T00:00:00+00:00",
        "sensing_stop": "2024-01-01T01:40:00+00:00",
        "inputs": [
            {"file_type": "L0________", "files": [{"key": "TST/L0/a/in.dat", "name": "in.dat"}]}
        ],
        "outputs": [
            {"file_type": "L1B_______", "file_name": "out.dat", "key": "TST/L1B/b/out.dat"}
        ],
        "manifest_key": "runs/proseo-7-0/manifest.json",
        **extra,
    }
    return JobStepDescription.from_dict(data)


def _script(tmp_path: Path) -> str:
    path = tmp_path / "processor.py"
    path.write_text(SCRIPT)
    return f"{sys.executable} {path}"


@pytest.mark.parametrize(
    ("code", "mode", "status", "reason"),
    [
        (0, "write", "COMPLETED", None),
        (3, "write", "COMPLETED_WITH_WARNINGS", "warning code 3"),
        (200, "write", "FAILED", "exit code 200"),
        (0, "nothing", "FAILED", "did not write out.dat"),
    ],
)
def test_exit_code_rules(
    tmp_path: Path, code: int, mode: str, status: str, reason: str | None
) -> None:
    description = _description(tmp_path, f"{_script(tmp_path)} {code} {mode}")
    result = run_job_step(description)
    storage = PosixStorage(tmp_path / "storage")
    assert result.status == status
    assert result.exit_code == code
    assert (reason is None and result.reason is None) or (reason or "") in (result.reason or "")
    assert "processing TSTL1B" in result.log_tail
    if status == "FAILED":
        assert result.outputs == ()
        assert not storage.exists("TST/L1B/b/out.dat")
    else:
        (output,) = result.outputs
        assert storage.stat("TST/L1B/b/out.dat").md5 == output.md5
        assert (tmp_path / "storage" / "TST/L1B/b/out.dat").read_text() == "made from in.dat"
    manifest = json.loads((tmp_path / "storage" / "runs/proseo-7-0/manifest.json").read_text())
    assert manifest["status"] == status


def test_maximum_time_is_enforced(tmp_path: Path) -> None:
    description = _description(tmp_path, f"{_script(tmp_path)} 0 sleep", max_time_s=1)
    result = run_job_step(description)
    assert result.status == "FAILED"
    assert "maximum time of 1 s" in (result.reason or "")
    assert result.duration_s < 10


def test_wrapper_runs_the_real_landsat_toa_processor(tmp_path: Path) -> None:
    data = fetch_sample_data()
    storage = PosixStorage(tmp_path / "storage")
    files = []
    for path in [*sorted(data.glob("L[CE]0*")), data / "DEM.TIF"]:
        key = f"LANDSAT/in/{path.name}"
        storage.put(path, key)
        files.append({"key": key, "name": path.name})
    description = {
        **IDENTITY,
        "run_key": "proseo-1-0",
        "storage": {"kind": "posix", "root": str(tmp_path / "storage")},
        "processor": {
            "name": "LTOA",
            "version": "1.0.0",
            "max_time_s": 120,
            "tasks": [
                {
                    "name": "LTOA",
                    "version": "1.0.0",
                    "command": f"{sys.executable} -m missions.landsat.processors toa",
                }
            ],
        },
        "inputs": [
            {"file_type": "L1TP", "files": [f for f in files if f["name"] != "DEM.TIF"]},
            {"file_type": "DEM", "files": [f for f in files if f["name"] == "DEM.TIF"]},
        ],
        "outputs": [
            {"file_type": "L2_TOA", "file_name": "toa.tif", "key": "LANDSAT/L2_TOA/x/toa.tif"}
        ],
    }
    path = tmp_path / "description.json"
    path.write_text(json.dumps(description))
    manifest = tmp_path / "manifest.json"
    completed = subprocess.run(
        [sys.executable, "-m", "processor_wrappers", str(path), str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(manifest.read_text())
    assert result["status"] == "COMPLETED"
    with rasterio.open(tmp_path / "storage" / "LANDSAT/L2_TOA/x/toa.tif") as toa:
        assert set(toa.descriptions) == {f"{s}:{b}" for s in SCENES for b in ("red", "nir")}


def tst_l1b_description(
    storage: dict[str, Any], input_key: str, output_key: str, **dynamic: str
) -> dict[str, Any]:
    """A job step description (as JSON data) running the TST L1B processor on one L0 file
    stored at ``input_key``, its output going to ``output_key`` in ``storage``."""
    return {
        **IDENTITY,
        "run_key": "proseo-7-1",
        "storage": storage,
        "processor": {
            "name": "TSTL1",
            "version": "1.0.0",
            "tasks": [
                {
                    "name": "TSTL1",
                    "version": "1.0.0",
                    "command": "python -m missions.testmission.processor",
                }
            ],
        },
        "dynamic_parameters": dynamic,
        "inputs": [{"file_type": "L0________", "files": [{"key": input_key, "name": "1/in.dat"}]}],
        "outputs": [
            {
                "file_type": "L1B_______",
                "file_name": output_key.rsplit("/", 1)[-1],
                "key": output_key,
            }
        ],
    }


def _wrapper_run(tmp_path: Path, sleep_s: str) -> tuple[list[str], Path, Path]:
    """A TST L1B run on POSIX storage whose processor sleeps ``sleep_s`` seconds: the wrapper
    command line (description and manifest paths), the manifest path and the processor's
    run log (one line per processor run)."""
    storage = PosixStorage(tmp_path / "storage")
    (tmp_path / "in.dat").write_text("x")
    storage.put(tmp_path / "in.dat", "TST/L0/u/in.dat")
    run_log = tmp_path / "runs.log"
    description = tst_l1b_description(
        {"kind": "posix", "root": str(tmp_path / "storage")},
        "TST/L0/u/in.dat",
        "TST/L1B/v/o.dat",
        tstSleepSeconds=sleep_s,
        tstRunLog=str(run_log),
    )
    path = tmp_path / "description.json"
    path.write_text(json.dumps(description))
    manifest = tmp_path / "run" / "manifest.json"
    return [sys.executable, "-m", "processor_wrappers", str(path), str(manifest)], manifest, run_log


def test_a_duplicate_wrapper_waits_and_never_runs_the_processor_twice(tmp_path: Path) -> None:
    """A dispatcher that lost track of a run submits it again: the second wrapper of the same
    run key waits for the first and reports its outcome."""
    command, manifest, run_log = _wrapper_run(tmp_path, "1.5")
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.wait(timeout=60) == 0
    assert second.returncode == 0
    assert "waiting" in second.stderr
    assert "already ran (COMPLETED)" in second.stderr
    assert run_log.read_text().splitlines() == ["o.dat"]  # the processor ran once
    assert json.loads(manifest.read_text())["status"] == "COMPLETED"


def test_a_duplicate_of_a_killed_wrapper_does_not_run_the_step_again(tmp_path: Path) -> None:
    """The first wrapper of a run is killed while its processor runs; the duplicate a
    dispatcher submitted (it had lost track) gets the lock, sees the run started, and writes a
    FAILED manifest instead of running the processor a second time under the same run key."""
    command, manifest, run_log = _wrapper_run(tmp_path, "30")
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (run_log.exists() and run_log.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the wrapper and its processor
    first.wait(timeout=10)
    assert not manifest.exists()
    second = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert second.returncode == 1
    assert "not run again" in second.stderr
    assert run_log.read_text().splitlines() == ["o.dat"]  # the processor ran once
    written = json.loads(manifest.read_text())
    assert written["status"] == "FAILED"
    assert "killed" in written["reason"]
