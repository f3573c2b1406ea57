"""REST routes of the catalogue: missions, product classes, processors, products."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from proseo.api.deps import DbSession
from proseo.catalogue.missions import MissionSummary, list_missions
from proseo.catalogue.products import ProductPage, ProductView, list_products, product_view
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


@router.get("/products")
def get_products(
    db: DbSession,
    mission: str | None = None,
    product_class: Annotated[str | None, Query(description="Product type.")] = None,
    sensing_from: Annotated[datetime | None, Query(description="Sensing stop after (UTC).")] = None,
    sensing_to: Annotated[datetime | None, Query(description="Sensing start before (UTC).")] = None,
    with_files: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> ProductPage:
    """Products, newest sensing first, filtered by mission, class and sensing time, paged."""
    return list_products(
        db,
        mission=mission,
        product_type=product_class,
        sensing_from=sensing_from,
        sensing_to=sensing_to,
        with_files_only=with_files,
        offset=offset,
        limit=limit,
    )


@router.get("/products/{product_id}")
def get_product(product_id: int, db: DbSession) -> ProductView:
    """One product with files (sizes, MD5), parameters, components and lineage."""
    return product_view(db, product_id)
