"""The backward (dependency-based) production planner, set-based.

For an order: cut its window into jobs; for every job and requested product class plan a job
step (unless an equivalent product already exists at the facility); evaluate each step's
selection rules for all its jobs at once; where a mandatory input is missing and a processor
can make it (and the stop list allows), plan that upstream step in the same job window —
level by level down to L0 and AUX. Then insert jobs, job steps, placeholder output products
(with components), product queries and their satisfying products in bulk.

Rule evaluation runs per (product class, simple rule) over all job windows of that class
(:mod:`planner.rules.sql`): a handful of queries per class, never one per job step.

Products that count as inputs: those with a file at the order's facility, and those that are
being produced (outputs of job steps not FAILED or CLOSED, including this plan's own
placeholders). A product query is satisfied when its rule is satisfied and every selected
product already has a file; otherwise the job step waits for input after release.

The caller owns the transaction: a failure leaves nothing behind, and a dry run is a plan
whose transaction is rolled back.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from planner.rules.evaluate import Selection, TimeWindow
from planner.rules.language import SimpleRule, format_simple_rule, merge_rules, parse_rule
from planner.rules.sql import evaluate_simple_rule_for_windows
from planner.slicing import JobWindow, OrbitInfo, slice_order
from planner.versions import version_key
from proseo.db.bulk import allocate_ids, bulk_insert, refresh_statistics, table_of
from proseo.errors import PlanningError
from proseo.model import (
    ConfiguredProcessor,
    Job,
    JobStep,
    Orbit,
    ProcessingOrder,
    Processor,
    Product,
    ProductClass,
    ProductFile,
    ProductParameter,
    ProductQuery,
    SelectionRule,
    SimpleSelectionRule,
    Spacecraft,
    StateHistory,
)
from proseo.model.base import utc_now
from proseo.model.enums import JobState, JobStepState, SlicingType, StatefulEntity
from proseo.model.order import product_query_satisfying_product

MAX_DEPTH = 16
_CHUNK = 5_000


@dataclass
class StepInputs:
    """Dry-run detail of one job step's input (one simple rule)."""

    source_type: str
    rule: str
    mandatory: bool
    satisfied: bool
    found: int
    in_production: int


@dataclass
class PlannedStep:
    """Dry-run detail of one planned job step."""

    job: int
    product_type: str
    configured_processor: str
    level: int
    inputs: list[StepInputs] = field(default_factory=list)


@dataclass
class PlanSummary:
    """What a plan made: counts, seconds, and per-step details when asked for."""

    order_id: int
    jobs: int = 0
    job_steps: int = 0
    steps_per_class: dict[str, int] = field(default_factory=dict)
    skipped_existing: int = 0
    product_queries: int = 0
    unsatisfied_queries: int = 0
    seconds: float = 0.0
    windows: list[JobWindow] = field(default_factory=list)
    steps: list[PlannedStep] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Catalogue:
    """The mission's product classes, selection rules and configured processors, loaded once."""

    def __init__(self, session: Session, order: ProcessingOrder) -> None:
        self.order = order
        self.classes = {
            pc.id: pc
            for pc in session.scalars(
                select(ProductClass)
                .where(ProductClass.mission_id == order.mission_id)
                .options(
                    selectinload(ProductClass.component_classes),
                    selectinload(ProductClass.processor_class),
                    selectinload(ProductClass.selection_rules)
                    .selectinload(SelectionRule.simple_rules)
                    .selectinload(SimpleSelectionRule.source_class),
                    selectinload(ProductClass.selection_rules).selectinload(
                        SelectionRule.applicable_configured_processors
                    ),
                )
            )
        }
        self.by_type = {pc.product_type: pc for pc in self.classes.values()}
        self.configured = list(
            session.scalars(
                select(ConfiguredProcessor)
                .join(Processor)
                .where(ConfiguredProcessor.enabled.is_(True))
                .options(
                    selectinload(ConfiguredProcessor.processor),
                    selectinload(ConfiguredProcessor.configuration),
                )
            )
        )
        self.stop_ids = {pc.id for pc in order.input_product_classes}
        self.order_filters: dict[int, dict[str, str]] = defaultdict(dict)
        for condition in order.input_filters:
            self.order_filters[condition.product_class_id][condition.key] = condition.value
        self._chosen: dict[int, ConfiguredProcessor] = {}
        self._rules: dict[int, list[tuple[SimpleRule, int | None]]] = {}

    def producer(self, class_id: int) -> int | None:
        """The class a job step must produce to make ``class_id`` (its enclosing class for a
        component), or ``None`` when no processor makes it or the stop list forbids it."""
        pc = self.classes[class_id]
        target = self.classes[pc.enclosing_class_id] if pc.enclosing_class_id else pc
        if target.processor_class_id is None:
            return None
        if class_id in self.stop_ids or target.id in self.stop_ids:
            return None
        return target.id

    def configured_processor(self, class_id: int) -> ConfiguredProcessor:
        """The order's configured processor for the class, else the newest enabled one whose
        configuration matches the order's mode, else a mode-less one (versions compared as
        versions). :raises PlanningError: when there is none."""
        if class_id in self._chosen:
            return self._chosen[class_id]
        pc = self.classes[class_id]
        mine = [
            cp for cp in self.configured if cp.processor.processor_class_id == pc.processor_class_id
        ]
        requested = [cp for cp in self.order.requested_configured_processors if cp in mine]
        mode = self.order.processing_mode
        pool = (
            requested
            or [cp for cp in mine if cp.configuration.mode == mode]
            or [cp for cp in mine if cp.configuration.mode is None]
        )
        if not pool:
            name = pc.processor_class.name if pc.processor_class else "none"
            raise PlanningError(
                f"no enabled configured processor for product class {pc.product_type} "
                f"(processor class {name}) in mode {mode or 'none'} or without mode"
            )
        chosen = max(
            pool,
            key=lambda cp: (
                version_key(cp.processor.processor_version),
                version_key(cp.configuration.configuration_version),
            ),
        )
        self._chosen[class_id] = chosen
        return chosen

    def rules(self, class_id: int) -> list[tuple[SimpleRule, int | None]]:
        """The merged simple rules of a class for the order (mode, configured processor and
        the order's input filters applied), each with the id of a stored simple rule."""
        if class_id in self._rules:
            return self._rules[class_id]
        chosen = self.configured_processor(class_id)
        mode = self.order.processing_mode
        texts: list[SimpleRule] = []
        origin: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        for rule in self.classes[class_id].selection_rules:
            if rule.mode not in (None, mode):
                continue
            applicable = rule.applicable_configured_processors
            if applicable and chosen not in applicable:
                continue
            for stored, parsed in zip(
                rule.simple_rules, parse_rule(rule.rule_text).simple_rules, strict=False
            ):
                texts.append(parsed)
                origin.setdefault(parsed.source_key, stored.id)
        merged = []
        for simple in merge_rules(texts).simple_rules:
            source = self.by_type.get(simple.source_type)
            if source is None:
                raise PlanningError(
                    f"selection rule of {self.classes[class_id].product_type} names unknown "
                    f"product type {simple.source_type}"
                )
            extra = self.order_filters.get(source.id)
            rule_id = origin.get(simple.source_key)
            if extra:
                simple = replace(
                    simple, filters=tuple(sorted({**dict(simple.filters), **extra}.items()))
                )
            merged.append((simple, rule_id))
        self._rules[class_id] = merged
        return merged


def _job_windows(session: Session, order: ProcessingOrder) -> list[JobWindow]:
    orbits: list[OrbitInfo] = []
    if order.slicing_type is SlicingType.ORBIT:
        query = select(Orbit.id, Orbit.orbit_number, Orbit.start_time, Orbit.stop_time).join(
            Spacecraft
        )
        conditions = []
        for r in order.orbit_ranges:
            conditions.append(
                and_(
                    Spacecraft.code == r.spacecraft_code,
                    Orbit.orbit_number.between(r.orbit_from, r.orbit_to),
                )
            )
        if conditions:
            query = query.where(Spacecraft.mission_id == order.mission_id, or_(*conditions))
        elif order.start_time is not None and order.stop_time is not None:
            query = query.where(
                Spacecraft.mission_id == order.mission_id,
                Orbit.start_time < order.stop_time,
                Orbit.stop_time > order.start_time,
            )
        orbits = [OrbitInfo(*row) for row in session.execute(query)]
        if not orbits:
            raise PlanningError(
                f"processing order {order.identifier}: no stored orbit is requested"
            )
    return slice_order(
        order.slicing_type,
        order.start_time,
        order.stop_time,
        slice_duration=None
        if order.slice_duration_ms is None
        else timedelta(milliseconds=order.slice_duration_ms),
        overlap=timedelta(milliseconds=order.slice_overlap_ms),
        orbits=orbits,
    )


def plan_order(
    session: Session,
    order: ProcessingOrder,
    *,
    details: bool = False,
    changed_by: str | None = None,
) -> PlanSummary:
    """Plan ``order`` (which must be in state PLANNING); insert everything in bulk.

    :param details: also collect per-step details (for ``--dry-run``; costs memory).
    :returns: the :class:`PlanSummary`.
    :raises PlanningError: when a class cannot be planned (no configured processor, cyclic
        rules, no orbits); the caller rolls back.
    """
    started = time.perf_counter()
    if order.processing_facility_id is None:
        raise PlanningError(f"processing order {order.identifier} has no processing facility")
    facility_id = order.processing_facility_id
    catalogue = _Catalogue(session, order)
    windows = _job_windows(session, order)
    refresh_statistics(session, table_of(Product), table_of(ProductFile), table_of(JobStep))
    summary = PlanSummary(order.id, windows=windows if details else [])

    def candidates(product: Any) -> ColumnElement[bool]:
        has_file = exists().where(
            ProductFile.product_id == product.id, ProductFile.processing_facility_id == facility_id
        )
        in_production = exists().where(
            JobStep.id == product.job_step_id,
            JobStep.state.not_in([JobStepState.FAILED, JobStepState.CLOSED]),
        )
        return or_(has_file, in_production)

    def evaluate(simple: SimpleRule, jobs: Iterable[int]) -> dict[int, Selection]:
        source = catalogue.by_type[simple.source_type]
        job_windows = [TimeWindow(windows[j].start, windows[j].stop, key=j) for j in sorted(jobs)]
        return evaluate_simple_rule_for_windows(
            session, simple, source.id, job_windows, candidates=candidates
        )

    # 1. Demand: which (class, job) steps are needed, level by level.
    planned: dict[int, set[int]] = defaultdict(set)
    level_of: dict[int, int] = {}
    frontier: dict[int, set[int]] = defaultdict(set)
    for pc in order.requested_product_classes:
        target = catalogue.producer(pc.id) or pc.id
        existing = _existing_windows(session, pc.id, facility_id, windows)
        wanted = {j for j, w in enumerate(windows) if (w.start, w.stop) not in existing}
        summary.skipped_existing += len(windows) - len(wanted)
        frontier[target] |= wanted
    level = 0
    while frontier:
        if level > MAX_DEPTH:
            raise PlanningError(
                f"selection rules of mission {order.mission.code} nest deeper than {MAX_DEPTH} "
                "levels (a cycle?)"
            )
        next_frontier: dict[int, set[int]] = defaultdict(set)
        for class_id, jobs in frontier.items():
            new_jobs = jobs - planned[class_id]
            if not new_jobs:
                continue
            planned[class_id] |= new_jobs
            level_of.setdefault(class_id, level)
            for simple, _rule_id in catalogue.rules(class_id):
                if not simple.mandatory:
                    continue
                producer = catalogue.producer(catalogue.by_type[simple.source_type].id)
                if producer is None:
                    continue
                # Jobs where the producer is already planned need no evaluation now.
                open_jobs = new_jobs - planned[producer] - next_frontier[producer]
                if not open_jobs:
                    continue
                missing = {j for j, s in evaluate(simple, open_jobs).items() if not s.satisfied}
                next_frontier[producer] |= missing
        frontier = {k: v for k, v in next_frontier.items() if v}
        level += 1

    planned = {k: v for k, v in planned.items() if v}
    if not planned:
        summary.seconds = time.perf_counter() - started
        return summary
    _insert(
        session,
        order,
        catalogue,
        windows,
        planned,
        level_of,
        evaluate,
        summary,
        details,
        changed_by,
    )
    summary.seconds = time.perf_counter() - started
    return summary


def _existing_windows(
    session: Session, class_id: int, facility_id: int, windows: Sequence[JobWindow]
) -> set[tuple[Any, Any]]:
    """(start, stop) of products of the class with a file at the facility within the order."""
    if not windows:
        return set()
    lo = min(w.start for w in windows)
    hi = max(w.stop for w in windows)
    rows = session.execute(
        select(Product.sensing_start, Product.sensing_stop).where(
            Product.product_class_id == class_id,
            Product.sensing_start >= lo,
            Product.sensing_start <= hi,
            exists().where(
                ProductFile.product_id == Product.id,
                ProductFile.processing_facility_id == facility_id,
            ),
        )
    )
    return {(start, stop) for start, stop in rows}


def _insert(
    session: Session,
    order: ProcessingOrder,
    catalogue: _Catalogue,
    windows: Sequence[JobWindow],
    planned: dict[int, set[int]],
    level_of: dict[int, int],
    evaluate: Any,
    summary: PlanSummary,
    details: bool,
    changed_by: str | None,
) -> None:
    now = utc_now()
    used_jobs = sorted(set().union(*planned.values()))
    job_rows: list[dict[str, Any]] = [
        {
            "processing_order_id": order.id,
            "state": JobState.PLANNED,
            "start_time": windows[j].start,
            "stop_time": windows[j].stop,
            "orbit_id": windows[j].orbit_id,
            "processing_facility_id": order.processing_facility_id,
            "priority": order.priority,
            "has_failed_job_steps": False,
        }
        for j in used_jobs
    ]
    job_ids = dict(
        zip(used_jobs, allocate_ids(session, table_of(Job), len(used_jobs)), strict=True)
    )
    for j, job_row in zip(used_jobs, job_rows, strict=True):
        job_row["id"] = job_ids[j]
    bulk_insert(session, table_of(Job), job_rows)
    summary.jobs = len(job_ids)

    step_keys: list[tuple[int, int]] = [
        (class_id, j) for class_id in sorted(planned) for j in sorted(planned[class_id])
    ]
    step_rows: list[dict[str, Any]] = [
        {
            "job_id": job_ids[j],
            "state": JobStepState.PLANNED,
            "processing_mode": order.processing_mode,
            "priority": order.priority,
            "configured_processor_id": catalogue.configured_processor(class_id).id,
            "attempt": 0,
            "stdout_log_level": "INFO",
            "stderr_log_level": "INFO",
            "is_failed": False,
            "created_at": now,
        }
        for class_id, j in step_keys
    ]
    step_ids = dict(
        zip(step_keys, allocate_ids(session, table_of(JobStep), len(step_keys)), strict=True)
    )
    for key, step_row in zip(step_keys, step_rows, strict=True):
        step_row["id"] = step_ids[key]
    bulk_insert(session, table_of(JobStep), step_rows)
    summary.job_steps = len(step_ids)
    for class_id, jobs in planned.items():
        summary.steps_per_class[catalogue.classes[class_id].product_type] = len(jobs)

    def product_row(
        class_id: int, key: tuple[int, int], enclosing: int | None = None
    ) -> dict[str, Any]:
        window = windows[key[1]]
        return {
            "product_class_id": class_id,
            "file_class": order.file_class,
            "mode": order.processing_mode,
            "product_quality": order.product_quality,
            "production_type": order.production_type,
            "sensing_start": window.start,
            "sensing_stop": window.stop,
            "orbit_id": window.orbit_id,
            "job_step_id": step_ids[key],
            "configured_processor_id": catalogue.configured_processor(key[0]).id,
            "enclosing_product_id": enclosing,
            "created_at": now,
        }

    main_ids = dict(
        zip(step_keys, allocate_ids(session, table_of(Product), len(step_keys)), strict=True)
    )
    main_rows = [{**product_row(key[0], key), "id": main_ids[key]} for key in step_keys]
    bulk_insert(session, table_of(Product), main_rows)
    component_rows = [
        product_row(component.id, key, enclosing=main_ids[key])
        for key in step_keys
        for component in catalogue.classes[key[0]].component_classes
    ]
    bulk_insert(session, table_of(Product), component_rows)
    if order.output_parameters:
        parameter_rows = [
            {"product_id": pid, "key": p.key, "parameter_type": p.parameter_type, "value": p.value}
            for pid in main_ids.values()
            for p in order.output_parameters
        ]
        bulk_insert(session, table_of(ProductParameter), parameter_rows)

    history = [
        {
            "entity_type": StatefulEntity.JOB,
            "entity_id": jid,
            "from_state": JobState.INITIAL.value,
            "to_state": JobState.PLANNED.value,
            "changed_at": now,
            "changed_by": changed_by,
            "reason": "planned",
        }
        for jid in job_ids.values()
    ] + [
        {
            "entity_type": StatefulEntity.JOB_STEP,
            "entity_id": sid,
            "from_state": None,
            "to_state": JobStepState.PLANNED.value,
            "changed_at": now,
            "changed_by": changed_by,
            "reason": "planned",
        }
        for sid in step_ids.values()
    ]
    bulk_insert(session, table_of(StateHistory), history)

    refresh_statistics(session, table_of(Product), table_of(JobStep), table_of(Job))

    # 2. Product queries, evaluated once more now that the placeholders exist.
    query_rows: list[dict[str, Any]] = []
    selections: list[frozenset[int]] = []
    detail: dict[tuple[int, int], PlannedStep] = {}
    for class_id in sorted(planned):
        jobs = planned[class_id]
        for simple, rule_id in catalogue.rules(class_id):
            source = catalogue.by_type[simple.source_type]
            for j, selection in sorted(evaluate(simple, jobs).items()):
                query_rows.append(
                    {
                        "job_step_id": step_ids[(class_id, j)],
                        "requested_product_class_id": source.id,
                        "generating_rule_id": rule_id,
                        "rule_text": format_simple_rule(simple),
                        "is_mandatory": simple.mandatory,
                        "minimum_coverage": simple.min_coverage,
                        "is_satisfied": selection.satisfied,
                    }
                )
                selections.append(selection.product_ids)
    selected_ids = sorted(set().union(*selections)) if selections else []
    with_files: set[int] = set()
    for chunk in _chunks(selected_ids):
        with_files.update(
            session.scalars(
                select(ProductFile.product_id).where(
                    ProductFile.product_id.in_(chunk),
                    ProductFile.processing_facility_id == order.processing_facility_id,
                )
            )
        )
    for row, chosen in zip(query_rows, selections, strict=True):
        row["is_satisfied"] = bool(row["is_satisfied"] and chosen <= with_files)
    query_ids = allocate_ids(session, table_of(ProductQuery), len(query_rows))
    for qid, query_row in zip(query_ids, query_rows, strict=True):
        query_row["id"] = qid
    bulk_insert(session, table_of(ProductQuery), query_rows)
    links = [
        {"product_query_id": qid, "product_id": pid}
        for qid, chosen in zip(query_ids, selections, strict=True)
        for pid in chosen
    ]
    bulk_insert(session, product_query_satisfying_product, links)
    summary.product_queries = len(query_rows)
    summary.unsatisfied_queries = sum(
        1 for r in query_rows if r["is_mandatory"] and not r["is_satisfied"]
    )
    if details:
        by_step = {v: k for k, v in step_ids.items()}
        for key in step_keys:
            detail[key] = PlannedStep(
                job=key[1],
                product_type=catalogue.classes[key[0]].product_type,
                configured_processor=catalogue.configured_processor(key[0]).identifier,
                level=level_of.get(key[0], 0),
            )
        for row, chosen in zip(query_rows, selections, strict=True):
            step = detail[by_step[row["job_step_id"]]]
            step.inputs.append(
                StepInputs(
                    source_type=catalogue.classes[row["requested_product_class_id"]].product_type,
                    rule=row["rule_text"],
                    mandatory=row["is_mandatory"],
                    satisfied=row["is_satisfied"],
                    found=len(chosen & with_files),
                    in_production=len(chosen - with_files),
                )
            )
        summary.steps = sorted(detail.values(), key=lambda s: (s.job, -s.level, s.product_type))
