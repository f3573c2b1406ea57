"""REST routes of the catalogue: missions, product classes, processors."""

from __future__ import annotations

from fastapi import APIRouter

from proseo.api.deps import DbSession
from proseo.catalogue.missions import MissionSummary, list_missions
from proseo.catalogue.views import (
    MissionView,
    ProcessorRow,
    ProductClassRow,
    ProductClassView,
    list_processors,
    list_product_classes,
    mission_view,
    product_class_view,
)

router = APIRouter(tags=["catalogue"])


@router.get("/missions")
def get_missions(db: DbSession) -> list[MissionSummary]:
    """All missions."""
    return list_missions(db)


@router.get("/missions/{code}")
def get_mission(code: str, db: DbSession) -> MissionView:
    """One mission with spacecraft, orbit range and counts."""
    return mission_view(db, code)


@router.get("/missions/{code}/productclasses")
def get_product_classes(code: str, db: DbSession) -> list[ProductClassRow]:
    """The product classes of a mission."""
    return list_product_classes(db, code)


@router.get("/missions/{code}/productclasses/{product_type}")
def get_product_class(code: str, product_type: str, db: DbSession) -> ProductClassView:
    """One product class with components and selection rules."""
    return product_class_view(db, code, product_type)


@router.get("/missions/{code}/processors")
def get_processors(code: str, db: DbSession) -> list[ProcessorRow]:
    """Processor versions and configured processors of a mission."""
    return list_processors(db, code)
