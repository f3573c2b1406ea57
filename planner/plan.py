"""The backward (dependency-based) production planner, set-based: the orchestration.

For an order: cut its window into job windows and leave out those whose requested products
exist or are being produced (:mod:`planner.equivalence`, the one definition of "the same
product"); find the job steps needed, level by level down to L0 and AUX
(:mod:`planner.demand`, plain logic); then write jobs, job steps, placeholder output products
(with components), product queries evaluated with those placeholders, and their satisfying
products in bulk (:mod:`planner.rows` formats them, :mod:`planner.writes` stores them); and
report what was made (:mod:`planner.summary`).

Products that count as inputs: those with a file at the order's facility, and those that are
being produced (outputs of job steps not FAILED or CLOSED, including this plan's own
placeholders). A product query is satisfied when its rule is satisfied and every selected
product already has a file; otherwise the job step waits for input after release.

The caller owns the transaction: a failure leaves nothing behind, and a dry run is a plan
whose transaction is rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.demand import Demand, plan_demand
from planner.equivalence import equivalent_products
from planner.reads import InputCandidates, PlanningCatalogue, job_windows
from planner.rows import PlannedRows
from planner.summary import PlanSummary, add_details
from planner.writes import open_plan_store
from proseo.db.bulk import gc_paused
from proseo.errors import PlanningError
from proseo.model import Mission, ProcessingOrder

__all__ = ["PlanSummary", "plan_order"]


def plan_order(
    session: Session,
    order: ProcessingOrder,
    *,
    details: bool = False,
    changed_by: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> PlanSummary:
    """Plan ``order`` (which must be in state PLANNING); insert everything in bulk.

    :param details: also collect per-step details (for ``--dry-run``; costs memory).
    :param progress: told each planning phase as it ends, with its seconds.
    :returns: the :class:`PlanSummary`.
    :raises PlanningError: when a class cannot be planned (no configured processor, cyclic
        rules, no orbits) or a referenced row vanished; the caller rolls back.
    """
    with gc_paused():
        return _plan(session, order, details, changed_by, progress)


def _plan(
    session: Session,
    order: ProcessingOrder,
    details: bool,
    changed_by: str | None,
    progress: Callable[[str, float], None] | None = None,
) -> PlanSummary:
    started = time.perf_counter()
    if order.processing_facility_id is None:
        raise PlanningError(f"processing order {order.identifier} has no processing facility")
    facility_id = order.processing_facility_id
    # One planner per mission at a time (a row lock on PostgreSQL; SQLite has one writer
    # anyway): a second order over the same window then sees the first one's job steps and
    # reuses their outputs instead of planning them again.
    session.scalar(select(Mission.id).where(Mission.id == order.mission_id).with_for_update())
    summary = PlanSummary(order.id, progress=progress)
    catalogue = PlanningCatalogue(session, order)
    windows = job_windows(session, order)
    sources = InputCandidates(session, catalogue, facility_id, windows)
    summary.windows = windows if details else []
    summary.mark("catalogue and job windows")

    wanted: dict[int, set[int]] = {}
    for pc in order.requested_product_classes:
        target = catalogue.producer(pc.id) or pc.id
        equivalents = equivalent_products(
            session, order, pc.id, catalogue.configured_processor(target), facility_id, windows
        )
        jobs = {j for j, w in enumerate(windows) if (w.start, w.stop) not in equivalents.status}
        summary.skipped_existing += equivalents.count("found")
        summary.in_production += equivalents.count("in production")
        summary.producers |= equivalents.producers
        wanted[target] = wanted.get(target, set()) | jobs
    demand = plan_demand(
        catalogue, wanted, lambda simple, jobs: sources.evaluate(simple, jobs),
        mission=order.mission.code,
    )  # fmt: skip
    summary.mark("demand")
    if demand.planned:
        _write(session, order, catalogue, sources, demand, summary, details, changed_by)
    summary.seconds = time.perf_counter() - started
    return summary


def _write(
    session: Session,
    order: ProcessingOrder,
    catalogue: PlanningCatalogue,
    sources: InputCandidates,
    demand: Demand,
    summary: PlanSummary,
    details: bool,
    changed_by: str | None,
) -> None:
    """Write the plan (:class:`PlannedRows`) through the plan store.

    Jobs, job steps and products are written first; meanwhile the store's reader draws the
    product and query ids and fetches the candidates; then the product queries are evaluated
    (in memory) and written with their links. On PostgreSQL the session's connection is the
    bottleneck: nothing else should wait on it."""
    rows = PlannedRows(session, order, catalogue, sources, demand.planned)
    summary.mark("job and job step ids")
    rules = [simple for class_rules in rows.rules.values() for simple, _id in class_rules]
    with open_plan_store(session, order.identifier) as store:
        summary.integrity = store.integrity
        product_ids = store.read(rows.allocate_product_ids)
        fetched = store.read(lambda connection: sources.fetch(rules, connection))
        query_ids = store.read(rows.allocate_query_ids)
        rows.write_jobs(store, changed_by)
        product_ids.result()
        rows.write_products(store)
        summary.mark("jobs, job steps and products made")
        fetched.result()
        rows.evaluate_queries()
        summary.mark("product queries evaluated")
        query_ids.result()
        rows.write_queries(store)
        summary.mark("product queries made")
    summary.mark("waiting for the database")
    summary.jobs = len(rows.job_ids)
    summary.job_steps = len(rows.step_ids)
    for class_id, jobs in demand.planned.items():
        summary.steps_per_class[catalogue.classes[class_id].product_type] = len(jobs)
    summary.product_queries = len(rows.query_rows)
    summary.unsatisfied_queries = sum(
        1 for row in rows.query_rows if row.mandatory and not row.satisfied
    )
    if details:
        add_details(
            summary,
            dict(zip(rows.step_keys, rows.step_ids, strict=True)),
            demand.level_of,
            rows.query_rows,
            rows.selections,
            sources.with_files,
            product_type=lambda class_id: catalogue.classes[class_id].product_type,
            configured_processor=lambda c: catalogue.configured_processor(c).identifier,
        )
