"""What runs, what waits and what failed: the counts and series the operator's dashboard and
the Prometheus gauges read.

Every function reads through indexes, never counts finished job steps (COMPLETED and CLOSED
only grow; their rate comes from the completion-time index ``ix_job_step_completion``), so
a page stays fast with hundreds of thousands of job steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from proseo.db.functions import epoch_us
from proseo.enums import JobStepState
from proseo.model import (
    Job,
    JobStep,
    Mission,
    ProcessingFacility,
    ProcessingOrder,
    ProductClass,
)
from proseo.model.base import utc_now
from proseo.model.product import Product

ACTIVE_STEP_STATES = [
    JobStepState.PLANNED,
    JobStepState.WAITING_INPUT,
    JobStepState.READY,
    JobStepState.RUNNING,
    JobStepState.FAILED,
]
"""Job step states that are counted (COMPLETED and CLOSED only grow: their rate is what
tells, see :func:`hourly_throughput`)."""

HOUR_US = 3_600_000_000
"""One hour in microseconds (the bucket of the throughput series)."""


SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def _in_mission(query: SelectT, mission: str | None) -> SelectT:
    if mission is None:
        return query
    mission_id = select(Mission.id).where(Mission.code == mission).scalar_subquery()
    return query.join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id).where(
        ProcessingOrder.mission_id == mission_id
    )


def job_step_counts(session: Session, mission: str | None = None) -> list[tuple[str, str, int]]:
    """Job steps of :data:`ACTIVE_STEP_STATES` as (facility name, state, count), of one
    mission (code) or of all (``None``)."""
    query = (
        select(ProcessingFacility.name, JobStep.state, func.count(JobStep.id))
        .join(Job, JobStep.job_id == Job.id)
        .join(ProcessingFacility, Job.processing_facility_id == ProcessingFacility.id)
        .where(JobStep.state.in_(ACTIVE_STEP_STATES))
        .group_by(ProcessingFacility.name, JobStep.state)
    )
    return [
        (facility, state.value, count)
        for facility, state, count in session.execute(_in_mission(query, mission))
    ]


def order_counts(session: Session, mission: str | None = None) -> list[tuple[str, str, int]]:
    """Processing orders as (mission code, state, count)."""
    query = (
        select(Mission.code, ProcessingOrder.state, func.count(ProcessingOrder.id))
        .join(Mission, ProcessingOrder.mission_id == Mission.id)
        .group_by(Mission.code, ProcessingOrder.state)
    )
    if mission is not None:
        query = query.where(Mission.code == mission)
    return [(code, state.value, count) for code, state, count in session.execute(query)]


def facility_capacities(session: Session) -> list[tuple[str, str, int]]:
    """Processing facilities as (name, state, max_job_steps)."""
    return [
        (name, state.value, most)
        for name, state, most in session.execute(
            select(
                ProcessingFacility.name, ProcessingFacility.state, ProcessingFacility.max_job_steps
            ).order_by(ProcessingFacility.name)
        )
    ]


@dataclass(frozen=True)
class Requeues:
    """Job steps of one facility that a storage outage sent back (``transient_failures`` > 0)
    and that have not finished: how many are held back now (READY with a ``not_before`` in
    the future) and the most requeues one of them has had. A count that keeps climbing says
    the facility's storage stays out of reach (the dispatcher requeues a step up to
    ``executor.transient_requeues`` times before its failure counts)."""

    facility: str
    held_back: int
    most_requeues: int


def requeue_counts(session: Session, mission: str | None = None) -> list[Requeues]:
    """:class:`Requeues` per facility that has such job steps, of one mission (code) or of
    all (``None``), by facility name."""
    held = case((JobStep.held_back_condition(utc_now()), 1), else_=0)
    query = (
        select(ProcessingFacility.name, func.sum(held), func.max(JobStep.transient_failures))
        .join(Job, JobStep.job_id == Job.id)
        .join(ProcessingFacility, Job.processing_facility_id == ProcessingFacility.id)
        .where(
            JobStep.state.in_([JobStepState.READY, JobStepState.RUNNING]),
            JobStep.transient_failures > 0,
        )
        .group_by(ProcessingFacility.name)
        .order_by(ProcessingFacility.name)
    )
    return [
        Requeues(facility=name, held_back=int(count or 0), most_requeues=int(most or 0))
        for name, count, most in session.execute(_in_mission(query, mission))
    ]


@dataclass(frozen=True)
class HourlyPoint:
    """One hour of finished job steps: ``hour`` (UTC, the hour's start), how many completed
    and failed, and the mean run time (processing start to completion, seconds) of those
    that ran."""

    hour: datetime
    completed: int
    failed: int
    mean_run_s: float | None


def hourly_throughput(
    session: Session, since: datetime, until: datetime, mission: str | None = None
) -> list[HourlyPoint]:
    """Finished job steps per hour from ``since`` to ``until`` (UTC), every hour present
    (zero when nothing finished), oldest first; through ``ix_job_step_completion``."""
    bucket = epoch_us(JobStep.processing_completion_time) // HOUR_US
    run_us = epoch_us(JobStep.processing_completion_time) - epoch_us(JobStep.processing_start_time)
    query = (
        select(JobStep.state, bucket, func.count(JobStep.id), func.avg(run_us))
        .join(Job, JobStep.job_id == Job.id)
        .where(
            JobStep.processing_completion_time >= since,
            JobStep.processing_completion_time < until,
            JobStep.state.in_([JobStepState.COMPLETED, JobStepState.CLOSED, JobStepState.FAILED]),
        )
        .group_by(JobStep.state, bucket)
    )
    found: dict[int, list[float]] = {}
    for state, hour, count, mean in session.execute(_in_mission(query, mission)):
        entry = found.setdefault(int(hour), [0, 0, 0.0, 0])
        index = 1 if state is JobStepState.FAILED else 0
        entry[index] += count
        if mean is not None:
            entry[2] += float(mean) * count
            entry[3] += count
    first = int(since.timestamp()) // 3600
    last = (int(until.timestamp()) - 1) // 3600
    epoch = datetime(1970, 1, 1, tzinfo=since.tzinfo)
    points = []
    for hour in range(first, last + 1):
        done, failed, run_total, runs = found.get(hour, [0, 0, 0.0, 0])
        points.append(
            HourlyPoint(
                hour=epoch + timedelta(hours=hour),
                completed=int(done),
                failed=int(failed),
                mean_run_s=round(run_total / runs / 1e6, 3) if runs else None,
            )
        )
    return points


@dataclass(frozen=True)
class FailedStep:
    """A job step that failed: id, order (id, identifier), output product type, attempt,
    when (UTC) and the exit code."""

    id: int
    order_id: int
    order: str
    product_type: str
    attempt: int
    failed_at: datetime | None
    exit_code: int | None


def recent_failures(
    session: Session, since: datetime, mission: str | None = None, limit: int = 50
) -> list[FailedStep]:
    """Job steps that are FAILED now and finished after ``since`` (UTC), newest first."""
    query = (
        select(
            JobStep.id,
            ProcessingOrder.id,
            ProcessingOrder.identifier,
            JobStep.attempt,
            JobStep.processing_completion_time,
            JobStep.exit_code,
        )
        .join(Job, JobStep.job_id == Job.id)
        .join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id)
        .where(
            JobStep.state == JobStepState.FAILED,
            JobStep.processing_completion_time >= since,
        )
        .order_by(JobStep.processing_completion_time.desc())
        .limit(limit)
    )
    if mission is not None:
        query = query.join(Mission, ProcessingOrder.mission_id == Mission.id).where(
            Mission.code == mission
        )
    rows = session.execute(query).all()
    types = dict(
        session.execute(
            select(Product.job_step_id, ProductClass.product_type)
            .join(ProductClass, Product.product_class_id == ProductClass.id)
            .where(Product.job_step_id.in_([row[0] for row in rows]))
            .where(Product.enclosing_product_id.is_(None))
        ).all()
    )
    return [
        FailedStep(
            id=step_id,
            order_id=order_id,
            order=identifier,
            product_type=str(types.get(step_id, "?")),
            attempt=attempt,
            failed_at=at,
            exit_code=code,
        )
        for step_id, order_id, identifier, attempt, at, code in rows
    ]
