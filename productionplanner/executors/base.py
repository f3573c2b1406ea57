"""The executor interface, in the spirit of snakemake's executor plug-ins and Airflow's
executors: ``submit`` specs, ``poll`` all active submissions in one call, ``cancel``
(idempotent, changes no state), ``adopt`` what still runs after a dispatcher restart.

Every run has a deterministic run key ``proseo-<job step id>-<attempt>``, so a restarted
dispatcher finds its runs again instead of starting them twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class ExecutorStatus(StrEnum):
    """What a backend says about a run (separate from the job step state): only whether it
    is still active (queued or running), has ended, or is unknown to the backend. How it
    ended is the result manifest's to say, which only the dispatcher reads."""

    ACTIVE = "ACTIVE"
    ENDED = "ENDED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class RunSpec:
    """One wrapper run: the job step description and where the manifest goes (local paths
    the execution node can read and write), and the resources it asks for."""

    run_key: str
    description_path: Path
    manifest_path: Path
    cpus: int = 1
    memory_bytes: int | None = None
    time_limit_s: int | None = None
    image: str | None = None  # container image of the processor (container executors)
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Credentials for the run's process environment (e.g. ``AWS_SECRET_ACCESS_KEY``); never
    written to a file. Process executors pass them on; container executors take them from
    a secret of their own settings instead."""


@dataclass(frozen=True)
class Submission:
    """A run handed to a backend: its run key and the backend's own id (pid, Slurm job id,
    Kubernetes job name)."""

    run_key: str
    backend_id: str


class Executor(Protocol):
    """What the dispatcher needs of a backend."""

    kind: str

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, state_dir: Path, capacity: int
    ) -> Executor:
        """Build the executor from a facility's ``executor_settings``; ``state_dir`` is a
        folder it may keep files in; ``capacity`` the facility's job steps at once."""

    def submit(self, specs: Sequence[RunSpec]) -> list[Submission]:
        """Start runs; runs beyond the backend's capacity are not submitted (call again
        later). A run key that is already known is adopted, never started twice."""

    def poll(self, submissions: Sequence[Submission]) -> dict[str, ExecutorStatus]:
        """Status of every submission, by run key, from one backend query."""

    def cancel(self, submissions: Sequence[Submission]) -> None:
        """Stop runs (no error for runs that already ended)."""

    def adopt(self, run_keys: Sequence[str]) -> list[Submission]:
        """Submissions for the run keys the backend still knows (after a restart)."""
