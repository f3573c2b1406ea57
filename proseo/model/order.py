"""Processing orders, their jobs and job steps, and the product queries of job steps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.db.functions import sensing_length
from proseo.enums import (
    JobState,
    JobStepState,
    OrderState,
    ParameterType,
    ProductionType,
    ProductQuality,
    SlicingType,
)
from proseo.model.base import ID_TYPE, Base, fk, pk, utc_now

if TYPE_CHECKING:
    from proseo.model.facility import ProcessingFacility
    from proseo.model.mission import Mission, Orbit
    from proseo.model.processor import ConfiguredProcessor
    from proseo.model.product import Product
    from proseo.model.productclass import ProductClass, SimpleSelectionRule


def _association(name: str, left: str, right: str) -> Table:
    left_table, right_table = left.split(".")[0], right.split(".")[0]
    return Table(
        name,
        Base.metadata,
        Column(f"{left_table}_id", ID_TYPE, ForeignKey(left, ondelete="CASCADE"), primary_key=True),
        Column(
            f"{right_table}_id", ID_TYPE, ForeignKey(right, ondelete="CASCADE"), primary_key=True
        ),
    )


order_requested_product_class = _association(
    "order_requested_product_class", "processing_order.id", "product_class.id"
)
order_input_product_class = _association(
    "order_input_product_class", "processing_order.id", "product_class.id"
)
order_configured_processor = _association(
    "order_configured_processor", "processing_order.id", "configured_processor.id"
)
product_query_satisfying_product = _association(
    "product_query_satisfying_product", "product_query.id", "product.id"
)


class ProcessingOrder(Base):
    """A processing order: which output product classes to make, over which window.

    The window is ``start_time``/``stop_time`` (UTC) or ``orbit_ranges``; slicing cuts it
    into jobs (``slice_duration_ms``/``slice_overlap_ms`` for TIME_SLICE, overlap for every
    time slicing). ``input_product_classes`` is the stop list: classes never produced by
    this order, only taken from the catalogue. ``input_data_timeout_s`` bounds how long job
    steps wait for input; then they fail, or are released when ``release_on_input_timeout``.
    ``max_retries`` is how often a failed job step is retried automatically.
    ``execution_time`` (UTC): none of its job steps starts before. ``auto_release``: released
    as soon as it is planned; ``auto_close``: closed as soon as it completed
    (:mod:`orderman.automation`). ``product_retention_s``: how long its outputs are kept
    (seconds; ``None``: the product class's own period).
    """

    __tablename__ = "processing_order"
    __table_args__ = (UniqueConstraint("mission_id", "identifier"),)

    id: Mapped[int] = pk()
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    mission_id: Mapped[int] = fk("mission.id")
    identifier: Mapped[str] = mapped_column(String(255))
    state: Mapped[OrderState] = mapped_column(default=OrderState.INITIAL, index=True)
    state_message: Mapped[str | None] = mapped_column(Text)
    processing_facility_id: Mapped[int | None] = fk("processing_facility.id", nullable=True)
    start_time: Mapped[datetime | None]
    stop_time: Mapped[datetime | None]
    slicing_type: Mapped[SlicingType] = mapped_column(default=SlicingType.NONE)
    slice_duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    slice_overlap_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    file_class: Mapped[str | None] = mapped_column(String(32))
    processing_mode: Mapped[str | None] = mapped_column(String(32))
    product_quality: Mapped[ProductQuality] = mapped_column(default=ProductQuality.NOMINAL)
    priority: Mapped[int] = mapped_column(default=50)
    production_type: Mapped[ProductionType] = mapped_column(
        default=ProductionType.ON_DEMAND_DEFAULT
    )
    input_data_timeout_s: Mapped[int | None]
    release_on_input_timeout: Mapped[bool] = mapped_column(default=False)
    max_retries: Mapped[int] = mapped_column(default=0)
    execution_time: Mapped[datetime | None]
    auto_release: Mapped[bool] = mapped_column(default=False)
    auto_close: Mapped[bool] = mapped_column(default=False)
    product_retention_s: Mapped[int | None] = mapped_column(BigInteger)
    dynamic_processing_parameters: Mapped[dict[str, str]] = mapped_column(default=dict)
    notification_endpoint: Mapped[str | None] = mapped_column(Text)
    has_failed_job_steps: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    modified_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    mission: Mapped[Mission] = relationship()
    processing_facility: Mapped[ProcessingFacility | None] = relationship()
    requested_product_classes: Mapped[list[ProductClass]] = relationship(
        secondary=order_requested_product_class
    )
    input_product_classes: Mapped[list[ProductClass]] = relationship(
        secondary=order_input_product_class
    )
    requested_configured_processors: Mapped[list[ConfiguredProcessor]] = relationship(
        secondary=order_configured_processor
    )
    orbit_ranges: Mapped[list[OrderOrbitRange]] = relationship(
        back_populates="processing_order", cascade="all, delete-orphan"
    )
    input_filters: Mapped[list[OrderInputFilter]] = relationship(
        back_populates="processing_order", cascade="all, delete-orphan"
    )
    output_parameters: Mapped[list[OrderOutputParameter]] = relationship(
        back_populates="processing_order", cascade="all, delete-orphan"
    )
    jobs: Mapped[list[Job]] = relationship(
        back_populates="processing_order", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"ProcessingOrder({self.id}, {self.identifier!r}, {self.state})"


class OrderOrbitRange(Base):
    """Orbits ``orbit_from``..``orbit_to`` (inclusive) of one spacecraft requested by an order."""

    __tablename__ = "order_orbit_range"

    id: Mapped[int] = pk()
    processing_order_id: Mapped[int] = fk("processing_order.id", ondelete="CASCADE", index=True)
    spacecraft_code: Mapped[str] = mapped_column(String(20))
    orbit_from: Mapped[int]
    orbit_to: Mapped[int]

    processing_order: Mapped[ProcessingOrder] = relationship(back_populates="orbit_ranges")


class OrderInputFilter(Base):
    """A condition ``key = value`` input products of ``product_class`` must meet for an order."""

    __tablename__ = "order_input_filter"
    __table_args__ = (UniqueConstraint("processing_order_id", "product_class_id", "key"),)

    id: Mapped[int] = pk()
    processing_order_id: Mapped[int] = fk("processing_order.id", ondelete="CASCADE")
    product_class_id: Mapped[int] = fk("product_class.id", ondelete="CASCADE")
    key: Mapped[str] = mapped_column(String(255))
    parameter_type: Mapped[ParameterType] = mapped_column(default=ParameterType.STRING)
    value: Mapped[str] = mapped_column(String(1000))

    processing_order: Mapped[ProcessingOrder] = relationship(back_populates="input_filters")
    product_class: Mapped[ProductClass] = relationship()


class OrderOutputParameter(Base):
    """A typed parameter every output product of an order is given."""

    __tablename__ = "order_output_parameter"
    __table_args__ = (UniqueConstraint("processing_order_id", "key"),)

    id: Mapped[int] = pk()
    processing_order_id: Mapped[int] = fk("processing_order.id", ondelete="CASCADE")
    key: Mapped[str] = mapped_column(String(255))
    parameter_type: Mapped[ParameterType] = mapped_column(default=ParameterType.STRING)
    value: Mapped[str] = mapped_column(String(1000))

    processing_order: Mapped[ProcessingOrder] = relationship(back_populates="output_parameters")


class Job(Base):
    """One slice of an order (a time window, maybe an orbit) at a processing facility."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_order_state", "processing_order_id", "state"),)

    id: Mapped[int] = pk()
    processing_order_id: Mapped[int] = fk("processing_order.id", ondelete="CASCADE")
    state: Mapped[JobState] = mapped_column(default=JobState.INITIAL)
    start_time: Mapped[datetime]
    stop_time: Mapped[datetime]
    orbit_id: Mapped[int | None] = fk("orbit.id", nullable=True, ondelete="SET NULL")
    processing_facility_id: Mapped[int | None] = fk("processing_facility.id", nullable=True)
    priority: Mapped[int] = mapped_column(default=50)
    has_failed_job_steps: Mapped[bool] = mapped_column(default=False)

    processing_order: Mapped[ProcessingOrder] = relationship(back_populates="jobs")
    orbit: Mapped[Orbit | None] = relationship()
    processing_facility: Mapped[ProcessingFacility | None] = relationship()
    job_steps: Mapped[list[JobStep]] = relationship(
        back_populates="job", cascade="all, delete-orphan"
    )


Index("ix_job_start", Job.start_time)
Index("ix_job_length", sensing_length(Job.start_time, Job.stop_time))
"""Job windows near a time, in one index range (the readiness re-check after an arrival,
:mod:`planner.readiness`), bounded below by the longest job window (one probe)."""


class JobStep(Base):
    """One processor run producing one output product (with its components).

    ``priority`` is copied from the order so the dispatcher picks READY steps by one index;
    ``attempt`` counts runs (the run key is ``proseo-<id>-<attempt>``); ``transient_failures``
    the runs among them that failed because the storage could not be reached (not counted
    against the order's ``max_retries``); ``not_before`` holds a step requeued after such a
    failure back until then (UTC; the dispatcher's back-off); times are UTC;
    ``processing_stdout``/``processing_stderr`` keep the tail of the processor's logs.
    """

    __tablename__ = "job_step"
    __table_args__ = (
        Index("ix_job_step_state_priority", "state", "priority"),
        Index("ix_job_step_completion", "processing_completion_time"),
    )

    id: Mapped[int] = pk()
    job_id: Mapped[int] = fk("job.id", ondelete="CASCADE", index=True)
    state: Mapped[JobStepState] = mapped_column(default=JobStepState.PLANNED)
    processing_mode: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(default=50)
    configured_processor_id: Mapped[int | None] = fk(
        "configured_processor.id", nullable=True, ondelete="SET NULL"
    )
    attempt: Mapped[int] = mapped_column(default=0)
    # a server default: the planner's bulk writer (COPY) leaves the column out
    transient_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    not_before: Mapped[datetime | None]
    stdout_log_level: Mapped[str] = mapped_column(String(16), default="INFO")
    stderr_log_level: Mapped[str] = mapped_column(String(16), default="INFO")
    job_order_filename: Mapped[str | None] = mapped_column(Text)
    processing_start_time: Mapped[datetime | None]
    processing_completion_time: Mapped[datetime | None]
    exit_code: Mapped[int | None]
    processing_stdout: Mapped[str | None] = mapped_column(Text)
    processing_stderr: Mapped[str | None] = mapped_column(Text)
    is_failed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    job: Mapped[Job] = relationship(back_populates="job_steps")
    configured_processor: Mapped[ConfiguredProcessor | None] = relationship()
    output_products: Mapped[list[Product]] = relationship(back_populates="job_step")
    product_queries: Mapped[list[ProductQuery]] = relationship(
        back_populates="job_step", cascade="all, delete-orphan"
    )

    @property
    def run_key(self) -> str:
        """Deterministic executor run key ``proseo-<job step id>-<attempt>``."""
        return f"proseo-{self.id}-{self.attempt}"

    def held_back(self, now: datetime) -> bool:
        """Whether the step is READY but requeued after a storage outage and not to be
        dispatched before ``not_before``, which is after ``now`` (UTC); in SQL:
        :meth:`held_back_condition`."""
        return (
            self.state is JobStepState.READY
            and self.not_before is not None
            and self.not_before > now
        )

    @classmethod
    def held_back_condition(cls, now: datetime) -> ColumnElement[bool]:
        """:meth:`held_back` as a SQL condition; never NULL, so its negation is safe."""
        return and_(
            cls.state == JobStepState.READY, cls.not_before.is_not(None), cls.not_before > now
        )


class ProductQuery(Base):
    """One input of a job step, from one simple selection rule: satisfied or not, and by what.

    ``rule_text`` is the canonical text of the simple rule it came from (kept even if the
    rule is later changed); ``minimum_coverage`` is the MINCOVER percentage.
    """

    __tablename__ = "product_query"
    __table_args__ = (
        Index("ix_product_query_requested_class", "requested_product_class_id", "is_satisfied"),
        Index("ix_product_query_job_step", "job_step_id"),
    )

    id: Mapped[int] = pk()
    job_step_id: Mapped[int] = fk("job_step.id", ondelete="CASCADE")
    requested_product_class_id: Mapped[int] = fk("product_class.id")
    generating_rule_id: Mapped[int | None] = fk(
        "simple_selection_rule.id", nullable=True, ondelete="SET NULL"
    )
    rule_text: Mapped[str | None] = mapped_column(Text)
    is_mandatory: Mapped[bool] = mapped_column(default=True)
    minimum_coverage: Mapped[int | None]
    is_satisfied: Mapped[bool] = mapped_column(default=False)

    job_step: Mapped[JobStep] = relationship(back_populates="product_queries")
    requested_product_class: Mapped[ProductClass] = relationship()
    generating_rule: Mapped[SimpleSelectionRule | None] = relationship()
    satisfying_products: Mapped[list[Product]] = relationship(
        secondary=product_query_satisfying_product
    )
