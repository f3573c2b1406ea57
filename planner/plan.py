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
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, and_, exists, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from planner.rules.evaluate import Candidate, Selection, epoch_us, filters_hold
from planner.rules.language import SimpleRule, format_simple_rule, merge_rules, parse_rule
from planner.rules.memory import CandidateIndex, needs_whole_class
from planner.rules.sql import product_conditions
from planner.slicing import JobWindow, OrbitInfo, slice_order
from planner.versions import version_key
from proseo.db.bulk import (
    RowWriter,
    SnapshotReader,
    allocate_ids,
    gc_paused,
    lock_referenced,
    may_skip_triggers,
    new_uuids,
    set_row_triggers,
    table_of,
)
from proseo.db.functions import epoch_us as sql_epoch_us
from proseo.errors import PlanningError
from proseo.model import (
    ConfiguredProcessor,
    Job,
    JobStep,
    Orbit,
    ProcessingFacility,
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
from proseo.model.history import STATE_CHANGE_COLUMNS
from proseo.model.order import product_query_satisfying_product

MAX_DEPTH = 16


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
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of planning, in order (for operators and the benchmark)."""
    integrity: str = ""
    """How the references of the written rows were checked: per row by the database's
    foreign-key triggers, or set-based by the planner (which then writes without them)."""
    windows: list[JobWindow] = field(default_factory=list)
    steps: list[PlannedStep] = field(default_factory=list)
    _clock: float = field(default_factory=time.perf_counter, repr=False)

    def mark(self, phase: str) -> None:
        """Record the seconds since the previous mark (or the start) under ``phase``."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._clock
        self._clock = now


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


class _Sources:
    """Candidate products for the order's selection rules, fetched once per (source class,
    filters, reach) and evaluated in memory (:mod:`planner.rules.memory`).

    A candidate has a file at the order's facility or is being produced (the output of a job
    step that is neither FAILED nor CLOSED). Rules whose policies only look near the job
    windows fetch the products starting within the order's span (widened by the deltas and
    the longest validity of the class); the others fetch the whole class. For the product
    queries, the placeholders this plan makes are added (:meth:`add_placeholders`).
    """

    def __init__(
        self,
        session: Session,
        catalogue: _Catalogue,
        facility_id: int,
        windows: Sequence[JobWindow],
    ) -> None:
        self._session = session
        self._catalogue = catalogue
        self.facility_id = facility_id
        self.windows = windows
        self.bounds = [(epoch_us(w.start), epoch_us(w.stop)) for w in windows]
        """(start, stop) of every job window in µs since the epoch, by job index."""
        self.with_files: set[int] = set()
        """Ids of fetched candidates that have a file at the facility."""
        self._fetched: dict[tuple[Any, ...], CandidateIndex] = {}
        self._final: dict[tuple[Any, ...], CandidateIndex] = {}
        self._placeholders: dict[int, list[tuple[Candidate, bool]]] = defaultdict(list)
        self._results: dict[tuple[int, SimpleRule], dict[int, Selection]] = {}

    def _key(self, simple: SimpleRule) -> tuple[Any, ...]:
        source_id = self._catalogue.by_type[simple.source_type].id
        if needs_whole_class(simple):
            return (source_id, simple.filters, None)
        before = max(p.delta_before_ms for p in simple.policies)
        after = max(p.delta_after_ms for p in simple.policies)
        return (source_id, simple.filters, (before, after))

    def _fetch(
        self, key: tuple[Any, ...], simple: SimpleRule, reader: Session | Connection | None = None
    ) -> CandidateIndex:
        index = self._fetched.get(key)
        if index is not None:
            return index
        database = self._session if reader is None else reader
        source_id, _filters, reach = key
        p = Product
        has_file = ProductFile.id.is_not(None)
        in_production = exists().where(
            JobStep.id == p.job_step_id,
            JobStep.state.not_in([JobStepState.FAILED, JobStepState.CLOSED]),
        )
        query = (
            select(
                p.id,
                sql_epoch_us(p.sensing_start),
                sql_epoch_us(p.sensing_stop),
                sql_epoch_us(p.generation_time),
                has_file,
            )
            .outerjoin(
                ProductFile,
                and_(
                    ProductFile.product_id == p.id,
                    ProductFile.processing_facility_id == self.facility_id,
                ),
            )
            .where(*product_conditions(p, source_id, simple), or_(has_file, in_production))
        )
        if reach is not None and self.windows:
            longest = database.scalar(
                select(
                    func.max(sql_epoch_us(p.sensing_stop) - sql_epoch_us(p.sensing_start))
                ).where(p.product_class_id == source_id)
            )
            before, after = reach
            lo = (
                min(w.start for w in self.windows)
                - timedelta(milliseconds=before)
                - timedelta(microseconds=int(longest or 0))
            )
            hi = max(w.stop for w in self.windows) + timedelta(milliseconds=after)
            query = query.where(p.sensing_start >= lo, p.sensing_start <= hi)
        candidates = []
        for product_id, start, stop, generation, with_file in database.execute(query):
            candidates.append(Candidate(product_id, start, stop, generation))
            if with_file:
                self.with_files.add(product_id)
        index = CandidateIndex(candidates)
        self._fetched[key] = index
        return index

    def add_placeholders(
        self, class_id: int, placeholders: Iterable[tuple[int, int]], *, main: bool
    ) -> None:
        """Add this plan's placeholder products of ``class_id`` as (product id, job index);
        ``main`` for a job step's main output (which gets the order's output parameters),
        else a component. Only product queries evaluated afterwards see them."""
        bounds = self.bounds
        self._placeholders[class_id].extend(
            (Candidate(pid, *bounds[j], None), main) for pid, j in placeholders
        )

    def _placeholder_matches(self, filters: tuple[tuple[str, str], ...], main: bool) -> bool:
        """Whether this plan's placeholders pass ``filters``: they carry the order's file
        class, mode and quality, and main products its output parameters."""
        order = self._catalogue.order
        fields = {
            "file_class": order.file_class,
            "mode": order.processing_mode,
            "product_quality": order.product_quality,
        }
        parameters = {p.key: p.value for p in order.output_parameters} if main else {}
        return filters_hold(filters, fields, parameters)

    def _index(self, simple: SimpleRule, final: bool) -> tuple[int, CandidateIndex]:
        key = self._key(simple)
        index = self._fetch(key, simple)
        source_id = key[0]
        if not final or not self._placeholders.get(source_id):
            return 0, index
        merged = self._final.get(key)
        if merged is None:
            accepted = {
                main: self._placeholder_matches(simple.filters, main) for main in (True, False)
            }
            merged = index.merged(c for c, main in self._placeholders[source_id] if accepted[main])
            self._final[key] = merged
        return 1, merged

    def fetch(
        self, rules: Iterable[SimpleRule], reader: Session | Connection | None = None
    ) -> None:
        """Fetch now the candidates of ``rules`` (through ``reader``, e.g. a
        :class:`SnapshotReader` connection, else the session), so that evaluating them later
        needs no database."""
        for simple in rules:
            self._fetch(self._key(simple), simple, reader)

    def evaluate(
        self, simple: SimpleRule, jobs: Iterable[int], *, final: bool = False
    ) -> dict[int, Selection]:
        """The selection of ``simple`` for each job index in ``jobs``; ``final`` includes
        this plan's placeholders. Results are kept, so a rule shared by several classes
        is evaluated once per job."""
        stage, index = self._index(simple, final)
        results = self._results.setdefault((stage, simple), {})
        bounds = self.bounds
        evaluate = index.evaluate
        out: dict[int, Selection] = {}
        for j in jobs:
            selection = results.get(j)
            if selection is None:
                start, stop = bounds[j]
                selection = results[j] = evaluate(simple, start, stop)
            out[j] = selection
        return out


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
    with gc_paused():
        return _plan(session, order, details, changed_by)


def _plan(
    session: Session, order: ProcessingOrder, details: bool, changed_by: str | None
) -> PlanSummary:
    started = time.perf_counter()
    if order.processing_facility_id is None:
        raise PlanningError(f"processing order {order.identifier} has no processing facility")
    facility_id = order.processing_facility_id
    summary = PlanSummary(order.id)
    catalogue = _Catalogue(session, order)
    windows = _job_windows(session, order)
    sources = _Sources(session, catalogue, facility_id, windows)
    summary.windows = windows if details else []

    summary.mark("catalogue and job windows")

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
                missing = {
                    j for j, s in sources.evaluate(simple, open_jobs).items() if not s.satisfied
                }
                next_frontier[producer] |= missing
        frontier = {k: v for k, v in next_frontier.items() if v}
        level += 1

    planned = {k: v for k, v in planned.items() if v}
    summary.mark("demand")
    if planned:
        _insert(session, order, catalogue, sources, planned, level_of, summary, details, changed_by)
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


class _PlannedRows:
    """The rows of one plan: ids allocated up front, then jobs, job steps and placeholder
    products (main and component), output parameters, state history, product queries and
    their satisfying products, each table written in one bulk write (:class:`RowWriter`).

    Product ids are allocated for the main products (in the order of :attr:`step_keys`)
    followed by the components (in the order of :attr:`component_keys`).
    """

    def __init__(
        self,
        session: Session,
        order: ProcessingOrder,
        catalogue: _Catalogue,
        sources: _Sources,
        planned: dict[int, set[int]],
    ) -> None:
        self.order = order
        self.catalogue = catalogue
        self.sources = sources
        self.planned = planned
        self.used_jobs = sorted(set().union(*planned.values()))
        self.job_ids = allocate_ids(session, table_of(Job), len(self.used_jobs))
        self.step_keys: list[tuple[int, int]] = [
            (class_id, j) for class_id in sorted(planned) for j in sorted(planned[class_id])
        ]
        """(product class to produce, job index) of every job step, in id order."""
        self.step_ids = allocate_ids(session, table_of(JobStep), len(self.step_keys))
        self.component_keys = [
            (component.id, k)
            for k, (class_id, _j) in enumerate(self.step_keys)
            for component in catalogue.classes[class_id].component_classes
        ]
        """(component product class, index of its job step in :attr:`step_keys`)."""
        self.rules = {class_id: catalogue.rules(class_id) for class_id in planned}
        self.product_ids: list[int] = []
        """Main products (in the order of :attr:`step_keys`), then components (in the order
        of :attr:`component_keys`); from :meth:`allocate_product_ids`."""
        self.query_ids: list[int] = []
        """From :meth:`allocate_query_ids`."""
        self.processor_of = {
            class_id: catalogue.configured_processor(class_id).id for class_id in planned
        }
        self.output_parameters = list(order.output_parameters)
        self.planned_at = utc_now()
        """The creation time of every row of the plan (UTC)."""
        self.query_rows: list[tuple[Any, ...]] = []
        """Per product query: (job step id, requested class id, rule id, rule text,
        mandatory, minimum coverage, satisfied)."""
        self.selections: list[frozenset[int]] = []
        """Per product query: the ids of the products it selected."""

    def allocate_product_ids(self, session: Session | Connection) -> None:
        """Ids for all placeholder products, in one allocation (on SQLite ids continue after
        the largest stored one)."""
        count = len(self.step_keys) + len(self.component_keys)
        self.product_ids = allocate_ids(session, table_of(Product), count)

    def allocate_query_ids(self, session: Session | Connection) -> None:
        """Ids for all product queries: one per (job step, merged simple rule)."""
        count = sum(len(self.rules[c]) * len(jobs) for c, jobs in self.planned.items())
        self.query_ids = allocate_ids(session, table_of(ProductQuery), count)

    def references(self) -> dict[type[Any], Iterable[int]]:
        """Ids of the rows outside this plan that its rows refer to, per table (the chosen
        input products apart: they are known after :meth:`evaluate_queries`)."""
        windows = self.sources.windows
        rules = [rule for class_rules in self.rules.values() for rule in class_rules]
        by_type = self.catalogue.by_type
        return {
            ProcessingOrder: [self.order.id],
            ProcessingFacility: [self.sources.facility_id],
            Orbit: {o for j in self.used_jobs if (o := windows[j].orbit_id) is not None},
            ProductClass: {
                *self.planned,
                *(c for c, _k in self.component_keys),
                *(by_type[simple.source_type].id for simple, _id in rules),
            },
            ConfiguredProcessor: set(self.processor_of.values()),
            SimpleSelectionRule: {rule_id for _s, rule_id in rules if rule_id is not None},
        }

    def chosen_inputs(self) -> set[int]:
        """Ids of the existing products the product queries selected (not this plan's)."""
        chosen = {pid for selected in self.selections for pid in selected}
        return chosen - set(self.product_ids)

    def write_jobs(self, writer: RowWriter, changed_by: str | None) -> None:
        """Jobs, their state history and job steps."""
        order = self.order
        windows = self.sources.windows
        flag, nullable = writer.flag, writer.nullable
        now = writer.time(self.planned_at)
        priority = order.priority
        writer.write(
            table_of(Job),
            (
                "id",
                "processing_order_id",
                "state",
                "start_time",
                "stop_time",
                "orbit_id",
                "processing_facility_id",
                "priority",
                "has_failed_job_steps",
            ),
            [
                (
                    job_id,
                    order.id,
                    JobState.PLANNED.value,
                    writer.time(windows[j].start),
                    writer.time(windows[j].stop),
                    nullable(windows[j].orbit_id),
                    order.processing_facility_id,
                    priority,
                    flag(False),
                )
                for j, job_id in zip(self.used_jobs, self.job_ids, strict=True)
            ],
        )
        job_id_of = dict(zip(self.used_jobs, self.job_ids, strict=True))
        mode = nullable(order.processing_mode)
        step_tail = (JobStepState.PLANNED.value, mode, priority)
        step_rest = (0, "INFO", "INFO", flag(False), now)
        processor_of = self.processor_of
        writer.write(
            table_of(JobStep),
            (
                "id",
                "job_id",
                "state",
                "processing_mode",
                "priority",
                "configured_processor_id",
                "attempt",
                "stdout_log_level",
                "stderr_log_level",
                "is_failed",
                "created_at",
            ),
            [
                (step_id, job_id_of[j], *step_tail, processor_of[class_id], *step_rest)
                for (class_id, j), step_id in zip(self.step_keys, self.step_ids, strict=True)
            ],
        )

        writer.write(
            table_of(StateHistory),
            STATE_CHANGE_COLUMNS,
            [
                (
                    StatefulEntity.JOB.value,
                    job_id,
                    JobState.INITIAL.value,
                    JobState.PLANNED.value,
                    now,
                    nullable(changed_by),
                    "planned",
                )
                for job_id in self.job_ids
            ],
        )

    def write_products(self, writer: RowWriter) -> None:
        """Placeholder products: main ones, then components, and the main ones' output
        parameters (after :meth:`allocate_product_ids`)."""
        order = self.order
        windows = self.sources.windows
        null, nullable = writer.null, writer.nullable
        now = writer.time(self.planned_at)
        processor_of = self.processor_of
        # Per class the leading columns, per job window the validity and orbit.
        production_type = order.production_type.value if order.production_type else null
        leading = (
            nullable(order.file_class),
            nullable(order.processing_mode),
            order.product_quality.value,
            production_type,
        )
        times = [(writer.time(w.start), writer.time(w.stop), nullable(w.orbit_id)) for w in windows]
        columns = (
            "product_class_id",
            "file_class",
            "mode",
            "product_quality",
            "production_type",
            "sensing_start",
            "sensing_stop",
            "orbit_id",
            "job_step_id",
            "configured_processor_id",
            "enclosing_product_id",
            "created_at",
            "id",
            "uuid",
        )
        mains = len(self.step_keys)
        writer.write(
            table_of(Product),
            columns,
            [
                (class_id, *leading, *times[j], step_id, processor_of[class_id], null, now, pid, u)
                for (class_id, j), step_id, pid, u in zip(
                    self.step_keys,
                    self.step_ids,
                    self.product_ids[:mains],
                    new_uuids(mains),
                    strict=True,
                )
            ],
        )
        # Main product ids come first, in step order: a step's index is its product's.
        steps, step_ids, main_of_step = self.step_keys, self.step_ids, self.product_ids
        writer.write(
            table_of(Product),
            columns,
            [
                (
                    component_id,
                    *leading,
                    *times[steps[k][1]],
                    step_ids[k],
                    processor_of[steps[k][0]],
                    main_of_step[k],
                    now,
                    pid,
                    u,
                )
                for (component_id, k), pid, u in zip(
                    self.component_keys,
                    self.product_ids[mains:],
                    new_uuids(len(self.component_keys)),
                    strict=True,
                )
            ],
        )
        if self.output_parameters:
            writer.write(
                table_of(ProductParameter),
                ("product_id", "key", "parameter_type", "value"),
                [
                    (pid, p.key, p.parameter_type.value, nullable(p.value))
                    for pid in self.product_ids[:mains]
                    for p in self.output_parameters
                ],
            )

    def evaluate_queries(self) -> None:
        """Evaluate every product query with this plan's placeholders added (no database)."""
        sources, steps = self.sources, self.step_keys
        mains = len(steps)
        main_of = dict(zip(steps, self.product_ids[:mains], strict=True))
        for class_id, jobs in self.planned.items():
            sources.add_placeholders(
                class_id, ((main_of[(class_id, j)], j) for j in jobs), main=True
            )
        components: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for (component_id, k), pid in zip(
            self.component_keys, self.product_ids[mains:], strict=True
        ):
            components[component_id].append((pid, steps[k][1]))
        for component_id, placeholders in components.items():
            sources.add_placeholders(component_id, placeholders, main=False)

        step_of = dict(zip(steps, self.step_ids, strict=True))
        with_files = sources.with_files
        append_row, append_selection = self.query_rows.append, self.selections.append
        by_type = self.catalogue.by_type
        for class_id in sorted(self.planned):
            ordered_jobs = sorted(self.planned[class_id])
            for simple, rule_id in self.rules[class_id]:
                leading = (
                    by_type[simple.source_type].id,
                    rule_id,
                    format_simple_rule(simple),
                    simple.mandatory,
                    simple.min_coverage,
                )
                found = sources.evaluate(simple, ordered_jobs, final=True)
                for j in ordered_jobs:
                    selection = found[j]
                    chosen = selection.product_ids
                    satisfied = selection.satisfied and chosen <= with_files
                    append_row((step_of[(class_id, j)], *leading, satisfied))
                    append_selection(chosen)

    def write_queries(self, writer: RowWriter) -> None:
        """Product queries and their satisfying products (after :meth:`evaluate_queries`
        and :meth:`allocate_query_ids`)."""
        if len(self.query_rows) != len(self.query_ids):  # pragma: no cover - by construction
            raise AssertionError(
                f"{len(self.query_rows)} product queries, {len(self.query_ids)} ids"
            )
        flag, nullable = writer.flag, writer.nullable
        yes, no = flag(True), flag(False)
        writer.write(
            table_of(ProductQuery),
            (
                "id",
                "job_step_id",
                "requested_product_class_id",
                "generating_rule_id",
                "rule_text",
                "is_mandatory",
                "minimum_coverage",
                "is_satisfied",
            ),
            [
                (
                    qid,
                    step,
                    source,
                    nullable(rule),
                    text,
                    yes if mandatory else no,
                    nullable(coverage),
                    yes if satisfied else no,
                )
                for qid, (step, source, rule, text, mandatory, coverage, satisfied) in zip(
                    self.query_ids, self.query_rows, strict=True
                )
            ],
        )
        writer.write(
            product_query_satisfying_product,
            ("product_query_id", "product_id"),
            [
                (qid, pid)
                for qid, chosen in zip(self.query_ids, self.selections, strict=True)
                for pid in chosen
            ],
        )


def _insert(
    session: Session,
    order: ProcessingOrder,
    catalogue: _Catalogue,
    sources: _Sources,
    planned: dict[int, set[int]],
    level_of: dict[int, int],
    summary: PlanSummary,
    details: bool,
    changed_by: str | None,
) -> None:
    """Write the plan (:class:`_PlannedRows`); without per-row foreign-key triggers when the
    role may, the references then checked and locked here, set-based.

    On PostgreSQL the writer's thread sends everything on the session's connection in this
    order: jobs, job steps, products, the lock of the chosen inputs, product queries and their
    links; meanwhile a second connection (:class:`SnapshotReader`, which sees what this
    transaction saw) draws the product and query ids and fetches the candidates, and this
    thread formats the rows and evaluates the product queries, waiting only for what it needs
    next. The session's connection is the bottleneck: nothing else should wait on it."""
    rows = _PlannedRows(session, order, catalogue, sources, planned)
    summary.mark("job and job step ids")
    set_based = may_skip_triggers(session)
    summary.integrity = (
        "set-based checks and locks, row triggers off"
        if set_based
        else "per-row foreign-key checks"
    )
    if set_based:
        _lock_references(session, order, rows.references())
        set_row_triggers(session, enabled=False)
    summary.mark("reference locks")

    # The session is the writer's until the with block ends; ids and candidates come through
    # a second connection meanwhile (on PostgreSQL). The reader's work is given before any
    # write: without a second connection it runs at once on the session.
    missing: Future[list[int]] | None = None
    rules = [simple for class_rules in rows.rules.values() for simple, _id in class_rules]
    with SnapshotReader(session) as reader, RowWriter(session, background=True) as writer:
        product_ids = reader.submit(rows.allocate_product_ids)
        fetched = reader.submit(lambda connection: sources.fetch(rules, connection))
        query_ids = reader.submit(rows.allocate_query_ids)
        rows.write_jobs(writer, changed_by)
        product_ids.result()
        rows.write_products(writer)
        summary.mark("jobs, job steps and products made")
        fetched.result()
        rows.evaluate_queries()
        summary.mark("product queries evaluated")
        if set_based:
            chosen = rows.chosen_inputs()
            missing = writer.call(lambda locked: lock_referenced(locked, table_of(Product), chosen))
        query_ids.result()
        rows.write_queries(writer)
        summary.mark("product queries made")
    summary.mark("waiting for the database")
    if missing is not None:
        _report_missing(order, table_of(Product), missing.result())
        set_row_triggers(session, enabled=True)
    summary.jobs = len(rows.job_ids)
    summary.job_steps = len(rows.step_ids)
    for class_id, jobs in planned.items():
        summary.steps_per_class[catalogue.classes[class_id].product_type] = len(jobs)
    summary.product_queries = len(rows.query_rows)
    summary.unsatisfied_queries = sum(1 for row in rows.query_rows if row[4] and not row[6])
    if details:
        step_ids = dict(zip(rows.step_keys, rows.step_ids, strict=True))
        _details(
            catalogue, level_of, step_ids, rows.query_rows, rows.selections, sources.with_files,
            summary,
        )  # fmt: skip


def _lock_references(
    session: Session, order: ProcessingOrder, references: dict[type[Any], Iterable[int]]
) -> None:
    """Lock every row the plan's rows refer to outside themselves ``FOR KEY SHARE`` and check
    it exists: what the per-row foreign-key triggers would do, one query per table.

    :raises PlanningError: naming the table and ids of rows deleted while planning (plan
        again)."""
    for model, ids in references.items():
        _report_missing(order, table_of(model), lock_referenced(session, table_of(model), ids))


def _report_missing(order: ProcessingOrder, table: Table, missing: Sequence[int]) -> None:
    """:raises PlanningError: when ``missing`` names rows of ``table`` (deleted while
    planning)."""
    if missing:
        shown = ", ".join(str(i) for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise PlanningError(
            f"processing order {order.identifier}: {table.name} rows {shown}"
            f"{more} were deleted while planning; plan again"
        )


def _details(
    catalogue: _Catalogue,
    level_of: dict[int, int],
    step_ids: dict[tuple[int, int], int],
    query_rows: Sequence[tuple[Any, ...]],
    selections: Sequence[frozenset[int]],
    with_files: set[int],
    summary: PlanSummary,
) -> None:
    """Per-step details of a plan for ``--dry-run``."""
    by_step = {v: k for k, v in step_ids.items()}
    detail: dict[tuple[int, int], PlannedStep] = {
        key: PlannedStep(
            job=key[1],
            product_type=catalogue.classes[key[0]].product_type,
            configured_processor=catalogue.configured_processor(key[0]).identifier,
            level=level_of.get(key[0], 0),
        )
        for key in step_ids
    }
    for row, chosen in zip(query_rows, selections, strict=True):
        step_id, source_id, _rule_id, text, mandatory, _coverage, satisfied = row
        detail[by_step[step_id]].inputs.append(
            StepInputs(
                source_type=catalogue.classes[source_id].product_type,
                rule=text,
                mandatory=mandatory,
                satisfied=satisfied,
                found=len(chosen & with_files),
                in_production=len(chosen - with_files),
            )
        )
    summary.steps = sorted(detail.values(), key=lambda s: (s.job, -s.level, s.product_type))
