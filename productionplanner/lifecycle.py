"""The job step lifecycle after release: finish, fail (with automatic retries), retry by the
operator, input-data timeout; and the one place that derives the failure flags of jobs and
processing orders from their job steps.

Every function works in the caller's transaction (it flushes, never commits) and moves
states only through the state machines (:func:`proseo.model.transition`,
:func:`proseo.model.states.bulk_transition`), so each move is checked and recorded in the
state history.

Failure flags: a job step's ``is_failed`` says that its last run (or its input-data timeout)
failed; a job's ``has_failed_job_steps`` is true while one of its job steps is failed, an
order's while one of its jobs has failed job steps (:func:`derive_failure_flags`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.orm import Session

from proseo.enums import JobStepState
from proseo.model import Job, JobStep, ProcessingOrder, Product, transition
from proseo.model.base import utc_now
from proseo.model.states import bulk_transition

S = JobStepState


def complete_job_step(
    session: Session, step: JobStep, *, changed_by: str | None, reason: str
) -> None:
    """RUNNING -> COMPLETED (its outputs already recorded by the caller)."""
    transition(session, step, S.COMPLETED, changed_by=changed_by, reason=reason)


def fail_job_step(
    session: Session,
    step: JobStep,
    order: ProcessingOrder,
    reason: str,
    *,
    changed_by: str | None,
) -> bool:
    """RUNNING -> FAILED; while the step's attempt count (its runs, less those that failed
    for an unreachable storage: :func:`requeue_job_step`) is at most the order's
    ``max_retries``, at once back to READY for another attempt (FAILED -> PLANNED -> READY).
    A failure for good names the step and the reason in the order's state message.

    :returns: whether the step was retried automatically.
    """
    step.is_failed = True
    transition(session, step, S.FAILED, changed_by=changed_by, reason=reason)
    counted = step.attempt - step.transient_failures
    if counted <= order.max_retries:
        transition(
            session,
            step,
            S.PLANNED,
            changed_by=changed_by,
            reason=f"automatic retry after attempt {counted} of {order.max_retries + 1}",
        )
        step.is_failed = False
        transition(session, step, S.READY, changed_by=changed_by, reason="retry")
        return True
    order.state_message = f"job step {step.id} failed: {reason}"
    return False


def requeue_job_step(
    session: Session,
    step: JobStep,
    reason: str,
    *,
    hold_s: float,
    changed_by: str | None,
) -> None:
    """RUNNING -> FAILED -> PLANNED -> READY after a run that failed for a transient cause
    outside the processor (the storage could not be reached): the run does not count as an
    attempt (``transient_failures`` goes up with ``attempt``), and the dispatcher does not
    take the step again for ``hold_s`` seconds (``not_before``, UTC), so an outage is not met
    by a run every round. The history names the cause and the hold."""
    step.transient_failures += 1
    step.not_before = utc_now() + timedelta(seconds=hold_s)
    transition(session, step, S.FAILED, changed_by=changed_by, reason=reason)
    transition(
        session,
        step,
        S.PLANNED,
        changed_by=changed_by,
        reason=f"requeued without counting the attempt (transient failure "
        f"{step.transient_failures}); not before {step.not_before.isoformat()}",
    )
    transition(session, step, S.READY, changed_by=changed_by, reason="requeue")


def retry_failed_job_steps(
    session: Session, where: ColumnElement[bool], *, changed_by: str | None, reason: str
) -> int:
    """FAILED job steps matching ``where`` -> PLANNED, no longer failed (an operator's retry;
    release to run them). The caller derives the flags (:func:`derive_failure_flags`).

    :returns: the number of job steps retried.
    """
    count = bulk_transition(
        session, JobStep, where, [S.FAILED], S.PLANNED, changed_by=changed_by, reason=reason
    )
    session.execute(
        update(JobStep)
        .where(where, JobStep.state == S.PLANNED)
        .values(is_failed=False)
        .execution_options(synchronize_session=False)
    )
    return count


def time_out_inputs(
    session: Session,
    release: Sequence[int],
    fail: Sequence[int],
    *,
    changed_by: str | None,
) -> None:
    """WAITING_INPUT job steps whose input-data timeout passed: ``release`` -> READY with
    the inputs there are; ``fail`` -> FAILED (through PLANNED), failed, with the order's
    state message saying why."""
    reason = "input data timeout"
    if release:
        bulk_transition(
            session,
            JobStep,
            JobStep.id.in_(release),
            [S.WAITING_INPUT],
            S.READY,
            changed_by=changed_by,
            reason=f"{reason}: released with the inputs available",
        )
    if not fail:
        return
    where = JobStep.id.in_(fail)
    bulk_transition(
        session, JobStep, where, [S.WAITING_INPUT], S.PLANNED, changed_by=changed_by, reason=reason
    )
    bulk_transition(
        session, JobStep, where, [S.PLANNED], S.FAILED, changed_by=changed_by, reason=reason
    )
    session.execute(
        update(JobStep)
        .where(where)
        .values(is_failed=True)
        .execution_options(synchronize_session=False)
    )
    orders = select(Job.processing_order_id).where(Job.id.in_(select(JobStep.job_id).where(where)))
    for order in session.scalars(select(ProcessingOrder).where(ProcessingOrder.id.in_(orders))):
        order.state_message = f"{len(fail)} job step(s) failed: {reason}"


def derive_failure_flags(session: Session, order_ids: Iterable[int]) -> None:
    """Set ``has_failed_job_steps`` of the jobs of ``order_ids`` from their job steps'
    ``is_failed``, and of the orders from their jobs (set-based: two UPDATEs). The only
    place these flags are written after planning."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    session.flush()
    # Only rows whose flag changes are updated (and so locked): a job whose steps another
    # dispatcher holds is not waited for unless its flag really changes.
    step_failed = exists().where(JobStep.job_id == Job.id, JobStep.is_failed.is_(True))
    session.execute(
        update(Job)
        .where(Job.processing_order_id.in_(ids), Job.has_failed_job_steps != step_failed)
        .values(has_failed_job_steps=step_failed)
        .execution_options(synchronize_session=False)
    )
    job_failed = exists().where(
        Job.processing_order_id == ProcessingOrder.id, Job.has_failed_job_steps.is_(True)
    )
    session.execute(
        update(ProcessingOrder)
        .where(ProcessingOrder.id.in_(ids), ProcessingOrder.has_failed_job_steps != job_failed)
        .values(has_failed_job_steps=job_failed)
        .execution_options(synchronize_session=False)
    )
    wanted = set(ids)
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, ProcessingOrder) and obj.id in wanted) or (
            isinstance(obj, Job) and obj.processing_order_id in wanted
        ):
            session.expire(obj, ["has_failed_job_steps"])


def supersede_older(session: Session, product: Product) -> int:
    """Mark superseded the older products ``product`` replaces: same product class, sensing
    window, file class and mode, with a file somewhere, not yet superseded (their components
    too). They stay in the catalogue (retention decides when they go) but are no longer input
    candidates.

    :returns: how many products were marked."""
    older = select(Product.id).where(
        Product.product_class_id == product.product_class_id,
        Product.sensing_start == product.sensing_start,
        Product.sensing_stop == product.sensing_stop,
        Product.file_class.is_not_distinct_from(product.file_class),
        Product.mode.is_not_distinct_from(product.mode),
        Product.id != product.id,
        Product.superseded_at.is_(None),
        Product.product_files.any(),
    )
    ids = list(session.scalars(older))
    if not ids:
        return 0
    session.execute(
        update(Product)
        .where(or_(Product.id.in_(ids), Product.enclosing_product_id.in_(ids)))
        .values(superseded_at=utc_now(), superseded_reason=f"replaced by product {product.id}")
        .execution_options(synchronize_session=False)
    )
    return len(ids)
