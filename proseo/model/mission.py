"""Mission, spacecraft and orbit."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.model.base import Base, fk, pk

if TYPE_CHECKING:
    from proseo.model.processor import ProcessorClass
    from proseo.model.productclass import ProductClass


class Mission(Base):
    """An Earth-observation mission (code e.g. ``S5P``).

    ``file_classes`` (e.g. ``TEST``, ``OPER``) and ``processing_modes`` (e.g. ``NRTI``,
    ``OFFL``, ``RPRO``) are the values products and orders of this mission may use;
    ``product_file_template`` is the Jinja2 template for output file names; retention
    periods are in seconds (``None``: keep for ever). ``allow_self_approval`` lets the user
    who created an order approve it too (separation of duties is the default).
    """

    __tablename__ = "mission"

    id: Mapped[int] = pk()
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    file_classes: Mapped[list[str]] = mapped_column(default=list)
    processing_modes: Mapped[list[str]] = mapped_column(default=list)
    product_file_template: Mapped[str | None] = mapped_column(Text)
    product_retention_period_s: Mapped[int | None]
    order_retention_period_s: Mapped[int | None]
    allow_self_approval: Mapped[bool] = mapped_column(default=False)

    spacecrafts: Mapped[list[Spacecraft]] = relationship(
        back_populates="mission", cascade="all, delete-orphan"
    )
    product_classes: Mapped[list[ProductClass]] = relationship(
        back_populates="mission", cascade="all, delete-orphan"
    )
    processor_classes: Mapped[list[ProcessorClass]] = relationship(
        back_populates="mission", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"Mission({self.code!r})"


class Spacecraft(Base):
    """A spacecraft of a mission (code e.g. ``S5P``, ``S1A``)."""

    __tablename__ = "spacecraft"
    __table_args__ = (UniqueConstraint("mission_id", "code"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(255))

    mission: Mapped[Mission] = relationship(back_populates="spacecrafts")
    orbits: Mapped[list[Orbit]] = relationship(
        back_populates="spacecraft", cascade="all, delete-orphan"
    )


class Orbit(Base):
    """One orbit of a spacecraft, stored explicitly (real orbits drift from any period).

    ``start_time``/``stop_time`` are UTC (for S1: ascending node crossings).
    """

    __tablename__ = "orbit"
    __table_args__ = (
        UniqueConstraint("spacecraft_id", "orbit_number"),
        Index("ix_orbit_spacecraft_start", "spacecraft_id", "start_time"),
    )

    id: Mapped[int] = pk()
    spacecraft_id: Mapped[int] = fk("spacecraft.id", ondelete="CASCADE")
    orbit_number: Mapped[int]
    start_time: Mapped[datetime]
    stop_time: Mapped[datetime]

    spacecraft: Mapped[Spacecraft] = relationship(back_populates="orbits")
