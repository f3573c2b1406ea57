"""Reprocessing campaigns: bulk production over a long period, split into batches, each
batch one processing order, released progressively (:mod:`orderman.campaigns`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.enums import CampaignState
from proseo.model.base import Base, fk, pk, utc_now

if TYPE_CHECKING:
    from proseo.model.facility import ProcessingFacility
    from proseo.model.mission import Mission
    from proseo.model.order import ProcessingOrder


class Campaign(Base):
    """A reprocessing campaign of a mission.

    ``settings`` are the order settings of every batch (the JSON form of
    :class:`orderman.orders.OrderSettings`, taken from a template or given, kept as they were
    at creation); the campaign covers ``start_time``..``stop_time`` (UTC) or the orbits
    ``orbit_from``..``orbit_to`` of ``spacecraft_code``, cut into batches of ``batch_size``
    ``batch_unit`` (``DAY``, ``MONTH`` or ``ORBITS``). At most ``max_in_flight`` of its job
    steps are READY, WAITING_INPUT or RUNNING at one facility before it releases another
    batch.
    """

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("mission_id", "name"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[CampaignState] = mapped_column(default=CampaignState.CREATED)
    template_name: Mapped[str | None] = mapped_column(String(100))
    template_version: Mapped[int | None]
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_time: Mapped[datetime | None]
    stop_time: Mapped[datetime | None]
    spacecraft_code: Mapped[str | None] = mapped_column(String(20))
    orbit_from: Mapped[int | None]
    orbit_to: Mapped[int | None]
    batch_unit: Mapped[str] = mapped_column(String(16))
    batch_size: Mapped[int] = mapped_column(default=1)
    max_in_flight: Mapped[int] = mapped_column(BigInteger, default=1000)
    priority: Mapped[int] = mapped_column(default=20)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    state_message: Mapped[str | None] = mapped_column(Text)

    mission: Mapped[Mission] = relationship()
    batches: Mapped[list[CampaignBatch]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CampaignBatch.number",
    )


class CampaignBatch(Base):
    """One batch of a campaign: a window (or orbit range) at a facility, ordered once
    (``processing_order``, ``None`` until then)."""

    __tablename__ = "campaign_batch"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: Mapped[int] = pk()
    campaign_id: Mapped[int] = fk("campaign.id", ondelete="CASCADE")
    number: Mapped[int]
    start_time: Mapped[datetime | None]
    stop_time: Mapped[datetime | None]
    orbit_from: Mapped[int | None]
    orbit_to: Mapped[int | None]
    processing_facility_id: Mapped[int] = fk("processing_facility.id")
    processing_order_id: Mapped[int | None] = fk(
        "processing_order.id", nullable=True, ondelete="SET NULL"
    )
    ordered_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any] | None]
    """Order settings of this batch alone (targeted reprocessing: the classes, file class,
    mode and processors of the products it makes again); ``None``: the campaign's."""

    campaign: Mapped[Campaign] = relationship(back_populates="batches")
    processing_facility: Mapped[ProcessingFacility] = relationship()
    processing_order: Mapped[ProcessingOrder | None] = relationship()
