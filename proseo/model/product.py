"""Products, their typed parameters and their files per processing facility."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.db.functions import sensing_length
from proseo.enums import ParameterType, ProductionType, ProductQuality, StorageType
from proseo.model.base import Base, fk, pk, utc_now

if TYPE_CHECKING:
    from proseo.model.facility import ProcessingFacility
    from proseo.model.mission import Orbit
    from proseo.model.order import JobStep
    from proseo.model.processor import ConfiguredProcessor
    from proseo.model.productclass import ProductClass


class Product(Base):
    """A product: an instance of a product class over a sensing interval.

    Sensing start/stop (its validity) and generation time are UTC; ``superseded_at`` marks
    a product replaced (or to be replaced). ``job_step`` is the job
    step that produced it (or will: a planned output has no files yet); ``enclosing_product``
    and ``component_products`` describe products made of parts.
    """

    __tablename__ = "product"
    __table_args__ = (
        Index("ix_product_class_sensing", "product_class_id", "sensing_start", "sensing_stop"),
        Index("ix_product_class_stop", "product_class_id", "sensing_stop"),
        Index("ix_product_job_step", "job_step_id"),
        Index("ix_product_enclosing", "enclosing_product_id"),
        Index("ix_product_sensing_start", "sensing_start", "id"),
    )

    id: Mapped[int] = pk()
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    product_class_id: Mapped[int] = fk("product_class.id")
    file_class: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str | None] = mapped_column(String(32))
    product_quality: Mapped[ProductQuality] = mapped_column(default=ProductQuality.NOMINAL)
    production_type: Mapped[ProductionType | None]
    sensing_start: Mapped[datetime]
    sensing_stop: Mapped[datetime]
    generation_time: Mapped[datetime | None]
    publication_time: Mapped[datetime | None]
    eviction_time: Mapped[datetime | None]
    raw_data_availability_time: Mapped[datetime | None]
    orbit_id: Mapped[int | None] = fk("orbit.id", nullable=True, ondelete="SET NULL")
    enclosing_product_id: Mapped[int | None] = fk("product.id", nullable=True, ondelete="CASCADE")
    job_step_id: Mapped[int | None] = fk("job_step.id", nullable=True, ondelete="SET NULL")
    configured_processor_id: Mapped[int | None] = fk(
        "configured_processor.id", nullable=True, ondelete="SET NULL"
    )
    ingested_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    superseded_at: Mapped[datetime | None]
    """When (UTC) the product was replaced by a newer equivalent, or found to need making
    again (targeted reprocessing); a superseded product is no longer an input candidate nor
    an equivalent of a requested product."""
    superseded_reason: Mapped[str | None] = mapped_column(Text)

    product_class: Mapped[ProductClass] = relationship()
    orbit: Mapped[Orbit | None] = relationship()
    enclosing_product: Mapped[Product | None] = relationship(
        back_populates="component_products", remote_side="Product.id"
    )
    component_products: Mapped[list[Product]] = relationship(back_populates="enclosing_product")
    job_step: Mapped[JobStep | None] = relationship(back_populates="output_products")
    configured_processor: Mapped[ConfiguredProcessor | None] = relationship()
    parameters: Mapped[list[ProductParameter]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )
    product_files: Mapped[list[ProductFile]] = relationship(
        back_populates="product", cascade="all, delete-orphan"
    )


Index(
    "ix_product_class_length",
    Product.product_class_id,
    sensing_length(Product.sensing_start, Product.sensing_stop),
)
"""The longest validity of a class in one index probe: the planner's reach backwards
(:func:`planner.rules.sql.longest_validity_us`)."""


class ProductParameter(Base):
    """A typed key/value parameter of a product (value stored as text in its canonical form)."""

    __tablename__ = "product_parameter"
    __table_args__ = (Index("ix_product_parameter_key_value", "key", "value"),)

    product_id: Mapped[int] = fk("product.id", ondelete="CASCADE", primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    parameter_type: Mapped[ParameterType] = mapped_column(default=ParameterType.STRING)
    value: Mapped[str] = mapped_column(String(1000))

    product: Mapped[Product] = relationship(back_populates="parameters")


class ProductFile(Base):
    """The files of a product at one processing facility.

    ``file_path`` is the storage path (POSIX relative path or S3 key) of the folder holding
    ``product_file_name`` and ``auxiliary_file_names``; ``file_size_bytes`` is the main file's
    size and ``checksum`` its MD5 (hex), as ESA interfaces expect.
    """

    __tablename__ = "product_file"
    __table_args__ = (
        UniqueConstraint("product_id", "processing_facility_id"),
        Index("ix_product_file_name", "product_file_name"),
    )

    id: Mapped[int] = pk()
    product_id: Mapped[int] = fk("product.id", ondelete="CASCADE")
    processing_facility_id: Mapped[int] = fk("processing_facility.id", index=True)
    product_file_name: Mapped[str] = mapped_column(String(500))
    auxiliary_file_names: Mapped[list[str]] = mapped_column(default=list)
    file_path: Mapped[str] = mapped_column(Text)
    storage_type: Mapped[StorageType] = mapped_column(default=StorageType.POSIX)
    file_size_bytes: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))
    checksum_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    """When the file arrived at the facility (UTC): what data-driven triggers react to."""

    product: Mapped[Product] = relationship(back_populates="product_files")
    processing_facility: Mapped[ProcessingFacility] = relationship()
