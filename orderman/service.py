"""Order commands as units of work: each opens its own transaction on the database.

The CLI and the REST API call these; the command functions in :mod:`orderman.commands` take a
session and never commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orderman import commands
from orderman.orders import get_order
from orderman.registry import ORDER_COMMANDS, RUNNABLE
from planner.plan import PlanSummary
from proseo import metrics
from proseo.db import Database
from proseo.db.engine import PLANNING_TABLES
from proseo.errors import InvalidInputError, PlanningError
from proseo.model import ProcessingOrder


class _DryRun(Exception):
    def __init__(self, summary: PlanSummary) -> None:
        self.summary = summary


def run_plan(
    database: Database,
    order_id: int,
    *,
    dry_run: bool = False,
    details: bool = False,
    user: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> PlanSummary:
    """Plan an order in one transaction (a crash or an interruption leaves it APPROVED with
    nothing written, ready to plan again; ``progress`` is told each phase as it ends).

    With ``dry_run`` the plan is built the same way and then rolled back: nothing is written.
    On a :class:`PlanningError` the plan is rolled back and the order is set to
    PLANNING_FAILED with the reason in a new transaction; the error is re-raised.
    """
    started = time.perf_counter()
    try:
        with database.transaction() as session:
            order = get_order(session, order_id, lock=True)
            summary = commands.plan(
                session, order, user, details=details or dry_run, progress=progress
            )
            if dry_run:
                raise _DryRun(summary)
    except _DryRun as dry:
        database.reclaim(PLANNING_TABLES, dry.summary.job_steps)
        return dry.summary
    except PlanningError as error:
        with database.transaction() as session:
            order = get_order(session, order_id, lock=True)
            commands.record_planning_failure(session, order, error, user)
        raise
    metrics.PLAN_DURATION.observe(time.perf_counter() - started)
    metrics.PLANNED_JOB_STEPS.inc(summary.job_steps)
    if summary.job_steps:
        database.refresh_statistics(PLANNING_TABLES)
    return summary


def run_command(
    database: Database, order_id: int, command: str, user: str | None = None, **options: Any
) -> tuple[ProcessingOrder, Any]:
    """Run an order command of :data:`~orderman.registry.ORDER_COMMANDS` (not ``plan``) in
    its own transaction, the order row locked; ``options`` are the command's own (others are
    ignored).

    :returns: the order (detached, current state) and what the command returned.
    :raises InvalidInputError: for a command that is not in the registry, or ``plan``.
    :raises CommandNotAllowed: when the order's state does not allow the command.
    """
    spec = ORDER_COMMANDS.get(command)
    if spec is None or spec.planning:
        raise InvalidInputError("order command", command, f"expected one of {', '.join(RUNNABLE)}")
    function = getattr(commands, spec.function)
    given = {key: options[key] for key in spec.options if key in options}
    with database.transaction() as session:
        order = get_order(session, order_id, lock=True)
        result = function(session, order, user, **spec.fixed, **given)
        session.flush()
        return order, result
