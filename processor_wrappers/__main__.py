"""``python -m processor_wrappers DESCRIPTION.json [MANIFEST.json]``: run one job step.

Exit code 0 when the job step completed (with or without warnings), 1 when it failed (the
manifest says why), 2 when the description is unusable.

With a manifest path the run happens at most once: a wrapper takes an exclusive lock on
``<manifest>.lock`` first, so a second wrapper of the same run waits for the first one; a run
whose manifest exists is not repeated (exit 0, or 1 if that manifest says FAILED). So a
dispatcher that re-submits a run it lost track of can never run the processor twice: the
duplicate waits and then reports the first run's outcome. A wrapper marks the run started
(``<manifest>.started``) once it holds the lock; if it dies without a manifest, a duplicate
does not run the step again but writes a FAILED manifest, and the dispatcher retries the step
as a new attempt: a run key runs its processor at most once.

Everything the wrapper writes (work folder, Job Order File, logs, manifest) is private to its
user (umask 077: folders 0700, files 0600).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from processor_wrappers.wrapper import manifest_json, run_job_step
from proseo.contract import JobStepDescription, RunManifest, RunStatus
from proseo.errors import ProseoError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    if argv is None:  # a process of its own (not a caller's in-process use)
        os.umask(0o077)
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print(
            "usage: python -m processor_wrappers DESCRIPTION.json [MANIFEST.json]", file=sys.stderr
        )
        return 2
    if len(args) == 1:
        return _run(Path(args[0]), None)
    manifest = Path(args[1])
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with (manifest.parent / f"{manifest.name}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"proseo-wrapper: {manifest} is being produced; waiting", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest.exists():
            status = json.loads(manifest.read_text(encoding="utf-8")).get("status")
            print(f"proseo-wrapper: already ran ({status}), not repeated", file=sys.stderr)
            return 1 if status == RunStatus.FAILED.value else 0
        started = manifest.parent / f"{manifest.name}.started"
        if started.exists():
            # an earlier wrapper of this run took the lock, started the step and died without
            # a manifest (killed): the run key has had its one try; the dispatcher retries the
            # step as a new attempt
            reason = "an earlier wrapper of this run ended without a result (killed); not run again"
            print(f"proseo-wrapper: {reason}", file=sys.stderr)
            return _failed(manifest, manifest.parent.name, reason, datetime.now(UTC))
        started.write_text(f"{os.getpid()}\n")
        return _run(Path(args[0]), manifest)


def _run(description_path: Path, manifest: Path | None) -> int:
    started = datetime.now(UTC)
    try:
        data = json.loads(description_path.read_text(encoding="utf-8"))
        description = JobStepDescription.from_dict(data)
    except (OSError, ValueError, KeyError, ProseoError) as error:
        reason = f"unusable job step description {description_path}: {error}"
        run_key = manifest.parent.name if manifest is not None else description_path.stem
        return _failed(manifest, run_key, reason, started, exit_code=2)
    try:
        result = run_job_step(description)
    except Exception as error:  # storage unreachable, a Job Order that cannot be written, ...
        reason = f"the wrapper failed before the processor ran: {type(error).__name__}: {error}"
        return _failed(manifest, description.run_key, reason, started)
    _write(manifest, result)
    print(
        f"proseo-wrapper: {result.run_key} {result.status.value}"
        + (f" ({result.reason})" if result.reason else ""),
        file=sys.stderr,
    )
    return 1 if result.status is RunStatus.FAILED else 0


def _write(manifest: Path | None, result: RunManifest) -> None:
    if manifest is not None:
        partial = manifest.parent / f"{manifest.name}.part"
        partial.write_text(manifest_json(result), encoding="utf-8")
        partial.replace(manifest)  # atomic: a reader sees the whole manifest or none


def _failed(
    manifest: Path | None, run_key: str, reason: str, started: datetime, exit_code: int = 1
) -> int:
    """Report a failure of the wrapper itself in a FAILED manifest (so the dispatcher puts
    the real cause in the job step's reason and log), and on standard error."""
    print(f"proseo-wrapper: {reason}", file=sys.stderr)
    finished = datetime.now(UTC)
    _write(
        manifest,
        RunManifest(
            run_key=run_key,
            status=RunStatus.FAILED,
            exit_code=None,
            reason=reason,
            started=started,
            finished=finished,
            duration_s=(finished - started).total_seconds(),
            log_tail=reason,
        ),
    )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
