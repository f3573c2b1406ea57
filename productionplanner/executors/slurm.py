"""The Slurm executor: wrapper runs as Slurm batch jobs, driven through the Slurm CLI.

- **submit**: one ``sbatch --parsable`` per group of runs with the same resources, as a job
  array when the group has more than one run (so 1,000 ready job steps are one call, not
  1,000), in arrays of at most ``max_array_size`` tasks (Slurm's ``MaxArraySize``). The
  batch script goes to sbatch on stdin; every argument is quoted with
  :func:`shlex.quote` and no local shell is involved. Partition, account, CPUs
  (``--cpus-per-task``), memory (``--mem``, MiB) and time limit (``--time``, minutes, the
  processor's maximum time plus a margin) come from the settings and the run's resources.
  A single run is named after its run key; array tasks are mapped to run keys in
  ``<state dir>/submissions.jsonl`` (the backend id is ``<job id>`` or
  ``<array job id>_<task>``), which lets a restarted dispatcher adopt them.
- **poll**: one ``squeue --json --states=all`` call for all runs. Pending array tasks are
  found in the array's ``array_task_string``. A run Slurm no longer lists (older than
  ``MinJobAge``) has ended: its manifest says how.
- **cancel**: one ``scancel`` for all runs (no error for runs that have ended).

Slurm 22.05 has no ``scontrol --json`` and ``sacct`` needs accounting storage; ``squeue
--json`` is all this needs (see the shared INFRA notes).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from productionplanner.executors.base import ExecutorStatus, RunSpec, Submission
from proseo.errors import ExecutorError

TIME_MARGIN_S = 120  # the wrapper enforces the processor's maximum time; Slurm is the backstop
ACTIVE = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
}


def _expand(task_string: str) -> set[int]:
    """Task ids of an ``array_task_string`` such as ``"2-5,7,9-11%4"``."""
    tasks: set[int] = set()
    for part in task_string.split("%", 1)[0].split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        step = 1
        if ":" in last:
            last, step_text = last.split(":", 1)
            step = int(step_text)
        tasks.update(range(int(first), int(last or first) + 1, step))
    return tasks


class SlurmExecutor:
    """Submits wrapper runs to Slurm (see the module docstring).

    :param state_dir: folder for the run-key map and the jobs' output files (must be on a
        file system the compute nodes share when they are other machines).
    :param env: environment of the Slurm client commands (e.g. ``SLURM_CONF``).
    """

    kind = "slurm"

    def __init__(
        self,
        state_dir: Path,
        *,
        partition: str | None = None,
        account: str | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        max_array_size: int = 1000,
    ) -> None:
        if max_array_size < 1:
            raise ValueError(f"max_array_size must be at least 1, not {max_array_size}")
        self.max_array_size = max_array_size
        """Most tasks of one job array: Slurm refuses larger arrays than its ``MaxArraySize``
        (default 1001, task ids 0-1000), so bigger groups go as several arrays."""
        self.state_dir = state_dir
        self.partition = partition
        self.account = account
        self.python = python
        self.env = dict(env) if env is not None else dict(os.environ)
        self.extra_args = list(extra_args)
        state_dir.mkdir(parents=True, exist_ok=True)
        self._map_file = state_dir / "submissions.jsonl"

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, state_dir: Path, capacity: int
    ) -> SlurmExecutor:
        """From a facility's executor settings: ``partition``, ``account``, ``python`` (the
        interpreter on the nodes), ``slurm_conf`` (sets ``SLURM_CONF``), ``extra_args``,
        ``max_array_size`` (default 1000; at most the cluster's ``MaxArraySize`` - 1)."""
        env = dict(os.environ)
        if settings.get("slurm_conf"):
            env["SLURM_CONF"] = str(settings["slurm_conf"])
        return cls(
            state_dir,
            partition=settings.get("partition"),
            account=settings.get("account"),
            python=str(settings.get("python", sys.executable)),
            env=env,
            extra_args=[str(a) for a in settings.get("extra_args", [])],
            max_array_size=int(settings.get("max_array_size", 1000)),
        )

    # -- helpers ---------------------------------------------------------------------------

    def _run(
        self, args: list[str], stdin: str | None = None, extra: Mapping[str, str] | None = None
    ) -> str:
        env = {**self.env, **extra} if extra else self.env
        result = subprocess.run(
            args, input=stdin, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ExecutorError(
                f"{args[0]} failed with exit code {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def _entries(self) -> dict[str, dict[str, str]]:
        """Run key -> ``{"backend_id", "manifest"}`` of every submission made from this
        state folder."""
        entries: dict[str, dict[str, str]] = {}
        if self._map_file.exists():
            for line in self._map_file.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    entries[entry["run_key"]] = entry
        return entries

    def _known(self) -> dict[str, str]:
        return {key: entry["backend_id"] for key, entry in self._entries().items()}

    def _remember(self, submissions: Sequence[Submission], specs: Sequence[RunSpec]) -> None:
        with self._map_file.open("a") as out:
            for submission, spec in zip(submissions, specs, strict=True):
                entry = {
                    "run_key": submission.run_key,
                    "backend_id": submission.backend_id,
                    "manifest": str(spec.manifest_path),
                }
                out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def _sbatch_args(self, spec: RunSpec, count: int) -> list[str]:
        args = ["sbatch", "--parsable", f"--cpus-per-task={max(1, spec.cpus)}"]
        if self.partition:
            args.append(f"--partition={self.partition}")
        if self.account:
            args.append(f"--account={self.account}")
        if spec.memory_bytes:
            args.append(f"--mem={max(1, math.ceil(spec.memory_bytes / 2**20))}M")
        if spec.time_limit_s:
            args.append(f"--time={math.ceil((spec.time_limit_s + TIME_MARGIN_S) / 60)}")
        if count == 1:
            args += [f"--job-name={spec.run_key}", f"--output={self.state_dir}/{spec.run_key}.out"]
        else:
            args += [
                "--job-name=proseo-array",
                f"--array=0-{count - 1}",
                f"--output={self.state_dir}/slurm-%A_%a.out",
            ]
        return args + self.extra_args

    def _wrapper(self, spec: RunSpec) -> str:
        return shlex.join(
            [
                self.python,
                "-m",
                "processor_wrappers",
                str(spec.description_path),
                str(spec.manifest_path),
            ]
        )

    # -- the executor interface ------------------------------------------------------------

    def submit(self, specs: Sequence[RunSpec]) -> list[Submission]:
        """Submit ``specs`` (runs already known are adopted, not submitted again).

        :raises ExecutorError: when sbatch refuses a submission (with its message).
        """
        known = self._known()
        submissions = [Submission(s.run_key, known[s.run_key]) for s in specs if s.run_key in known]
        groups: dict[tuple[int, int | None, int | None], list[RunSpec]] = defaultdict(list)
        for spec in specs:
            if spec.run_key not in known:
                groups[(spec.cpus, spec.memory_bytes, spec.time_limit_s)].append(spec)
        size = self.max_array_size
        chunks = [g[i : i + size] for g in groups.values() for i in range(0, len(g), size)]
        for group in chunks:
            if len(group) == 1:
                script = f"#!/bin/sh\nexec {self._wrapper(group[0])}\n"
                job_id = self._run(self._sbatch_args(group[0], 1), script, group[0].environment)
                job_id = job_id.strip().split(";")[0]
                made = [Submission(group[0].run_key, job_id)]
            else:
                cases = "".join(
                    f"  {index}) exec {self._wrapper(spec)} ;;\n"
                    for index, spec in enumerate(group)
                )
                script = (
                    '#!/bin/sh\ncase "$SLURM_ARRAY_TASK_ID" in\n'
                    f"{cases}  *) echo unknown array task >&2; exit 2 ;;\nesac\n"
                )
                job_id = self._run(
                    self._sbatch_args(group[0], len(group)), script, group[0].environment
                )
                job_id = job_id.strip().split(";")[0]
                made = [
                    Submission(spec.run_key, f"{job_id}_{index}")
                    for index, spec in enumerate(group)
                ]
            self._remember(made, group)
            submissions.extend(made)
        return submissions

    def _squeue(self) -> dict[str, str]:
        """Backend id -> Slurm job state of every job Slurm still lists."""
        document = json.loads(self._run(["squeue", "--json", "--states=all"]))
        states: dict[str, str] = {}
        for job in document.get("jobs", []):
            state = str(job.get("job_state", "UNKNOWN"))
            array_id = job.get("array_job_id") or 0
            task = job.get("array_task_id")
            if array_id and task is not None:
                states[f"{array_id}_{task}"] = state
            elif array_id and job.get("array_task_string"):
                for pending in _expand(str(job["array_task_string"])):
                    states[f"{array_id}_{pending}"] = state
            else:
                states[str(job["job_id"])] = state
        return states

    def poll(self, submissions: Sequence[Submission]) -> dict[str, ExecutorStatus]:
        """Status of every submission from one ``squeue`` call: queued or running is active;
        ended in any way, or no longer listed, is ended (the manifest says how)."""
        if not submissions:
            return {}
        states = self._squeue()
        return {
            s.run_key: (
                ExecutorStatus.ACTIVE
                if states.get(s.backend_id) in ACTIVE
                else ExecutorStatus.ENDED
            )
            for s in submissions
        }

    def cancel(self, submissions: Sequence[Submission]) -> None:
        """``scancel`` all of them in one call (ended runs are no error)."""
        ids = [s.backend_id for s in submissions]
        if ids:
            subprocess.run(
                ["scancel", *ids], env=self.env, capture_output=True, text=True, check=False
            )

    def adopt(self, run_keys: Sequence[str]) -> list[Submission]:
        """Submissions made earlier from this state folder for ``run_keys``."""
        known = self._known()
        return [Submission(key, known[key]) for key in run_keys if key in known]
