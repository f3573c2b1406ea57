"""Product classes and their selection rules.

A :class:`SelectionRule` is one rule text for a target product class (DOMAIN.md grammar),
optionally limited to a processing mode and to some configured processors. It consists of
:class:`SimpleSelectionRule` rows (one per source product class and filter), each with an
ordered list of :class:`SimplePolicy` rows and :class:`SimpleRuleFilter` conditions.
Deltas are stored in milliseconds, the finest unit of the rule language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.enums import PolicyType, ProcessingLevel, SlicingType, Visibility
from proseo.model.base import ID_TYPE, Base, fk, pk

if TYPE_CHECKING:
    from proseo.model.mission import Mission
    from proseo.model.processor import ConfiguredProcessor, ProcessorClass


selection_rule_configured_processor = Table(
    "selection_rule_configured_processor",
    Base.metadata,
    Column(
        "selection_rule_id",
        ID_TYPE,
        ForeignKey("selection_rule.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "configured_processor_id",
        ID_TYPE,
        ForeignKey("configured_processor.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)


class ProductClass(Base):
    """A product class (product type, e.g. ``L2__NO2___``) of a mission.

    ``processor_class`` is what produces it (``None`` for inputs such as L0 and AUX);
    ``enclosing_class``/``component_classes`` describe products made of parts.
    ``default_slice_duration_ms`` applies when ``default_slicing_type`` is TIME_SLICE.
    """

    __tablename__ = "product_class"
    __table_args__ = (UniqueConstraint("mission_id", "product_type"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    product_type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    processing_level: Mapped[ProcessingLevel | None]
    visibility: Mapped[Visibility] = mapped_column(default=Visibility.PUBLIC)
    default_slicing_type: Mapped[SlicingType | None]
    default_slice_duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    retention_s: Mapped[int | None] = mapped_column(BigInteger)
    """Seconds a product of the class is kept after it was catalogued (``None``: forever)."""
    superseded_retention_s: Mapped[int | None] = mapped_column(BigInteger)
    """Seconds a superseded product is kept after it was superseded (``None``: as others)."""
    eviction_mode: Mapped[str] = mapped_column(String(16), default="TOMBSTONE")
    """What eviction leaves: ``TOMBSTONE`` (the catalogue row, without files) or ``REMOVE``."""
    processor_class_id: Mapped[int | None] = fk(
        "processor_class.id", nullable=True, ondelete="SET NULL"
    )
    enclosing_class_id: Mapped[int | None] = fk(
        "product_class.id", nullable=True, ondelete="SET NULL"
    )

    mission: Mapped[Mission] = relationship(back_populates="product_classes")
    processor_class: Mapped[ProcessorClass | None] = relationship(back_populates="product_classes")
    enclosing_class: Mapped[ProductClass | None] = relationship(
        back_populates="component_classes", remote_side="ProductClass.id"
    )
    component_classes: Mapped[list[ProductClass]] = relationship(back_populates="enclosing_class")
    selection_rules: Mapped[list[SelectionRule]] = relationship(
        back_populates="target_class",
        cascade="all, delete-orphan",
        foreign_keys="SelectionRule.target_class_id",
    )

    def __repr__(self) -> str:
        return f"ProductClass({self.product_type!r})"


class SelectionRule(Base):
    """One selection rule text for a target product class.

    ``rule_text`` is the canonical text form; ``mode`` limits it to one processing mode
    (``None``: any); ``applicable_configured_processors`` limits it to those (empty: all).
    """

    __tablename__ = "selection_rule"

    id: Mapped[int] = pk()
    target_class_id: Mapped[int] = fk("product_class.id", ondelete="CASCADE", index=True)
    mode: Mapped[str | None] = mapped_column(String(32))
    rule_text: Mapped[str] = mapped_column(Text)

    target_class: Mapped[ProductClass] = relationship(
        back_populates="selection_rules", foreign_keys=[target_class_id]
    )
    simple_rules: Mapped[list[SimpleSelectionRule]] = relationship(
        back_populates="selection_rule",
        cascade="all, delete-orphan",
        order_by="SimpleSelectionRule.position",
    )
    applicable_configured_processors: Mapped[list[ConfiguredProcessor]] = relationship(
        secondary=selection_rule_configured_processor
    )


class SimpleSelectionRule(Base):
    """The part of a selection rule for one (filtered) source product class.

    ``minimum_coverage`` is the MINCOVER percentage (0-100) of the job window the selected
    products must cover; ``is_mandatory`` False means OPTIONAL.
    """

    __tablename__ = "simple_selection_rule"
    __table_args__ = (Index("ix_simple_selection_rule_source", "source_class_id"),)

    id: Mapped[int] = pk()
    selection_rule_id: Mapped[int] = fk("selection_rule.id", ondelete="CASCADE", index=True)
    position: Mapped[int]
    source_class_id: Mapped[int] = fk("product_class.id", ondelete="CASCADE")
    is_mandatory: Mapped[bool] = mapped_column(default=True)
    minimum_coverage: Mapped[int | None]

    selection_rule: Mapped[SelectionRule] = relationship(back_populates="simple_rules")
    source_class: Mapped[ProductClass] = relationship(foreign_keys=[source_class_id])
    policies: Mapped[list[SimplePolicy]] = relationship(
        back_populates="simple_rule",
        cascade="all, delete-orphan",
        order_by="SimplePolicy.position",
    )
    filters: Mapped[list[SimpleRuleFilter]] = relationship(
        back_populates="simple_rule", cascade="all, delete-orphan"
    )


class SimplePolicy(Base):
    """One policy of a simple rule, tried in ``position`` order.

    Search window for job window [start, stop]: [start - delta_before, stop + delta_after],
    deltas in milliseconds.
    """

    __tablename__ = "simple_policy"

    id: Mapped[int] = pk()
    simple_rule_id: Mapped[int] = fk("simple_selection_rule.id", ondelete="CASCADE", index=True)
    position: Mapped[int]
    policy_type: Mapped[PolicyType]
    delta_before_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    delta_after_ms: Mapped[int] = mapped_column(BigInteger, default=0)

    simple_rule: Mapped[SimpleSelectionRule] = relationship(back_populates="policies")


class SimpleRuleFilter(Base):
    """A filter condition ``key:value`` on the source products of a simple rule.

    The key names a product field (e.g. ``fileClass``) or a product parameter.
    """

    __tablename__ = "simple_rule_filter"
    __table_args__ = (UniqueConstraint("simple_rule_id", "key"),)

    id: Mapped[int] = pk()
    simple_rule_id: Mapped[int] = fk("simple_selection_rule.id", ondelete="CASCADE")
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)

    simple_rule: Mapped[SimpleSelectionRule] = relationship(back_populates="filters")
