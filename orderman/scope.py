"""The mission an order or a job step belongs to (what a user's rights are checked against)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from proseo.errors import NotFoundError
from proseo.model import Job, JobStep, Mission, ProcessingOrder


def order_mission(session: Session, order_id: int) -> str:
    """The mission code of order ``order_id``.

    :raises NotFoundError: naming the id when there is no such order.
    """
    code = session.scalar(
        select(Mission.code)
        .join(ProcessingOrder, ProcessingOrder.mission_id == Mission.id)
        .where(ProcessingOrder.id == order_id)
    )
    if code is None:
        raise NotFoundError(
            f"no processing order with id {order_id}", field="order", value=order_id
        )
    return code


def job_step_mission(session: Session, job_step_id: int) -> str:
    """The mission code of job step ``job_step_id``.

    :raises NotFoundError: naming the id when there is no such job step.
    """
    code = session.scalar(
        select(Mission.code)
        .join(ProcessingOrder, ProcessingOrder.mission_id == Mission.id)
        .join(Job, Job.processing_order_id == ProcessingOrder.id)
        .join(JobStep, JobStep.job_id == Job.id)
        .where(JobStep.id == job_step_id)
    )
    if code is None:
        raise NotFoundError(
            f"no job step with id {job_step_id}", field="job_step", value=job_step_id
        )
    return code
