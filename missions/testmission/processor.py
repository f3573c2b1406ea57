"""The TST mission's processor, steerable from the order's dynamic processing parameters.

Run as ``python -m missions.testmission.processor <Job Order File>``. It writes every output
the Job Order names (a small text file: processor, task, output type, sensing window, input
files) and exits 0, unless the dynamic processing parameters say otherwise:

- ``tstSleepSeconds``: seconds to sleep before writing (a long-running step);
- ``tstExitCode``: exit with this code after writing (1-127: warnings, >127: failure);
- ``tstFailTypes``: comma-separated output file types for which it exits 200 without output;
- ``tstRunLog``: a file to which one line ``<first output file name>`` is appended per run,
  so a test can count how often each job step really ran;
- ``tstAttemptLog``: a file to which one line ``<run key>`` (``proseo-<job step>-<attempt>``,
  from the wrapper's working folder, which holds the Job Order File) is appended per run, so
  a test can check that no attempt of a job step ran twice.

Exit 255 with a message on stderr when the Job Order is unusable.
"""

from __future__ import annotations

import fcntl
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from processor_wrappers.joborder import read_job_order
from proseo.errors import JobOrderError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m missions.testmission.processor JOBORDER.xml", file=sys.stderr)
        return 255
    job_order_path = Path(args[0])
    try:
        job_order = read_job_order(job_order_path)
    except JobOrderError as error:
        print(f"TST processor: {error}", file=sys.stderr)
        return 255
    parameters = dict(job_order.dynamic_parameters)
    outputs = [o for proc in job_order.procs for o in proc.outputs]
    print(f"TST processor {job_order.processor_name} {job_order.version}: {len(outputs)} outputs")
    run_log = parameters.get("tstRunLog")
    if run_log:
        with Path(run_log).open("a") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(f"{Path(outputs[0].file_name).name if outputs else '-'}\n")
    attempt_log = parameters.get("tstAttemptLog")
    if attempt_log:
        run_key = re.match(r"proseo-\d+-\d+", job_order_path.resolve().parent.name)
        with Path(attempt_log).open("a") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(f"{run_key.group(0) if run_key else job_order_path.parent.name}\n")
    time.sleep(float(parameters.get("tstSleepSeconds", "0")))
    failing = {t.strip() for t in parameters.get("tstFailTypes", "").split(",") if t.strip()}
    if any(o.file_type in failing for o in outputs):
        print(f"TST processor: told to fail for {sorted(failing)}", file=sys.stderr)
        return 200
    inputs = [name for proc in job_order.procs for i in proc.inputs for name in i.file_names]
    for output in outputs:
        path = Path(output.file_name)
        if not path.is_absolute():
            path = job_order_path.parent / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"processor {job_order.processor_name} {job_order.version}\n"
            f"file type {output.file_type}\n"
            f"sensing {job_order.sensing_start} {job_order.sensing_stop}\n"
            + "".join(f"input {Path(name).name}\n" for name in inputs),
            encoding="utf-8",
        )
    return int(parameters.get("tstExitCode", "0"))


if __name__ == "__main__":
    sys.exit(main())
