"""``python -m processor_wrappers DESCRIPTION.json [MANIFEST.json]``: run one job step.

Exit code 0 when the job step completed (with or without warnings), 1 when it failed (the
manifest says why), 2 when the description is unusable.

With a manifest path the run happens at most once: a wrapper takes an exclusive lock on
``<manifest>.lock`` first, so a second wrapper of the same run waits for the first one; a run
whose manifest exists is not repeated (exit 0, or 1 if that manifest says FAILED). So a
dispatcher that re-submits a run it lost track of can never run the processor twice: the
duplicate waits and then reports the first run's outcome. (If the first wrapper died without
a manifest, the duplicate runs the step.)

Everything the wrapper writes (work folder, Job Order File, logs, manifest) is private to its
user (umask 077: folders 0700, files 0600).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from processor_wrappers.wrapper import manifest_json, run_job_step
from proseo.contract import JobStepDescription, RunStatus
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
        return _run(Path(args[0]), manifest)


def _run(description_path: Path, manifest: Path | None) -> int:
    try:
        data = json.loads(description_path.read_text(encoding="utf-8"))
        result = run_job_step(JobStepDescription.from_dict(data))
    except (OSError, ValueError, KeyError, ProseoError) as error:
        print(
            f"proseo-wrapper: unusable job step description {description_path}: {error}",
            file=sys.stderr,
        )
        return 2
    if manifest is not None:
        partial = manifest.parent / f"{manifest.name}.part"
        partial.write_text(manifest_json(result), encoding="utf-8")
        partial.replace(manifest)  # atomic: a reader sees the whole manifest or none
    print(
        f"proseo-wrapper: {result.run_key} {result.status.value}"
        + (f" ({result.reason})" if result.reason else ""),
        file=sys.stderr,
    )
    return 1 if result.status is RunStatus.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
