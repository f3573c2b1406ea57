"""The rows of one plan: ids, then jobs, job steps and placeholder products, then product
queries evaluated with this plan's placeholders and their satisfying products. Formatting
only: where and how rows are written is :mod:`planner.writes`'.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from planner.reads import InputCandidates, PlanningCatalogue
from planner.summary import QueryRow
from planner.writes import PlanStore
from proseo.db.bulk import allocate_ids, new_uuids, table_of
from proseo.enums import JobState, JobStepState, StatefulEntity
from proseo.model import (
    Job,
    JobStep,
    ProcessingOrder,
    Product,
    ProductParameter,
    ProductQuery,
    StateHistory,
)
from proseo.model.base import utc_now
from proseo.model.history import STATE_CHANGE_COLUMNS
from proseo.model.order import product_query_satisfying_product
from proseo.rule_language import format_simple_rule


class PlannedRows:
    """The rows of one plan: ids allocated up front, then jobs, job steps and placeholder
    products (main and component), output parameters, state history, product queries and
    their satisfying products, each table written in one bulk write through a
    :class:`~planner.writes.PlanStore`.

    Product ids are allocated for the main products (in the order of :attr:`step_keys`)
    followed by the components (in the order of :attr:`component_keys`).
    """

    def __init__(
        self,
        session: Session,
        order: ProcessingOrder,
        catalogue: PlanningCatalogue,
        sources: InputCandidates,
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
        self.query_rows: list[QueryRow] = []
        """Per product query, in id order."""
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

    def write_jobs(self, store: PlanStore, changed_by: str | None) -> None:
        """Jobs, their state history and job steps."""
        order = self.order
        windows = self.sources.windows
        writer = store.format
        flag, nullable = writer.flag, writer.nullable
        now = writer.time(self.planned_at)
        priority = order.priority
        store.write(
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
        store.write(
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

        store.write(
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

    def write_products(self, store: PlanStore) -> None:
        """Placeholder products: main ones, then components, and the main ones' output
        parameters (after :meth:`allocate_product_ids`)."""
        order = self.order
        windows = self.sources.windows
        writer = store.format
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
        store.write(
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
        store.write(
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
            store.write(
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
                    append_row(QueryRow(step_of[(class_id, j)], *leading, satisfied))
                    append_selection(chosen)

    def write_queries(self, store: PlanStore) -> None:
        """Product queries and their satisfying products (after :meth:`evaluate_queries`
        and :meth:`allocate_query_ids`)."""
        if len(self.query_rows) != len(self.query_ids):  # pragma: no cover - by construction
            raise AssertionError(
                f"{len(self.query_rows)} product queries, {len(self.query_ids)} ids"
            )
        writer = store.format
        flag, nullable = writer.flag, writer.nullable
        yes, no = flag(True), flag(False)
        store.write(
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
        store.write(
            product_query_satisfying_product,
            ("product_query_id", "product_id"),
            [
                (qid, pid)
                for qid, chosen in zip(self.query_ids, self.selections, strict=True)
                for pid in chosen
            ],
        )
