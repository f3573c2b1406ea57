"""The mission an order or a job step belongs to (what a user's rights are checked against)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from proseo.errors import NotFoundError
from proseo.model import Job, JobStep, Mission, ProcessingOrder


def _mission_of(query: Select[str], session: Session, what: str, object_id: int) -> str:
    """The mission code ``query`` (joined down to the object, filtered by its id) finds.

    :raises NotFoundError: naming ``what`` and the id when there is none.
    """
    code = session.scalar(query)
    if code is None:
        raise NotFoundError(
            f"no {what} with id {object_id}", field=what.replace(" ", "_"), value=object_id
        )
    return code


_ORDERS = select(Mission.code).join(ProcessingOrder, ProcessingOrder.mission_id == Mission.id)


def order_mission(session: Session, order_id: int) -> str:
    """The mission code of order ``order_id``.

    :raises NotFoundError: naming the id when there is no such order.
    """
    query = _ORDERS.where(ProcessingOrder.id == order_id)
    return _mission_of(query, session, "processing order", order_id)


def job_step_mission(session: Session, job_step_id: int) -> str:
    """The mission code of job step ``job_step_id``.

    :raises NotFoundError: naming the id when there is no such job step.
    """
    query = (
        _ORDERS.join(Job, Job.processing_order_id == ProcessingOrder.id)
        .join(JobStep, JobStep.job_id == Job.id)
        .where(JobStep.id == job_step_id)
    )
    return _mission_of(query, session, "job step", job_step_id)
