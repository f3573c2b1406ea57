"""Product equivalence: when a requested product counts as already there.

A requested product (product class, job window) of an order is already there when the
catalogue holds an **equivalent product** (the term of prosEO's production planner):

- the same product class and the same sensing start and stop (the job window);
- the same file class and processing mode as the order's outputs;
- made by a configured processor of the same processor version and configuration version
  (within the processor class) as the one the order would use for the class (a product
  without a configured processor, such as one ingested from outside, is never equivalent to
  one the order would make);
- carrying every one of the order's output parameters with the same value;

it is not superseded (replaced by a newer one, or marked for targeted reprocessing), and it
either has a file at the order's processing facility (**found**) or is being produced
by a job step that is neither FAILED nor CLOSED, of this order or another (**in production**;
the planner reuses it and the steps that need it wait for it). Older versions (another
processor, file class, mode or revision) do not count: they are produced again.

This is the one definition of "the same product": the planner uses it for the requested
classes, so that two orders (manual, from a trigger or from a campaign) over the same
window make each product once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from planner.slicing import JobWindow
from proseo.enums import JobStepState
from proseo.model import (
    ConfiguredProcessor,
    Job,
    JobStep,
    ProcessingOrder,
    Product,
    ProductFile,
    ProductParameter,
)

Status = Literal["found", "in production"]


@dataclass
class Equivalents:
    """The job windows of one requested class that already have an equivalent product.

    ``status`` maps (sensing start, sensing stop) (UTC) to ``"found"`` (a file at the
    facility) or ``"in production"``; ``producers`` names the orders producing the latter.
    """

    status: dict[tuple[datetime, datetime], Status] = field(default_factory=dict)
    producers: set[str] = field(default_factory=set)

    def count(self, status: Status) -> int:
        """How many windows have this status."""
        return sum(1 for s in self.status.values() if s == status)


def equivalent_products(
    session: Session,
    order: ProcessingOrder,
    class_id: int,
    configured: ConfiguredProcessor,
    facility_id: int,
    windows: Sequence[JobWindow],
) -> Equivalents:
    """The windows of ``windows`` for which an equivalent product of ``class_id`` exists
    (see the module docstring), ``configured`` being the configured processor the order would
    use for the class. One query, bounded by the span of ``windows``."""
    found = Equivalents()
    if not windows:
        return found
    lo = min(w.start for w in windows)
    hi = max(w.stop for w in windows)
    made_by = aliased(ConfiguredProcessor)
    has_file = exists().where(
        ProductFile.product_id == Product.id, ProductFile.processing_facility_id == facility_id
    )
    conditions = [
        Product.product_class_id == class_id,
        Product.superseded_at.is_(None),
        Product.sensing_start >= lo,
        Product.sensing_start <= hi,
        Product.file_class.is_not_distinct_from(order.file_class),
        Product.mode.is_not_distinct_from(order.processing_mode),
        made_by.processor_id == configured.processor_id,
        made_by.configuration_id == configured.configuration_id,
    ]
    for parameter in order.output_parameters:
        conditions.append(
            exists().where(
                ProductParameter.product_id == Product.id,
                ProductParameter.key == parameter.key,
                ProductParameter.value == parameter.value,
            )
        )
    query = (
        select(
            Product.sensing_start,
            Product.sensing_stop,
            has_file,
            JobStep.state,
            ProcessingOrder.identifier,
        )
        .join(made_by, made_by.id == Product.configured_processor_id)
        .outerjoin(JobStep, JobStep.id == Product.job_step_id)
        .outerjoin(Job, Job.id == JobStep.job_id)
        .outerjoin(ProcessingOrder, ProcessingOrder.id == Job.processing_order_id)
        .where(*conditions)
    )
    wanted = {(w.start, w.stop) for w in windows}
    dead = (JobStepState.FAILED, JobStepState.CLOSED)
    for start, stop, with_file, step_state, producer in session.execute(query):
        key = (start, stop)
        if key not in wanted:
            continue
        if with_file:
            found.status[key] = "found"
        elif step_state not in (None, *dead) and found.status.get(key) != "found":
            found.status[key] = "in production"
            if producer is not None:
                found.producers.add(producer)
    return found
