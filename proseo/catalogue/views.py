"""Read-only views of the catalogue for listings (CLI tables/JSON and the REST API)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from proseo.catalogue.missions import get_mission
from proseo.errors import NotFoundError
from proseo.model import (
    ConfiguredProcessor,
    Mission,
    Orbit,
    Processor,
    ProcessorClass,
    Product,
    ProductClass,
    SelectionRule,
)


class SpacecraftView(BaseModel):
    """A spacecraft with the range of its stored orbits."""

    code: str
    name: str
    orbits: int
    first_orbit: int | None
    last_orbit: int | None
    first_orbit_start: datetime | None
    last_orbit_stop: datetime | None


class MissionView(BaseModel):
    """A mission in detail (``proseo mission show``)."""

    code: str
    name: str
    file_classes: list[str]
    processing_modes: list[str]
    product_file_template: str | None
    spacecraft: list[SpacecraftView]
    product_classes: int
    processor_classes: int
    configured_processors: int
    products: int


class ProductClassRow(BaseModel):
    """One line of ``proseo productclass list``."""

    mission: str
    product_type: str
    level: str | None
    processor_class: str | None
    enclosing_class: str | None
    slicing: str | None
    rules: int


class ProductClassView(ProductClassRow):
    """A product class in detail, with its components and rule texts."""

    description: str | None
    visibility: str
    component_classes: list[str]
    selection_rules: list[str]
    products: int


class ProcessorRow(BaseModel):
    """One line of ``proseo processor list``: a processor version and its configurations."""

    mission: str
    processor_class: str
    version: str
    job_order_version: str
    tasks: list[str]
    configured_processors: list[str]
    produces: list[str]


def mission_view(session: Session, code: str) -> MissionView:
    """Details of mission ``code``. :raises NotFoundError: for an unknown code."""
    mission = get_mission(session, code)
    spacecraft = []
    for s in sorted(mission.spacecrafts, key=lambda s: s.code):
        count, first, last, first_start, last_stop = session.execute(
            select(
                func.count(Orbit.id),
                func.min(Orbit.orbit_number),
                func.max(Orbit.orbit_number),
                func.min(Orbit.start_time),
                func.max(Orbit.stop_time),
            ).where(Orbit.spacecraft_id == s.id)
        ).one()
        spacecraft.append(
            SpacecraftView(
                code=s.code,
                name=s.name,
                orbits=count,
                first_orbit=first,
                last_orbit=last,
                first_orbit_start=first_start,
                last_orbit_stop=last_stop,
            )
        )
    class_ids = [pc.id for pc in mission.product_classes]
    products = (
        session.scalar(
            select(func.count(Product.id)).where(Product.product_class_id.in_(class_ids))
        )
        if class_ids
        else 0
    )
    configured = session.scalar(
        select(func.count(ConfiguredProcessor.id))
        .join(Processor)
        .join(ProcessorClass)
        .where(ProcessorClass.mission_id == mission.id)
    )
    return MissionView(
        code=mission.code,
        name=mission.name,
        file_classes=list(mission.file_classes),
        processing_modes=list(mission.processing_modes),
        product_file_template=mission.product_file_template,
        spacecraft=spacecraft,
        product_classes=len(mission.product_classes),
        processor_classes=len(mission.processor_classes),
        configured_processors=configured or 0,
        products=products or 0,
    )


def _row(pc: ProductClass, code: str) -> dict[str, object]:
    return {
        "mission": code,
        "product_type": pc.product_type,
        "level": pc.processing_level.value if pc.processing_level else None,
        "processor_class": pc.processor_class.name if pc.processor_class else None,
        "enclosing_class": pc.enclosing_class.product_type if pc.enclosing_class else None,
        "slicing": pc.default_slicing_type.value if pc.default_slicing_type else None,
        "rules": len(pc.selection_rules),
    }


def list_product_classes(session: Session, mission: str | None = None) -> list[ProductClassRow]:
    """Product classes (of one mission or all), ordered by mission and product type."""
    query = (
        select(ProductClass, Mission.code)
        .join(Mission)
        .options(
            selectinload(ProductClass.processor_class),
            selectinload(ProductClass.enclosing_class),
            selectinload(ProductClass.selection_rules),
        )
        .order_by(Mission.code, ProductClass.product_type)
    )
    if mission is not None:
        get_mission(session, mission)
        query = query.where(Mission.code == mission)
    return [ProductClassRow.model_validate(_row(pc, code)) for pc, code in session.execute(query)]


def _rule_line(rule: SelectionRule) -> str:
    text = (f"[mode {rule.mode}] " if rule.mode else "") + rule.rule_text
    only = sorted(cp.identifier for cp in rule.applicable_configured_processors)
    return text + (f" [only {', '.join(only)}]" if only else "")


def product_class_view(session: Session, mission: str, product_type: str) -> ProductClassView:
    """Details of one product class.

    :raises NotFoundError: naming the mission or product type that does not exist.
    """
    m = get_mission(session, mission)
    pc = session.scalar(
        select(ProductClass).where(
            ProductClass.mission_id == m.id, ProductClass.product_type == product_type
        )
    )
    if pc is None:
        raise NotFoundError(f"mission {mission} has no product class {product_type!r}")
    products = session.scalar(
        select(func.count(Product.id)).where(Product.product_class_id == pc.id)
    )
    return ProductClassView.model_validate(
        {
            **_row(pc, mission),
            "description": pc.description,
            "visibility": pc.visibility.value,
            "component_classes": sorted(c.product_type for c in pc.component_classes),
            "selection_rules": [_rule_line(r) for r in pc.selection_rules],
            "products": products or 0,
        }
    )


def list_processors(session: Session, mission: str | None = None) -> list[ProcessorRow]:
    """Processor versions with their configured processors and produced product types."""
    query = (
        select(Processor, ProcessorClass, Mission.code)
        .join(ProcessorClass, Processor.processor_class_id == ProcessorClass.id)
        .join(Mission, ProcessorClass.mission_id == Mission.id)
        .options(
            selectinload(Processor.tasks),
            selectinload(Processor.configured_processors),
        )
        .order_by(Mission.code, ProcessorClass.name, Processor.processor_version)
    )
    if mission is not None:
        get_mission(session, mission)
        query = query.where(Mission.code == mission)
    rows = []
    for processor, pclass, code in session.execute(query):
        rows.append(
            ProcessorRow(
                mission=code,
                processor_class=pclass.name,
                version=processor.processor_version,
                job_order_version=processor.job_order_version.value,
                tasks=[f"{t.task_name} {t.task_version}" for t in processor.tasks],
                configured_processors=sorted(
                    cp.identifier + ("" if cp.enabled else " (disabled)")
                    for cp in processor.configured_processors
                ),
                produces=sorted(pc.product_type for pc in pclass.product_classes),
            )
        )
    return rows


__all__ = [
    "MissionView",
    "ProcessorRow",
    "ProductClassRow",
    "ProductClassView",
    "list_processors",
    "list_product_classes",
    "mission_view",
    "product_class_view",
]
