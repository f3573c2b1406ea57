"""Readiness of job steps: re-check the inputs of WAITING_INPUT job steps.

Called at once when products are ingested (in the ingesting transaction, for the ingested
product classes only, and only for the job windows those products can reach), and by a slow
periodic sweep as a safety net. Re-evaluation is set-based: one evaluation per (requested
product class, rule text) over the job windows of the waiting queries, counting only products
that have a file at the job's facility.

Reach: a product valid over [a, b) can only satisfy a query whose search window
[job start - delta before, job stop + delta after] meets it, unless a policy of the class's
selection rules looks beyond the window (LatestValidity, the Closest policies, ...). So the
re-check after an arrival reads the waiting queries of jobs starting before b + the largest
delta before and stopping after a - the largest delta after, found through the job start
index (bounded below by the longest job window), instead of every waiting query of the class:
with 300,000 job steps queued its cost does not grow with the queue. The deltas are those of
the selection rules configured now; a query planned under a rule with larger deltas since
changed is found by the periodic sweep.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, or_, select, update
from sqlalchemy.orm import Session

from planner.rules.evaluate import TimeWindow
from planner.rules.memory import reaches_far
from planner.rules.sql import evaluate_simple_rule_for_windows, longest_us
from proseo.backoff import Backoff
from proseo.db import Database
from proseo.db.bulk import bulk_insert
from proseo.enums import JobStepState
from proseo.errors import DatabaseBusyError
from proseo.metrics import INPUT_TO_READY
from proseo.model import Job, JobStep, ProductFile, ProductQuery
from proseo.model.base import utc_now
from proseo.model.order import product_query_satisfying_product
from proseo.model.productclass import SimplePolicy, SimpleSelectionRule
from proseo.model.states import bulk_transition
from proseo.rule_language import parse_rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrival:
    """A product that became available at a facility (ingested, or a job step's output
    stored): its product class and validity (sensing start/stop, UTC)."""

    product_class_id: int
    sensing_start: datetime
    sensing_stop: datetime
    arrived_at: datetime | None = None
    """When it arrived (UTC; ingestion start, or the producing run's end): the start of the
    ``proseo_input_to_ready_seconds`` it contributes to."""


def longest_job_window(session: Session) -> timedelta:
    """The longest job window (stop - start) of all jobs: one probe of ``ix_job_length``."""
    return timedelta(microseconds=longest_us(session, Job.start_time, Job.stop_time))


def reaches(
    session: Session, class_ids: Iterable[int]
) -> dict[int, tuple[timedelta, timedelta] | None]:
    """Per product class that a configured selection rule reads: the largest (delta before,
    delta after) of those rules' policies, or None when one of them looks beyond its window.
    Classes no rule reads are left out (no query of theirs can be waiting, unless planned
    under a rule since removed: the periodic sweep finds those)."""
    found: dict[int, tuple[timedelta, timedelta] | None] = {}
    for class_id, policy, before_ms, after_ms in session.execute(
        select(
            SimpleSelectionRule.source_class_id,
            SimplePolicy.policy_type,
            SimplePolicy.delta_before_ms,
            SimplePolicy.delta_after_ms,
        )
        .join(SimplePolicy, SimplePolicy.simple_rule_id == SimpleSelectionRule.id)
        .where(SimpleSelectionRule.source_class_id.in_(list(class_ids)))
    ):
        if class_id in found and found[class_id] is None:
            continue
        if reaches_far(policy):
            found[class_id] = None
            continue
        before, after = found.get(class_id) or (timedelta(0), timedelta(0))
        found[class_id] = (
            max(before, timedelta(milliseconds=before_ms)),
            max(after, timedelta(milliseconds=after_ms)),
        )
    return found


def _reachable(session: Session, arrivals: Sequence[Arrival]) -> ColumnElement[bool]:
    """Waiting queries the arrivals can satisfy: of their classes, and where every rule of a
    class stays near its window, of the jobs whose search windows meet the arrivals' span.
    Classes with the same bounds share one condition, and when every class is bounded the
    whole is also cut to one range of job starts, so PostgreSQL reads the job start index
    rather than every waiting query of the classes."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    for a in arrivals:
        lo, hi = spans.get(a.product_class_id, (a.sensing_start, a.sensing_stop))
        spans[a.product_class_id] = (min(lo, a.sensing_start), max(hi, a.sensing_stop))
    unbounded: list[int] = []
    bounded: dict[tuple[datetime, datetime, datetime], list[int]] = defaultdict(list)
    longest: timedelta | None = None
    read = reaches(session, spans)
    for class_id, (lo, hi) in spans.items():
        if class_id not in read:
            continue
        reach = read[class_id]
        if reach is None:
            unbounded.append(class_id)
            continue
        before, after = reach
        if longest is None:
            longest = longest_job_window(session)
        # job start before, job start from, job stop after
        bounded[(hi + before, lo - after - longest, lo - after)].append(class_id)
    conditions: list[ColumnElement[bool]] = [
        and_(
            ProductQuery.requested_product_class_id.in_(classes),
            Job.start_time < start_before,
            Job.start_time >= start_from,
            Job.stop_time > stop_after,
        )
        for (start_before, start_from, stop_after), classes in bounded.items()
    ]
    if unbounded:
        conditions.append(ProductQuery.requested_product_class_id.in_(unbounded))
        return or_(false(), *conditions)
    if not bounded:
        return false()
    return and_(
        Job.start_time < max(key[0] for key in bounded),
        Job.start_time >= min(key[1] for key in bounded),
        or_(false(), *conditions),
    )


def recheck_waiting_job_steps(
    session: Session,
    product_class_ids: Iterable[int] | None = None,
    changed_by: str | None = None,
    *,
    order_id: int | None = None,
    arrivals: Sequence[Arrival] | None = None,
) -> int:
    """Re-evaluate the unsatisfied queries of WAITING_INPUT job steps (for the given input
    product classes, or all; of one order, or all; or, given ``arrivals``, those the arrived
    products can reach, see the module's notes) and make the job steps whose mandatory
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
    if arrivals is not None:
        if not arrivals:
            return 0
        query = query.where(_reachable(session, arrivals))
    elif product_class_ids is not None:
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
    woken = bulk_transition(
        session,
        JobStep,
        JobStep.id.in_(touched) & ~open_inputs,
        [JobStepState.WAITING_INPUT],
        JobStepState.READY,
        changed_by=changed_by,
        reason="inputs available",
    )
    times = [a.arrived_at for a in arrivals or () if a.arrived_at is not None]
    if woken and times:
        latency = max(0.0, (utc_now() - min(times)).total_seconds())
        for _ in range(woken):
            INPUT_TO_READY.observe(latency)
    return woken


def start_sweeper(database: Database, interval_s: float) -> Any:
    """Run :func:`recheck_waiting_job_steps` for all classes every ``interval_s`` seconds in a
    background thread (APScheduler): the safety net behind the ingestion event. A sweep that
    finds the database busy or out of reach is logged once; the next sweeps are skipped for
    2, 4, 8 ... times the interval (at most 60 s) while that lasts.

    :returns: the running scheduler (call ``shutdown()`` to stop it).
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    backoff = Backoff(first_s=2 * interval_s, max_s=60.0)

    def sweep() -> None:
        if not backoff.due():
            return
        try:
            with database.transaction() as session:
                recheck_waiting_job_steps(session, None, changed_by="readiness sweep")
        except DatabaseBusyError as error:  # busy or out of reach: a later sweep tries again
            log.warning(
                "readiness sweep void: %s; next sweep in %.0f s", error.message, backoff.failed()
            )
            return
        backoff.passed()

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(sweep, "interval", seconds=interval_s, max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
