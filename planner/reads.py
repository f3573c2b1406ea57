"""The planner's reads: the mission's catalogue for an order, its job windows, and the input
candidates of the selection rules (fetched once per plan, then evaluated in memory,
:mod:`planner.rules.memory`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from planner.rules.evaluate import Candidate, Selection, epoch_us, filters_hold
from planner.rules.memory import CandidateIndex, needs_whole_class
from planner.rules.sql import longest_validity_us, product_conditions
from planner.slicing import JobWindow, OrbitInfo, slice_order
from planner.versions import version_key
from proseo.db.functions import epoch_us as sql_epoch_us
from proseo.enums import JobStepState, SlicingType
from proseo.errors import PlanningError
from proseo.model import (
    ConfiguredProcessor,
    JobStep,
    Orbit,
    ProcessingOrder,
    Processor,
    Product,
    ProductClass,
    ProductFile,
    SelectionRule,
    SimpleSelectionRule,
    Spacecraft,
)
from proseo.rule_language import SimpleRule, merge_rules, parse_rule


class PlanningCatalogue:
    """The mission's product classes, selection rules and configured processors, loaded once
    per plan (a :class:`~planner.demand.DemandCatalogue`)."""

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

    def source_class_id(self, product_type: str) -> int:
        """The id of the mission's product class ``product_type``.

        :raises PlanningError: for a product type the mission does not have."""
        source = self.by_type.get(product_type)
        if source is None:
            raise PlanningError(f"selection rules name unknown product type {product_type}")
        return source.id

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


def job_windows(session: Session, order: ProcessingOrder) -> list[JobWindow]:
    """The order's job windows (:func:`planner.slicing.slice_order`), with the stored orbits
    for ORBIT slicing.

    :raises PlanningError: when an ORBIT-sliced order requests no stored orbit.
    """
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


class InputCandidates:
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
        catalogue: PlanningCatalogue,
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
            longest = longest_validity_us(database, source_id)
            before, after = reach
            lo = (
                min(w.start for w in self.windows)
                - timedelta(milliseconds=before)
                - timedelta(microseconds=longest)
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
