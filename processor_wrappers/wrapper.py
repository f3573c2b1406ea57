"""The processor wrapper: runs one job step on an execution node.

Given a job step description (JSON, written by the dispatcher), it stages the inputs in from
storage into a fresh work directory, writes the Job Order File, runs each task as
``<command> <absolute path of JobOrder.<n>.xml>``, applies the ESA Generic IPF exit-code rules
(0 success; 1-127 success with warnings, outputs are used; above 127 or killed by a signal:
failure), enforces the processor's maximum time, stores the outputs the Job Order names, and
writes a result manifest (outputs with sizes and MD5, exit code, timings, log tail).

A storage that cannot be reached (an S3 gateway restarting, a network file system away) is
waited for: each stage-in and stage-out operation is tried again 1, 2, 4 ... 30 s apart for
up to the description's ``storage_patience_s``, so a processor that has run is not lost to a
short outage. A run that still cannot reach its storage ends FAILED with ``transient`` set in
its manifest, and the dispatcher requeues it without counting an attempt.

Needs storage access only: no database, no SQLAlchemy, no FastAPI (checked by a test).
"""

from __future__ import annotations

import functools
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from processor_wrappers.joborder import (
    Flavour,
    IpfProc,
    JobOrder,
    JobOrderInput,
    JobOrderOutput,
    TimeInterval,
    write_job_order,
)
from proseo.backoff import Backoff
from proseo.contract import JobStepDescription, RunManifest, RunStatus, StoredOutput
from proseo.errors import StorageError, StorageUnavailableError
from proseo.storage import Storage
from proseo.storage.factory import open_storage


def manifest_json(manifest: RunManifest) -> str:
    """The manifest as JSON text (indented, one trailing newline)."""
    return json.dumps(manifest.to_dict(), indent=1) + "\n"


LOG_TAIL_LINES = 50

STORAGE_RETRY_MAX_S = 30.0
"""The longest pause (seconds) between two tries of an unreachable storage."""

_T = TypeVar("_T")


def patiently(what: str, call: Callable[[], _T], patience_s: float) -> _T:
    """``call()``; while it raises :class:`StorageUnavailableError`, try again 1, 2, 4 ... up
    to 30 s apart (each pause logged on standard error), for at most ``patience_s`` seconds
    from the first failure.

    :raises StorageUnavailableError: when the storage is still away after ``patience_s``.
    :raises StorageError: at once, for any other storage failure (a missing key, access
        denied: trying again would not help).
    """
    backoff = Backoff(first_s=1.0, max_s=STORAGE_RETRY_MAX_S)
    while True:
        try:
            return call()
        except StorageUnavailableError as error:
            left = patience_s - backoff.failing_for()
            if left <= 0:
                raise
            wait = min(backoff.failed(), left)
            print(
                f"proseo-wrapper: {what}: storage unreachable ({error.message}); "
                f"trying again in {wait:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(wait)


def storage_for(description: JobStepDescription) -> Storage:
    """The storage the description names (``{"kind": "posix", "root": ...}``).

    :raises ConfigurationError: for a storage kind this wrapper does not support.
    """
    return open_storage(dict(description.storage))


def _classify(returncode: int) -> tuple[RunStatus, str | None]:
    if returncode == 0:
        return RunStatus.COMPLETED, None
    if 0 < returncode <= 127:
        return RunStatus.COMPLETED_WITH_WARNINGS, f"processor exited with warning code {returncode}"
    if returncode < 0:
        return RunStatus.FAILED, f"processor killed by signal {-returncode}"
    return RunStatus.FAILED, f"processor failed with exit code {returncode}"


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
    description: JobStepDescription, storage: Storage | None = None, work_root: Path | None = None
) -> RunManifest:
    """Run one job step as described; never raises for processor failures (see the manifest).

    :raises ProseoError: for an unusable description or storage (nothing was run).
    """
    storage = storage or storage_for(description)
    processor = description.processor
    started = datetime.now(UTC)
    clock = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{description.run_key}-", dir=work_root))
    inputs_dir, outputs_dir = work / "inputs", work / "outputs"
    inputs_dir.mkdir()
    outputs_dir.mkdir()
    status, reason, exit_code = RunStatus.COMPLETED, None, None
    transient = False
    patience = description.storage_patience_s
    outputs: list[StoredOutput] = []
    stdout, stderr = work / "stdout.log", work / "stderr.log"
    try:
        job_inputs = []
        for item in description.inputs:
            paths = [
                str(
                    patiently(
                        f"stage-in of {f.key}",
                        functools.partial(storage.get, f.key, inputs_dir / f.name),
                        patience,
                    )
                )
                for f in item.files
            ]
            job_inputs.append(
                JobOrderInput(
                    file_type=item.file_type,
                    file_names=paths,
                    file_name_type=item.file_name_type,
                    time_intervals=[
                        TimeInterval(t.start, t.stop, str(inputs_dir / t.name))
                        for t in item.time_intervals
                    ],
                )
            )
        job_outputs = [
            JobOrderOutput(o.file_type, str(outputs_dir / o.file_name)) for o in description.outputs
        ]
        deadline = processor.max_time_s
        for number, task in enumerate(processor.tasks, start=1):
            job_order = JobOrder(
                processor_name=processor.name,
                version=processor.version,
                procs=[IpfProc(task.name, task.version, job_inputs, job_outputs)],
                sensing_start=description.sensing_start,
                sensing_stop=description.sensing_stop,
                dynamic_parameters=sorted(description.dynamic_parameters.items()),
                config_files=list(description.config_files),
                processing_station=description.processing_station,
            )
            path = write_job_order(
                job_order, work / f"JobOrder.{number}.xml", Flavour(processor.job_order_version)
            )
            remaining = (
                None if deadline is None else max(0.0, deadline - (time.monotonic() - clock))
            )
            with stdout.open("a") as out, stderr.open("a") as err:
                try:
                    completed = subprocess.run(
                        processor_argv(task.command, path.resolve()),
                        cwd=work,
                        stdout=out,
                        stderr=err,
                        timeout=remaining,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    status, reason, exit_code = (
                        RunStatus.FAILED,
                        f"exceeded the maximum time of {deadline} s",
                        None,
                    )
                    break
                except OSError as error:
                    status, reason, exit_code = (
                        RunStatus.FAILED,
                        f"cannot start {task.command!r}: {error}",
                        None,
                    )
                    break
            exit_code = completed.returncode
            task_status, task_reason = _classify(completed.returncode)
            if task_status is RunStatus.FAILED:
                status, reason = RunStatus.FAILED, task_reason
                break
            if task_status is RunStatus.COMPLETED_WITH_WARNINGS:
                status, reason = task_status, task_reason
        if status is not RunStatus.FAILED:
            missing = [
                o.file_name
                for o in description.outputs
                if not (outputs_dir / o.file_name).is_file()
            ]
            if missing:
                status, reason = RunStatus.FAILED, f"processor did not write {', '.join(missing)}"
            else:
                for o in description.outputs:
                    stored = patiently(
                        f"stage-out of {o.key}",
                        functools.partial(storage.put, outputs_dir / o.file_name, o.key),
                        patience,
                    )
                    outputs.append(
                        StoredOutput(
                            file_type=o.file_type,
                            file_name=o.file_name,
                            key=stored.key,
                            size_bytes=stored.size_bytes,
                            md5=stored.md5,
                            product_id=o.product_id,
                        )
                    )
    except StorageUnavailableError as error:
        # the processor's work (if it ran) is lost with the work folder; nothing of it is
        # catalogued, and the dispatcher deletes what was stored of the outputs
        status, transient, outputs = RunStatus.FAILED, True, []
        reason = f"the storage could not be reached for {patience:g} s: {error.message}"
    finally:
        log_tail = _tail(stdout, stderr)
        stdout_tail, stderr_tail = _tail(stdout), _tail(stderr)
        if not description.keep_work_dir:
            shutil.rmtree(work, ignore_errors=True)
    finished = datetime.now(UTC)
    result = RunManifest(
        run_key=description.run_key,
        status=status,
        exit_code=exit_code,
        reason=reason,
        started=started,
        finished=finished,
        duration_s=round(time.monotonic() - clock, 3),
        outputs=tuple(outputs),
        log_tail=log_tail,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        transient=transient,
    )
    manifest_key = description.manifest_key
    if manifest_key:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            handle.write(manifest_json(result))
        try:
            # a copy for the archive: the dispatcher reads the manifest beside the run
            patiently(
                f"storing the manifest as {manifest_key}",
                lambda: storage.put(Path(handle.name), manifest_key),
                0.0 if transient else patience,
            )
        except StorageError as error:
            print(f"proseo-wrapper: manifest copy not stored: {error.message}", file=sys.stderr)
        finally:
            Path(handle.name).unlink(missing_ok=True)
    return result
