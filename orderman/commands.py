"""Order commands, checked against the order state machine.

=========  ==========================================  =============================================
command    allowed in                                   effect
=========  ==========================================  =============================================
approve    INITIAL                                      -> APPROVED
plan       APPROVED, PLANNING_FAILED                    -> PLANNING -> PLANNED (COMPLETED when
                                                        everything exists; PLANNING_FAILED on error)
release    PLANNED                                      -> RELEASING -> RELEASED (COMPLETED if no
           (``resume`` is the same)                     job steps); steps READY or WAITING_INPUT
suspend    RELEASED, RUNNING                            RELEASED -> PLANNED; RUNNING -> SUSPENDING,
                                                        -> PLANNED once no step runs (``force``
                                                        puts running steps back to PLANNED)
cancel     PLANNED                                      -> FAILED, its job steps FAILED
retry      FAILED                                       failed steps and jobs -> PLANNED, -> PLANNED
reset      APPROVED, PLANNED, PLANNING_FAILED           drops the plan; -> INITIAL (from
                                                        PLANNING_FAILED: -> APPROVED)
close      COMPLETED, FAILED                            -> CLOSED with its jobs and steps
delete     INITIAL, APPROVED, PLANNING_FAILED,          removes the order, its plan and placeholder
           PLANNED, COMPLETED, FAILED, CLOSED           products (never in flight)
=========  ==========================================  =============================================

The states that allow each command are those of the registry
(:data:`orderman.registry.ORDER_COMMANDS`); a command given in another state raises
:class:`CommandNotAllowed` (an :class:`~proseo.errors.InvalidStateTransition`) naming them.
Each command runs in the caller's transaction and never commits; after a failed ``plan`` the
caller rolls back and calls :func:`record_planning_failure` in a new transaction
(:func:`orderman.service.run_plan` does).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.orm import Session

from orderman.registry import ORDER_COMMANDS
from planner.plan import PlanSummary, plan_order
from planner.readiness import recheck_waiting_job_steps
from productionplanner.lifecycle import derive_failure_flags, retry_failed_job_steps
from proseo.enums import JobState, JobStepState, OrderState
from proseo.errors import InvalidStateTransition, PermissionDeniedError, PlanningError
from proseo.model import Job, JobStep, ProcessingOrder, Product, ProductQuery, transition
from proseo.model.states import bulk_transition, describe
from proseo.security.principal import is_system

O = OrderState  # noqa: E741  (read like the state table above)


class CommandNotAllowed(InvalidStateTransition):
    """An order command given in a state that does not allow it."""

    def __init__(self, order: ProcessingOrder, command: str) -> None:
        allowed = sorted(s.value for s in ORDER_COMMANDS[command].allowed)
        super().__init__(describe(order), order.state.value, command, allowed)
        self.message = (
            f"cannot {command} {describe(order)} in state {order.state.value}: "
            f"{command} needs state {' or '.join(allowed)}"
        )
        self.args = (self.message,)


def check_command(order: ProcessingOrder, command: str) -> None:
    """:raises CommandNotAllowed: when ``command`` is not allowed in the order's state."""
    if order.state not in ORDER_COMMANDS[command].allowed:
        raise CommandNotAllowed(order, command)


def _steps_of(order: ProcessingOrder) -> ColumnElement[bool]:
    return JobStep.job_id.in_(select(Job.id).where(Job.processing_order_id == order.id))


def _move_steps(
    session: Session,
    order: ProcessingOrder,
    sources: list[JobStepState],
    target: JobStepState,
    user: str | None,
    reason: str,
    extra: ColumnElement[bool] | None = None,
) -> int:
    where = _steps_of(order) if extra is None else _steps_of(order) & extra
    return bulk_transition(session, JobStep, where, sources, target, changed_by=user, reason=reason)


def _move_jobs(
    session: Session,
    order: ProcessingOrder,
    sources: list[JobState],
    target: JobState,
    user: str | None,
    reason: str,
) -> int:
    return bulk_transition(
        session,
        Job,
        Job.processing_order_id == order.id,
        sources,
        target,
        changed_by=user,
        reason=reason,
    )


def approve(session: Session, order: ProcessingOrder, user: str | None = None) -> None:
    """INITIAL -> APPROVED, recording ``user`` as the approver.

    Separation of duties: the user who created the order may not approve it unless its
    mission allows self-approval. A local operator (direct database access, names
    ``local:...``) and a production trigger (``trigger:...``, approving the orders it made)
    are not held to it.

    :raises PermissionDeniedError: when ``user`` created the order and the mission does not
        allow self-approval.
    """
    check_command(order, "approve")
    if (
        user is not None
        and not is_system(user)
        and order.created_by == user
        and not order.mission.allow_self_approval
    ):
        raise PermissionDeniedError(
            f"user {user!r} created order {order.identifier!r} and may not approve it too "
            f"(mission {order.mission.code} does not allow self-approval)",
            role="ORDER_APPROVER",
            mission=order.mission.code,
            user=user,
        )
    order.approved_by = user
    transition(session, order, O.APPROVED, changed_by=user, reason="approve")


def plan(
    session: Session,
    order: ProcessingOrder,
    user: str | None = None,
    *,
    details: bool = False,
    progress: Callable[[str, float], None] | None = None,
) -> PlanSummary:
    """Plan the order: PLANNING, then PLANNED, or COMPLETED when every requested product
    exists (``progress`` is told each planning phase as it ends). On :class:`PlanningError`
    the caller must roll back and call :func:`record_planning_failure` in a new transaction.
    """
    check_command(order, "plan")
    transition(session, order, O.PLANNING, changed_by=user, reason="plan")
    session.flush()
    summary = plan_order(session, order, details=details, changed_by=user, progress=progress)
    if summary.job_steps == 0:
        reason = f"nothing to produce: {summary.skipped_existing} job window(s) exist"
        message = "all requested products exist; nothing planned"
        if summary.in_production:
            others = ", ".join(sorted(summary.producers)) or "other orders"
            reason += f", {summary.in_production} being produced by {others}"
            message = (
                f"all requested products exist or are being produced by {others}; nothing planned"
            )
        transition(session, order, O.COMPLETED, changed_by=user, reason=reason)
        order.state_message = message
    else:
        transition(
            session,
            order,
            O.PLANNED,
            changed_by=user,
            reason=f"{summary.jobs} jobs, {summary.job_steps} job steps",
        )
        order.state_message = None
    return summary


def record_planning_failure(
    session: Session, order: ProcessingOrder, error: PlanningError, user: str | None = None
) -> None:
    """Move the order to PLANNING_FAILED with the reason (after the plan was rolled back)."""
    if order.state is O.APPROVED:
        transition(session, order, O.PLANNING, changed_by=user, reason="plan")
    transition(session, order, O.PLANNING_FAILED, changed_by=user, reason=error.message)
    order.state_message = error.message


def release(
    session: Session, order: ProcessingOrder, user: str | None = None, command: str = "release"
) -> dict[str, int]:
    """PLANNED -> RELEASING -> RELEASED; job steps READY when every mandatory input query is
    satisfied, WAITING_INPUT otherwise. Returns the number of steps per new state."""
    check_command(order, command)
    transition(session, order, O.RELEASING, changed_by=user, reason=command)
    steps = _steps_of(order)
    unsatisfied = exists().where(
        ProductQuery.job_step_id == JobStep.id,
        ProductQuery.is_mandatory.is_(True),
        ProductQuery.is_satisfied.is_(False),
    )
    ready = _move_steps(
        session, order, [JobStepState.PLANNED], JobStepState.READY, user, command, ~unsatisfied
    )
    waiting = _move_steps(
        session, order, [JobStepState.PLANNED], JobStepState.WAITING_INPUT, user, command
    )
    resumed = session.scalar(select(exists().where(steps, JobStep.state == JobStepState.COMPLETED)))
    if waiting and resumed:  # inputs made while the order was suspended woke no one
        woken = recheck_waiting_job_steps(session, None, user, order_id=order.id)
        ready, waiting = ready + woken, waiting - woken
    _move_jobs(session, order, [JobState.PLANNED], JobState.RELEASED, user, command)
    if ready + waiting == 0 and not session.scalar(select(exists().where(steps))):
        transition(session, order, O.COMPLETED, changed_by=user, reason="no job steps")
    else:
        transition(session, order, O.RELEASED, changed_by=user, reason=command)
    return {"READY": ready, "WAITING_INPUT": waiting}


def suspend(
    session: Session, order: ProcessingOrder, user: str | None = None, *, force: bool = False
) -> int:
    """Take released work back: steps waiting or ready (with ``force`` also running ones)
    return to PLANNED. A RUNNING order goes to SUSPENDING, and to PLANNED once no step runs.

    :returns: how many job steps still run (the dispatcher finishes them, then the order
        becomes PLANNED).
    """
    check_command(order, "suspend")
    steps = _steps_of(order)
    reason = "suspend --force" if force else "suspend"
    if order.state is O.RUNNING:
        transition(session, order, O.SUSPENDING, changed_by=user, reason=reason)
    sources = [JobStepState.WAITING_INPUT, JobStepState.READY]
    if force:
        sources.append(JobStepState.RUNNING)
    _move_steps(session, order, sources, JobStepState.PLANNED, user, reason)
    _move_jobs(session, order, [JobState.RELEASED], JobState.PLANNED, user, reason)
    _move_jobs(session, order, [JobState.STARTED], JobState.ON_HOLD, user, reason)
    running = (
        session.scalar(
            select(func.count(JobStep.id)).where(steps, JobStep.state == JobStepState.RUNNING)
        )
        or 0
    )
    if running == 0:
        _move_jobs(session, order, [JobState.ON_HOLD], JobState.PLANNED, user, reason)
        transition(session, order, O.PLANNED, changed_by=user, reason=reason)
    return running


def cancel(session: Session, order: ProcessingOrder, user: str | None = None) -> None:
    """PLANNED -> FAILED with all its job steps and jobs (nothing of it will run)."""
    check_command(order, "cancel")
    _move_steps(session, order, [JobStepState.PLANNED], JobStepState.FAILED, user, "cancel")
    _move_jobs(session, order, [JobState.PLANNED], JobState.FAILED, user, "cancel")
    transition(session, order, O.FAILED, changed_by=user, reason="cancel")


def retry(session: Session, order: ProcessingOrder, user: str | None = None) -> int:
    """FAILED -> PLANNED: failed job steps and jobs go back to PLANNED (release to run them).

    :returns: the number of job steps retried.
    """
    check_command(order, "retry")
    count = retry_failed_job_steps(session, _steps_of(order), changed_by=user, reason="retry")
    _move_jobs(session, order, [JobState.FAILED], JobState.PLANNED, user, "retry")
    transition(session, order, O.PLANNED, changed_by=user, reason="retry")
    derive_failure_flags(session, [order.id])
    return count


def _drop_plan(session: Session, order: ProcessingOrder) -> int:
    """Delete the order's jobs, job steps, queries and placeholder products (those without
    files); produced products stay in the catalogue. Returns the number of jobs dropped."""
    step_ids = select(JobStep.id).where(_steps_of(order))
    session.execute(
        delete(Product)
        .where(Product.job_step_id.in_(step_ids), ~Product.product_files.any())
        .execution_options(synchronize_session=False)
    )
    jobs = session.scalar(select(func.count(Job.id)).where(Job.processing_order_id == order.id))
    session.execute(
        delete(Job)
        .where(Job.processing_order_id == order.id)
        .execution_options(synchronize_session=False)
    )
    session.expire(order, ["jobs"])
    return jobs or 0


def reset(session: Session, order: ProcessingOrder, user: str | None = None) -> int:
    """Drop the plan: -> INITIAL (from PLANNING_FAILED: -> APPROVED). Returns jobs dropped."""
    check_command(order, "reset")
    dropped = _drop_plan(session, order)
    target = O.APPROVED if order.state is O.PLANNING_FAILED else O.INITIAL
    transition(session, order, target, changed_by=user, reason=f"reset: {dropped} jobs dropped")
    order.state_message = None
    return dropped


def close(session: Session, order: ProcessingOrder, user: str | None = None) -> None:
    """COMPLETED or FAILED -> CLOSED, with its jobs and job steps."""
    check_command(order, "close")
    _move_steps(
        session,
        order,
        [JobStepState.COMPLETED, JobStepState.FAILED],
        JobStepState.CLOSED,
        user,
        "close",
    )
    _move_jobs(
        session, order, [JobState.COMPLETED, JobState.FAILED], JobState.CLOSED, user, "close"
    )
    transition(session, order, O.CLOSED, changed_by=user, reason="close")


def delete_order(session: Session, order: ProcessingOrder, user: str | None = None) -> None:
    """Remove the order with its plan and placeholder products (never while in flight).
    Its state history stays as the audit trail."""
    check_command(order, "delete")
    _drop_plan(session, order)
    session.delete(order)
    session.flush()
