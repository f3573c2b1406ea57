"""Job and order states roll up from their job steps.

Rules (applied in this order, each a legal move of the state machines):

Job
  - RELEASED -> STARTED once one of its job steps runs or ran;
  - STARTED -> COMPLETED when all its job steps are COMPLETED;
  - STARTED -> FAILED when one of its job steps failed for good and none is READY or RUNNING
    (steps waiting for the failed step's output cannot go on);
  - ON_HOLD (suspended) -> COMPLETED when all steps completed, else -> PLANNED once none runs.

Processing order
  - RELEASED -> RUNNING once one of its jobs started;
  - RUNNING -> COMPLETED when all its jobs are COMPLETED;
  - RUNNING -> FAILED when all its jobs are COMPLETED or FAILED and one FAILED;
  - SUSPENDING -> COMPLETED when all jobs completed, else -> PLANNED once no job step runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productionplanner.lifecycle import derive_failure_flags
from proseo.db.bulk import chunks
from proseo.enums import JobState, JobStepState, OrderState
from proseo.model import Job, JobStep, ProcessingOrder, transition
from proseo.model.states import bulk_transition

S = JobStepState


def roll_up(
    session: Session,
    order_ids: Iterable[int],
    changed_by: str | None = None,
    *,
    job_ids: Iterable[int] | None = None,
) -> None:
    """Bring the jobs and orders ``order_ids`` in line with their job steps, failure flags
    included (caller's transaction; the orders are locked ``FOR UPDATE`` on PostgreSQL).

    ``job_ids`` limits the jobs looked at to those whose job steps changed (the dispatcher
    knows them); the orders are rolled up from all their jobs either way. Jobs move in
    set-based statements, one per kind of move (a dispatcher round starts thousands of jobs at
    once), and the session's Job objects are expired so that nobody reads a stale state."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    orders = session.scalars(
        select(ProcessingOrder).where(ProcessingOrder.id.in_(ids)).with_for_update()
    ).all()
    session.flush()
    only = None if job_ids is None else sorted(set(job_ids))
    steps: dict[int, Counter[JobStepState]] = defaultdict(Counter)
    jobs: dict[int, JobState] = {}
    for chunk in chunks(only, _CHUNK) if only is not None else [None]:
        in_scope = Job.processing_order_id.in_(ids) if chunk is None else Job.id.in_(chunk)
        for job_id, step_state, count in session.execute(
            select(JobStep.job_id, JobStep.state, func.count())
            .join(Job, JobStep.job_id == Job.id)
            .where(in_scope)
            .group_by(JobStep.job_id, JobStep.state)
        ):
            steps[job_id][step_state] += count
        for job_id, job_state in session.execute(
            select(Job.id, Job.state).where(
                in_scope, Job.state.in_([JobState.RELEASED, JobState.STARTED, JobState.ON_HOLD])
            )
        ):
            jobs[job_id] = job_state
    moves: dict[tuple[JobState, tuple[tuple[JobState, str], ...]], list[int]] = defaultdict(list)
    for job_id, job_state in jobs.items():
        path = _job_moves(job_state, steps[job_id])
        if path:
            moves[(job_state, path)].append(job_id)
    for (first, path), members in moves.items():
        for chunk in chunks(members, _CHUNK):
            source = first
            for target, reason in path:
                bulk_transition(
                    session,
                    Job,
                    Job.id.in_(chunk),
                    [source],
                    target,
                    changed_by=changed_by,
                    reason=reason,
                )
                source = target
    if moves:
        for held in list(session.identity_map.values()):
            if isinstance(held, Job):
                session.expire(held, ["state"])
    job_states: dict[int, Counter[JobState]] = defaultdict(Counter)
    for order_id, job_state, count in session.execute(
        select(Job.processing_order_id, Job.state, func.count())
        .where(Job.processing_order_id.in_(ids))
        .group_by(Job.processing_order_id, Job.state)
    ):
        job_states[order_id][job_state] += count
    running_steps: Counter[int] = Counter()
    for order_id, count in session.execute(
        select(Job.processing_order_id, func.count())
        .join(JobStep, JobStep.job_id == Job.id)
        .where(Job.processing_order_id.in_(ids), JobStep.state == S.RUNNING)
        .group_by(Job.processing_order_id)
    ):
        running_steps[order_id] = count
    for order in orders:
        _roll_up_order(session, order, job_states[order.id], running_steps[order.id], changed_by)
    derive_failure_flags(session, ids)


_CHUNK = 5000
"""Jobs per statement."""


def _job_moves(state: JobState, steps: Counter[JobStepState]) -> tuple[tuple[JobState, str], ...]:
    """The moves of a job in ``state`` whose job steps are ``steps`` (by state), with their
    reasons, in order (a job that started and completed in one round makes two)."""
    total = sum(steps.values())
    active = steps[S.RUNNING] + steps[S.READY]
    moves: list[tuple[JobState, str]] = []
    if state is JobState.RELEASED and steps[S.RUNNING] + steps[S.COMPLETED] + steps[S.FAILED]:
        moves.append((JobState.STARTED, "a step started"))
        state = JobState.STARTED
    if state is JobState.STARTED:
        if total and steps[S.COMPLETED] == total:
            moves.append((JobState.COMPLETED, "all done"))
        elif steps[S.FAILED] and not active:
            moves.append((JobState.FAILED, f"{steps[S.FAILED]} job step(s) failed"))
    elif state is JobState.ON_HOLD and not steps[S.RUNNING]:
        if total and steps[S.COMPLETED] == total:
            moves.append((JobState.COMPLETED, "all done"))
        else:
            moves.append((JobState.PLANNED, "suspended"))
    return tuple(moves)


def _roll_up_order(
    session: Session,
    order: ProcessingOrder,
    jobs: Counter[JobState],
    running_steps: int,
    changed_by: str | None,
) -> None:
    total = sum(jobs.values())
    done = jobs[JobState.COMPLETED]
    failed = jobs[JobState.FAILED]
    if order.state is OrderState.RELEASED and (jobs[JobState.STARTED] + done + failed):
        transition(session, order, OrderState.RUNNING, changed_by=changed_by, reason="started")
    if order.state is OrderState.RUNNING:
        if total and done == total:
            transition(
                session, order, OrderState.COMPLETED, changed_by=changed_by, reason="all jobs done"
            )
            order.state_message = None
        elif failed and done + failed == total:
            transition(
                session,
                order,
                OrderState.FAILED,
                changed_by=changed_by,
                reason=f"{failed} of {total} job(s) failed",
            )
    elif order.state is OrderState.SUSPENDING and not running_steps:
        if total and done == total:
            transition(
                session, order, OrderState.COMPLETED, changed_by=changed_by, reason="all jobs done"
            )
        else:
            transition(
                session, order, OrderState.PLANNED, changed_by=changed_by, reason="suspended"
            )
