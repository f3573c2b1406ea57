"""Targeted reprocessing: after a corrected auxiliary product or a new configured processor,
make again exactly the products that depend on what was replaced.

- **After an AUX product** (:func:`affected_by_input`): the products it replaces are those of
  its class and file class whose validity overlaps its own and that were generated before it
  (not yet superseded). Every product whose lineage, followed forward and recursively
  (product queries satisfied by the replaced product -> their job steps' outputs -> ...),
  used one of them is affected.
- **After a configured processor** (:func:`affected_by_processor`): the products made by an
  older configured processor of its processor class (older processor or configuration
  version), and their forward lineage.

:func:`targeted_campaign` shows the difference (which classes and windows, how many products)
and, unless it is a dry run, marks the replaced inputs and the affected products superseded
(no longer input candidates, no longer equivalents, so they are planned again) and creates a
campaign (state CREATED) with one batch per window and product line (file class, mode,
configured processor), requesting exactly the affected classes. Only products with a file
count: what is still being produced will be made from the inputs its plan chose.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from orderman.campaigns import create_campaign_from_batches
from planner.versions import version_key
from proseo.catalogue.facilities import get_facility
from proseo.errors import InvalidInputError, NotFoundError
from proseo.model import (
    ConfiguredProcessor,
    Processor,
    Product,
    ProductClass,
    ProductQuery,
)
from proseo.model.base import utc_now
from proseo.model.order import product_query_satisfying_product

MAX_AFFECTED = 1_000_000
"""Most products one targeted reprocessing may make again."""


@dataclass(frozen=True)
class AffectedProduct:
    """A product to make again (times UTC)."""

    id: int
    product_type: str
    sensing_start: datetime
    sensing_stop: datetime
    file_class: str | None
    mode: str | None
    configured_processor: str | None


@dataclass
class Affected:
    """What a replacement affects: the replaced products (inputs or outputs of the old
    processor) and every produced product depending on them."""

    reason: str
    replaced: list[int] = field(default_factory=list)
    products: list[AffectedProduct] = field(default_factory=list)

    def by_class(self) -> dict[str, int]:
        """Affected products per product type."""
        return dict(sorted(Counter(p.product_type for p in self.products).items()))

    def windows(self) -> int:
        """Distinct sensing windows to make again."""
        return len({(p.sensing_start, p.sensing_stop) for p in self.products})


def _produced(session: Session, ids: set[int]) -> set[int]:
    """Of ``ids``, the main products (not components) with a file, not superseded."""
    found: set[int] = set()
    chunk = list(ids)
    for i in range(0, len(chunk), 10_000):
        found.update(
            session.scalars(
                select(Product.id).where(
                    Product.id.in_(chunk[i : i + 10_000]),
                    Product.enclosing_product_id.is_(None),
                    Product.superseded_at.is_(None),
                    Product.product_files.any(),
                )
            )
        )
    return found


def forward_lineage(session: Session, seeds: set[int]) -> set[int]:
    """Every product made (directly or through others) from one of ``seeds``: the outputs of
    the job steps whose product queries were satisfied by a seed (or by a component of one),
    recursively; their main products only.

    :raises InvalidInputError: when more than :data:`MAX_AFFECTED` products are affected."""
    affected: set[int] = set()
    frontier = set(seeds)
    while frontier:
        chunk = list(frontier)
        with_parts = set(chunk) | set(
            session.scalars(select(Product.id).where(Product.enclosing_product_id.in_(chunk)))
        )
        steps = select(ProductQuery.job_step_id).join(
            product_query_satisfying_product,
            product_query_satisfying_product.c.product_query_id == ProductQuery.id,
        )
        outputs = set(
            session.scalars(
                select(Product.id).where(
                    Product.job_step_id.in_(
                        steps.where(
                            product_query_satisfying_product.c.product_id.in_(list(with_parts))
                        )
                    ),
                    Product.enclosing_product_id.is_(None),
                )
            )
        )
        frontier = outputs - affected - seeds
        affected |= outputs
        if len(affected) > MAX_AFFECTED:
            raise InvalidInputError(
                "products", len(affected), f"more than {MAX_AFFECTED} products would be made again"
            )
    return _produced(session, affected)


def _describe(session: Session, ids: set[int]) -> list[AffectedProduct]:
    rows = session.execute(
        select(
            Product.id,
            ProductClass.product_type,
            Product.sensing_start,
            Product.sensing_stop,
            Product.file_class,
            Product.mode,
            ConfiguredProcessor.identifier,
        )
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .outerjoin(ConfiguredProcessor, Product.configured_processor_id == ConfiguredProcessor.id)
        .where(Product.id.in_(list(ids)))
        .order_by(Product.sensing_start, ProductClass.product_type)
    )
    return [AffectedProduct(*row) for row in rows]


def affected_by_input(session: Session, product_id: int) -> Affected:
    """What a corrected input (typically AUX) product replaces and what depends on that.

    :raises NotFoundError: for an unknown product.
    :raises InvalidInputError: when it replaces nothing."""
    new = session.get(Product, product_id)
    if new is None:
        raise NotFoundError(f"no product with id {product_id}")
    replaced = set(
        session.scalars(
            select(Product.id).where(
                Product.product_class_id == new.product_class_id,
                Product.id != new.id,
                Product.file_class.is_not_distinct_from(new.file_class),
                Product.sensing_start < new.sensing_stop,
                Product.sensing_stop > new.sensing_start,
                Product.superseded_at.is_(None),
                Product.enclosing_product_id.is_(None),
                or_(
                    Product.generation_time < new.generation_time,
                    Product.generation_time.is_(None),
                )
                if new.generation_time is not None
                else Product.created_at < new.created_at,
            )
        )
    )
    if not replaced:
        raise InvalidInputError(
            "product",
            product_id,
            "replaces no product: none of its class and file class with an overlapping "
            "validity was generated before it",
        )
    affected = Affected(
        reason=f"input {new.product_class.product_type} {new.id} replaces {sorted(replaced)}",
        replaced=sorted(replaced),
    )
    affected.products = _describe(session, forward_lineage(session, replaced))
    return affected


def affected_by_processor(session: Session, identifier: str) -> Affected:
    """What a new configured processor replaces (the products of older configured
    processors of its processor class) and what depends on those.

    :raises NotFoundError: for an unknown configured processor."""
    new = session.scalar(
        select(ConfiguredProcessor).where(ConfiguredProcessor.identifier == identifier)
    )
    if new is None:
        raise NotFoundError(f"no configured processor {identifier!r}")
    key = (
        version_key(new.processor.processor_version),
        version_key(new.configuration.configuration_version),
    )
    older = [
        cp.id
        for cp in session.scalars(
            select(ConfiguredProcessor)
            .join(Processor)
            .where(Processor.processor_class_id == new.processor.processor_class_id)
        )
        if (
            version_key(cp.processor.processor_version),
            version_key(cp.configuration.configuration_version),
        )
        < key
    ]
    made = set(
        session.scalars(
            select(Product.id).where(
                Product.configured_processor_id.in_(older or [-1]),
                Product.enclosing_product_id.is_(None),
            )
        )
    )
    replaced = _produced(session, made)
    affected = Affected(reason=f"configured processor {identifier}", replaced=sorted(replaced))
    affected.products = _describe(session, replaced | forward_lineage(session, replaced))
    return affected


def targeted_campaign(
    session: Session,
    mission: str,
    name: str,
    affected: Affected,
    user: str | None,
    *,
    facility: str | None = None,
    priority: int = 20,
    max_in_flight: int = 1000,
    processor: str | None = None,
) -> Any:
    """Mark the replaced and affected products superseded and create a campaign (state
    CREATED) that makes the affected products again: one batch per sensing window and
    product line, requesting exactly the affected classes with their file class and mode (and
    ``processor``, the new configured processor, for its class).

    :raises InvalidInputError: when nothing is affected."""
    if not affected.products:
        raise InvalidInputError("products", 0, "nothing depends on what was replaced")
    lines: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for p in affected.products:
        lines[(p.sensing_start, p.sensing_stop, p.file_class, p.mode)].add(p.product_type)
    batches = []
    for (start, stop, file_class, mode), classes in sorted(
        lines.items(), key=lambda item: (item[0][0], item[0][1], str(item[0][2]), str(item[0][3]))
    ):
        settings: dict[str, Any] = {
            "requested_product_classes": sorted(classes),
            "slicing_type": "NONE",
            "file_class": file_class,
            "processing_mode": mode,
        }
        if processor is not None:
            settings["configured_processors"] = [processor]
        batches.append((start, stop, settings))
    now = utc_now()
    marked = [*affected.replaced, *(p.id for p in affected.products)]
    for i in range(0, len(marked), 10_000):
        chunk = marked[i : i + 10_000]
        session.execute(
            update(Product)
            .where(or_(Product.id.in_(chunk), Product.enclosing_product_id.in_(chunk)))
            .values(
                superseded_at=now, superseded_reason=f"targeted reprocessing: {affected.reason}"
            )
            .execution_options(synchronize_session=False)
        )
    return create_campaign_from_batches(
        session,
        mission,
        name,
        batches,
        user,
        facility=get_facility(session, facility, "facility"),
        priority=priority,
        max_in_flight=max_in_flight,
        description=f"targeted reprocessing after {affected.reason}",
    )


__all__ = [
    "Affected",
    "AffectedProduct",
    "affected_by_input",
    "affected_by_processor",
    "forward_lineage",
    "targeted_campaign",
]
