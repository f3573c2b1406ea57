"""Waiting for executor runs in the tests."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from productionplanner.executors import Executor, ExecutorStatus, RunSpec, Submission
from proseo.contract import RunManifest


def wait_until_ended(
    executor: Executor, submissions: Sequence[Submission], seconds: float = 60, pause: float = 0.1
) -> dict[str, ExecutorStatus]:
    """Poll until every submission has ENDED; returns the statuses.

    :raises AssertionError: with the last statuses when that takes longer than ``seconds``.
    """
    deadline = time.monotonic() + seconds
    statuses: dict[str, ExecutorStatus] = {}
    while time.monotonic() < deadline:
        statuses = executor.poll(submissions)
        if all(status is ExecutorStatus.ENDED for status in statuses.values()):
            return statuses
        time.sleep(pause)
    raise AssertionError(f"runs did not end in {seconds} s: {statuses}")


def outcomes(specs: Sequence[RunSpec]) -> dict[str, str]:
    """How each run ended, by run key, as its result manifest says (read through the
    contract), or ``"no manifest"`` (killed before the wrapper wrote one)."""
    found = {}
    for spec in specs:
        if spec.manifest_path.exists():
            manifest = RunManifest.from_dict(json.loads(spec.manifest_path.read_text()))
            found[spec.run_key] = manifest.status.value
        else:
            found[spec.run_key] = "no manifest"
    return found
