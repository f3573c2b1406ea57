"""The processor wrapper: runs one job step on an execution node.

Given a job step description (JSON, written by the dispatcher), it stages the inputs in from
storage into a fresh work directory, writes the Job Order File, runs each task as
``<command> <absolute path of JobOrder.<n>.xml>``, applies the ESA Generic IPF exit-code rules
(0 success; 1-127 success with warnings, outputs are used; above 127 or killed by a signal:
failure), enforces the processor's maximum time, stores the outputs the Job Order names, and
writes a result manifest (outputs with sizes and MD5, exit code, timings, log tail).

Needs storage access only: no database, no SQLAlchemy, no FastAPI (checked by a test).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processor_wrappers.joborder import (
    Flavour,
    IpfProc,
    JobOrder,
    JobOrderInput,
    JobOrderOutput,
    TimeInterval,
    write_job_order,
)
from proseo.storage import Storage
from proseo.storage.factory import open_storage

LOG_TAIL_LINES = 50

COMPLETED = "COMPLETED"
COMPLETED_WITH_WARNINGS = "COMPLETED_WITH_WARNINGS"
FAILED = "FAILED"


@dataclass
class RunResult:
    """The result manifest of one run (also written as JSON)."""

    run_key: str
    status: str
    exit_code: int | None
    reason: str | None
    started: str
    finished: str
    duration_s: float
    outputs: list[dict[str, Any]] = field(default_factory=list)
    log_tail: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""

    def to_json(self) -> str:
        """The manifest as JSON text."""
        return json.dumps(vars(self), indent=1) + "\n"


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def storage_for(description: dict[str, Any]) -> Storage:
    """The storage the description names (``{"kind": "posix", "root": ...}``).

    :raises ConfigurationError: for a storage kind this wrapper does not support.
    """
    return open_storage(description["storage"])


def _classify(returncode: int) -> tuple[str, str | None]:
    if returncode == 0:
        return COMPLETED, None
    if 0 < returncode <= 127:
        return COMPLETED_WITH_WARNINGS, f"processor exited with warning code {returncode}"
    if returncode < 0:
        return FAILED, f"processor killed by signal {-returncode}"
    return FAILED, f"processor failed with exit code {returncode}"


def processor_argv(command: str, job_order: Path) -> list[str]:
    """``<command> <Job Order File>`` as an argument list (no shell). A command whose first
    word is ``python`` or ``python3`` runs in the wrapper's own interpreter, so processors
    written in Python find the packages of the environment the wrapper runs in."""
    words = shlex.split(command)
    if words and words[0] in ("python", "python3"):
        words[0] = sys.executable
    return [*words, str(job_order)]


def _tail(*paths: Path) -> str:
    lines: list[str] = []
    for path in paths:
        if path.exists():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return "\n".join(lines[-LOG_TAIL_LINES:])


def run_job_step(
    description: dict[str, Any], storage: Storage | None = None, work_root: Path | None = None
) -> RunResult:
    """Run one job step as described; never raises for processor failures (see the manifest).

    :raises ProseoError: for an unusable description or storage (nothing was run).
    """
    storage = storage or storage_for(description)
    processor = description["processor"]
    started = datetime.now(UTC)
    clock = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{description['run_key']}-", dir=work_root))
    inputs_dir, outputs_dir = work / "inputs", work / "outputs"
    inputs_dir.mkdir()
    outputs_dir.mkdir()
    status, reason, exit_code = COMPLETED, None, None
    outputs: list[dict[str, Any]] = []
    stdout, stderr = work / "stdout.log", work / "stderr.log"
    try:
        job_inputs = []
        for item in description["inputs"]:
            paths = [str(storage.get(f["key"], inputs_dir / f["name"])) for f in item["files"]]
            job_inputs.append(
                JobOrderInput(
                    file_type=item["file_type"],
                    file_names=paths,
                    file_name_type=item.get("file_name_type", "Physical"),
                    time_intervals=[
                        TimeInterval(
                            _time(t["start"]), _time(t["stop"]), str(inputs_dir / t["name"])
                        )
                        for t in item.get("time_intervals", [])
                    ],
                )
            )
        job_outputs = [
            JobOrderOutput(o["file_type"], str(outputs_dir / o["file_name"]))
            for o in description["outputs"]
        ]
        deadline = processor.get("max_time_s")
        for number, task in enumerate(processor["tasks"], start=1):
            job_order = JobOrder(
                processor_name=processor["name"],
                version=processor["version"],
                procs=[IpfProc(task["name"], task["version"], job_inputs, job_outputs)],
                sensing_start=_time(description.get("sensing_start")),
                sensing_stop=_time(description.get("sensing_stop")),
                dynamic_parameters=sorted(description.get("dynamic_parameters", {}).items()),
                config_files=list(description.get("config_files", [])),
                processing_station=description.get("processing_station", "proseo-py"),
            )
            path = write_job_order(
                job_order,
                work / f"JobOrder.{number}.xml",
                Flavour(processor.get("job_order_version", "MMFI_1_8")),
            )
            remaining = (
                None if deadline is None else max(0.0, deadline - (time.monotonic() - clock))
            )
            with stdout.open("a") as out, stderr.open("a") as err:
                try:
                    completed = subprocess.run(
                        processor_argv(task["command"], path.resolve()),
                        cwd=work,
                        stdout=out,
                        stderr=err,
                        timeout=remaining,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    status, reason, exit_code = (
                        FAILED,
                        f"exceeded the maximum time of {deadline} s",
                        None,
                    )
                    break
                except OSError as error:
                    status, reason, exit_code = (
                        FAILED,
                        f"cannot start {task['command']!r}: {error}",
                        None,
                    )
                    break
            exit_code = completed.returncode
            task_status, task_reason = _classify(completed.returncode)
            if task_status == FAILED:
                status, reason = FAILED, task_reason
                break
            if task_status == COMPLETED_WITH_WARNINGS:
                status, reason = task_status, task_reason
        if status != FAILED:
            missing = [
                o["file_name"]
                for o in description["outputs"]
                if not (outputs_dir / o["file_name"]).is_file()
            ]
            if missing:
                status, reason = FAILED, f"processor did not write {', '.join(missing)}"
            else:
                for o in description["outputs"]:
                    stored = storage.put(outputs_dir / o["file_name"], o["key"])
                    outputs.append(
                        {
                            **o,  # what the dispatcher put there (e.g. the product id) comes back
                            "key": stored.key,
                            "size_bytes": stored.size_bytes,
                            "md5": stored.md5,
                        }
                    )
    finally:
        log_tail = _tail(stdout, stderr)
        stdout_tail, stderr_tail = _tail(stdout), _tail(stderr)
        if not description.get("keep_work_dir"):
            shutil.rmtree(work, ignore_errors=True)
    finished = datetime.now(UTC)
    result = RunResult(
        run_key=description["run_key"],
        status=status,
        exit_code=exit_code,
        reason=reason,
        started=started.isoformat(),
        finished=finished.isoformat(),
        duration_s=round(time.monotonic() - clock, 3),
        outputs=outputs,
        log_tail=log_tail,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
    )
    manifest_key = description.get("manifest_key")
    if manifest_key:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            handle.write(result.to_json())
        try:
            storage.put(Path(handle.name), manifest_key)
        finally:
            Path(handle.name).unlink(missing_ok=True)
    return result
