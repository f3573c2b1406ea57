"""Readiness of job steps: re-check the inputs of WAITING_INPUT job steps.

Called at once when products are ingested (an event in the ingesting transaction, for the
ingested product classes only), and by a slow periodic sweep as a safety net. Re-evaluation is
set-based: one evaluation per (requested product class, rule text) over the job windows of
all waiting queries, counting only products that have a file at the job's facility.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.orm import Session

from planner.rules.evaluate import TimeWindow
from planner.rules.sql import evaluate_simple_rule_for_windows
from proseo.db import Database
from proseo.db.bulk import bulk_insert
from proseo.enums import JobStepState
from proseo.model import Job, JobStep, ProductFile, ProductQuery
from proseo.model.order import product_query_satisfying_product
from proseo.model.states import bulk_transition
from proseo.rule_language import parse_rule


def recheck_waiting_job_steps(
    session: Session,
    product_class_ids: Iterable[int] | None = None,
    changed_by: str | None = None,
    *,
    order_id: int | None = None,
) -> int:
    """Re-evaluate the unsatisfied queries of WAITING_INPUT job steps (for the given input
    product classes, or all; of one order, or all) and make the job steps whose mandatory
    inputs are now all available READY.

    :returns: the number of job steps made READY.
    """
    query = (
        select(
            ProductQuery.id,
            ProductQuery.requested_product_class_id,
            ProductQuery.rule_text,
            Job.start_time,
            Job.stop_time,
            Job.processing_facility_id,
        )
        .join(JobStep, ProductQuery.job_step_id == JobStep.id)
        .join(Job, JobStep.job_id == Job.id)
        .where(
            JobStep.state == JobStepState.WAITING_INPUT,
            ProductQuery.is_satisfied.is_(False),
            ProductQuery.rule_text.is_not(None),
        )
    )
    if order_id is not None:
        query = query.where(Job.processing_order_id == order_id)
    if product_class_ids is not None:
        ids = list(product_class_ids)
        if not ids:
            return 0
        query = query.where(ProductQuery.requested_product_class_id.in_(ids))
    groups: dict[tuple[int, str, int | None], list[tuple[int, Any, Any]]] = defaultdict(list)
    for qid, class_id, text, start, stop, facility_id in session.execute(query):
        if text is not None:
            groups[(class_id, text, facility_id)].append((qid, start, stop))
    if not groups:
        return 0
    satisfied: dict[int, frozenset[int]] = {}
    for (class_id, text, facility_id), members in groups.items():
        (simple,) = parse_rule(text).simple_rules

        def available(product: Any, facility: int | None = facility_id) -> ColumnElement[bool]:
            return exists().where(
                ProductFile.product_id == product.id,
                ProductFile.processing_facility_id == facility,
            )

        windows = [TimeWindow(start, stop, key=qid) for qid, start, stop in members]
        for qid, selection in evaluate_simple_rule_for_windows(
            session, simple, class_id, windows, candidates=available
        ).items():
            if selection.satisfied and (selection.product_ids or not simple.mandatory):
                satisfied[qid] = selection.product_ids
    if satisfied:
        ids = list(satisfied)
        session.execute(
            update(ProductQuery)
            .where(ProductQuery.id.in_(ids))
            .values(is_satisfied=True)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(product_query_satisfying_product).where(
                product_query_satisfying_product.c.product_query_id.in_(ids)
            )
        )
        bulk_insert(
            session,
            product_query_satisfying_product,
            [
                {"product_query_id": q, "product_id": p}
                for q, chosen in satisfied.items()
                for p in chosen
            ],
        )
    open_inputs = exists().where(
        ProductQuery.job_step_id == JobStep.id,
        ProductQuery.is_mandatory.is_(True),
        ProductQuery.is_satisfied.is_(False),
    )
    touched = select(ProductQuery.job_step_id).where(ProductQuery.id.in_(list(satisfied) or [-1]))
    return bulk_transition(
        session,
        JobStep,
        JobStep.id.in_(touched) & ~open_inputs,
        [JobStepState.WAITING_INPUT],
        JobStepState.READY,
        changed_by=changed_by,
        reason="inputs available",
    )


def start_sweeper(database: Database, interval_s: float) -> Any:
    """Run :func:`recheck_waiting_job_steps` for all classes every ``interval_s`` seconds in a
    background thread (APScheduler): the safety net behind the ingestion event.

    :returns: the running scheduler (call ``shutdown()`` to stop it).
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    def sweep() -> None:
        with database.transaction() as session:
            recheck_waiting_job_steps(session, None, changed_by="readiness sweep")

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(sweep, "interval", seconds=interval_s, max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
