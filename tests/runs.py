"""Waiting for executor runs in the tests."""

from __future__ import annotations

import time
from collections.abc import Sequence

from productionplanner.executors import Executor, ExecutorStatus, Submission

ENDED = (ExecutorStatus.SUCCEEDED, ExecutorStatus.FAILED)


def wait_until_ended(
    executor: Executor, submissions: Sequence[Submission], seconds: float = 60, pause: float = 0.1
) -> dict[str, ExecutorStatus]:
    """Poll until every submission has SUCCEEDED or FAILED; returns the statuses.

    :raises AssertionError: with the last statuses when that takes longer than ``seconds``.
    """
    deadline = time.monotonic() + seconds
    statuses: dict[str, ExecutorStatus] = {}
    while time.monotonic() < deadline:
        statuses = executor.poll(submissions)
        if all(status in ENDED for status in statuses.values()):
            return statuses
        time.sleep(pause)
    raise AssertionError(f"runs did not end in {seconds} s: {statuses}")
