"""Systematic production: order templates, production triggers, their occurrences, and the
notifications sent when an order ends."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.enums import CatchUp, TriggerKind
from proseo.model.base import Base, fk, pk, utc_now

if TYPE_CHECKING:
    from proseo.model.mission import Mission
    from proseo.model.order import ProcessingOrder


class OrderTemplate(Base):
    """One version of a named order template of a mission: every setting of a processing
    order except its identifier and its time window or orbits (``settings``, the JSON form of
    :class:`orderman.templates.TemplateSettings`). Versions are kept; triggers use the
    newest."""

    __tablename__ = "order_template"
    __table_args__ = (UniqueConstraint("mission_id", "name", "version"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    description: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    mission: Mapped[Mission] = relationship()


class ProductionTrigger(Base):
    """A rule that makes processing orders from a template by itself (see
    :mod:`orderman.triggers` for the kinds and their ``settings``).

    ``delay_s`` is how long after its occurrence (an orbit's end, a calendar time) the trigger
    fires; ``execution_delay_s`` sets the execution time of the orders it makes (the
    dispatcher starts none of their job steps before); ``priority`` overrides the template's
    order priority; ``catch_up`` says which timed occurrences missed during downtime are made
    up. ``active_since`` (UTC) is when it was last enabled: data-driven and datatake
    triggers only react to products that arrived after it.
    """

    __tablename__ = "production_trigger"
    __table_args__ = (UniqueConstraint("mission_id", "name"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TriggerKind]
    template_name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    priority: Mapped[int | None]
    delay_s: Mapped[int] = mapped_column(BigInteger, default=0)
    execution_delay_s: Mapped[int] = mapped_column(BigInteger, default=0)
    catch_up: Mapped[CatchUp] = mapped_column(default=CatchUp.ALL)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active_since: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    mission: Mapped[Mission] = relationship()
    occurrences: Mapped[list[TriggerOccurrence]] = relationship(
        back_populates="trigger", cascade="all, delete-orphan", passive_deletes=True
    )


class TriggerOccurrence(Base):
    """One occurrence of a trigger, made at most once: the unique ``occurrence_key`` (a
    period, an orbit, a product or a datatake) is what makes a restart, a second server or a
    replayed ingestion harmless. ``processing_order`` is the order it made (``None`` when
    making it failed: ``message`` says why)."""

    __tablename__ = "trigger_occurrence"
    __table_args__ = (
        UniqueConstraint("trigger_id", "occurrence_key"),
        Index("ix_trigger_occurrence_due", "trigger_id", "due_at"),
    )

    id: Mapped[int] = pk()
    trigger_id: Mapped[int] = fk("production_trigger.id", ondelete="CASCADE")
    occurrence_key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]
    window_start: Mapped[datetime | None]
    window_stop: Mapped[datetime | None]
    template_version: Mapped[int | None]
    processing_order_id: Mapped[int | None] = fk(
        "processing_order.id", nullable=True, ondelete="SET NULL"
    )
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    trigger: Mapped[ProductionTrigger] = relationship(back_populates="occurrences")
    processing_order: Mapped[ProcessingOrder | None] = relationship()


class OrderNotification(Base):
    """The JSON notification of an order's end (COMPLETED or FAILED) to its notification
    endpoint: one per state change (``history_id``, the state history row), retried with
    back-off until delivered or out of attempts."""

    __tablename__ = "order_notification"
    __table_args__ = (UniqueConstraint("processing_order_id", "history_id"),)

    id: Mapped[int] = pk()
    processing_order_id: Mapped[int] = fk("processing_order.id", ondelete="CASCADE")
    history_id: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    delivered_at: Mapped[datetime | None]
    gave_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
