"""State history: every state change of an order, job or job step, when, by whom and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proseo.enums import StatefulEntity
from proseo.model.base import ID_TYPE, Base, pk, utc_now


class StateHistory(Base):
    """One recorded state change.

    ``from_state`` is ``None`` for the creation of an entity; ``changed_at`` is UTC;
    ``changed_by`` is the user or component (e.g. ``planner``, ``dispatcher``).
    """

    __tablename__ = "state_history"
    __table_args__ = (Index("ix_state_history_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = pk()
    entity_type: Mapped[StatefulEntity]
    entity_id: Mapped[int] = mapped_column(ID_TYPE)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(default=utc_now)
    changed_by: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)


STATE_CHANGE_COLUMNS = (
    "entity_type",
    "entity_id",
    "from_state",
    "to_state",
    "changed_at",
    "changed_by",
    "reason",
)
"""The columns of a :class:`StateHistory` row that a bulk write of state changes gives, in
this order (the id is the table's own)."""
