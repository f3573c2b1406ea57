"""The local executor (the embedded default): wrapper runs as subprocesses of this machine.

Each run gets a folder ``<runs dir>/<run key>/`` holding ``pid`` (process id and its start
time from ``/proc``, so a reused pid is not mistaken for the run) and ``wrapper.log``; once
the run has ended and been polled, the folder moves to ``<runs dir>/ended/``. Runs
start in their own session, so they outlive a dispatcher that is killed; a new executor on
the same runs folder adopts them. At most ``max_parallel`` runs are active at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from productionplanner.executors.base import ExecutorStatus, RunSpec, Submission
from proseo.storage import check_name

ENDED = "ended"  # sub-folder of the runs folder for runs that have ended


def _proc_start_time(pid: int) -> str | None:
    """Start time of a live, non-zombie process (field 22 of /proc/<pid>/stat), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


class LocalExecutor:
    """Subprocesses running ``python -m processor_wrappers DESCRIPTION MANIFEST``."""

    kind = "local"

    def __init__(self, runs_dir: Path, max_parallel: int = 2, python: str = sys.executable) -> None:
        self.runs_dir = runs_dir
        self.max_parallel = max_parallel
        self.python = python
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        runs_dir.mkdir(parents=True, exist_ok=True)

    @property
    def capacity(self) -> int:
        """Runs this executor takes at once (the dispatcher takes no more READY steps)."""
        return self.max_parallel

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, state_dir: Path, capacity: int
    ) -> LocalExecutor:
        """From a facility's executor settings: ``max_parallel`` (default: the facility's
        capacity); pid files live in ``state_dir``."""
        return cls(state_dir, max_parallel=int(settings.get("max_parallel", capacity)))

    def _folder(self, run_key: str) -> Path:
        """``<runs dir>/<run key>`` while active, ``<runs dir>/ended/<run key>`` after."""
        name = check_name(run_key, "run key")
        ended = self.runs_dir / ENDED / name
        return ended if ended.is_dir() else self.runs_dir / name

    def _retire(self, run_key: str) -> None:
        """Move an ended run's folder out of the active ones (counting active runs then
        stays proportional to the runs in flight, not to all runs ever made)."""
        folder = self.runs_dir / run_key
        target = self.runs_dir / ENDED / run_key
        with contextlib.suppress(OSError):
            target.parent.mkdir(exist_ok=True)
            folder.replace(target)

    def _alive(self, run_key: str) -> bool:
        child = self._children.get(run_key)
        if child is not None:
            return child.poll() is None
        try:
            pid_text, start = (self._folder(run_key) / "pid").read_text().split()
        except (OSError, ValueError):
            return False
        return _proc_start_time(int(pid_text)) == start

    def _active(self) -> int:
        return sum(
            1
            for folder in self.runs_dir.iterdir()
            if folder.is_dir() and folder.name != ENDED and self._alive(folder.name)
        )

    def submit(self, specs: Sequence[RunSpec]) -> list[Submission]:
        submissions = []
        free = self.max_parallel - self._active()
        for spec in specs:
            folder = self._folder(spec.run_key)
            if (folder / "pid").exists():
                submissions.extend(self.adopt([spec.run_key]))
                continue
            if free <= 0:
                break
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with os.fdopen(
                os.open(folder / "wrapper.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                "ab",
            ) as log:
                child = subprocess.Popen(
                    [
                        self.python,
                        "-m",
                        "processor_wrappers",
                        str(spec.description_path),
                        str(spec.manifest_path),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ, **spec.environment},
                )
            self._children[spec.run_key] = child
            (folder / "pid").write_text(f"{child.pid} {_proc_start_time(child.pid) or 0}")
            submissions.append(Submission(spec.run_key, str(child.pid)))
            free -= 1
        return submissions

    def poll(self, submissions: Sequence[Submission]) -> dict[str, ExecutorStatus]:
        """Active while the wrapper process lives; ended (its folder then retired) once it
        is gone; unknown for a run this runs folder never started."""
        statuses = {}
        for submission in submissions:
            if not (self._folder(submission.run_key) / "pid").exists():
                statuses[submission.run_key] = ExecutorStatus.UNKNOWN
            elif self._alive(submission.run_key):
                statuses[submission.run_key] = ExecutorStatus.ACTIVE
            else:
                statuses[submission.run_key] = ExecutorStatus.ENDED
                self._retire(submission.run_key)
        return statuses

    def cancel(self, submissions: Sequence[Submission]) -> None:
        for submission in submissions:
            if self._alive(submission.run_key):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(submission.backend_id), signal.SIGTERM)
                child = self._children.get(submission.run_key)
                if child is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        child.wait(timeout=10)

    def adopt(self, run_keys: Sequence[str]) -> list[Submission]:
        adopted = []
        for run_key in run_keys:
            try:
                pid = (self._folder(run_key) / "pid").read_text().split()[0]
            except (OSError, IndexError):
                continue
            adopted.append(Submission(run_key, pid))
        return adopted
