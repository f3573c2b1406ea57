"""REST routes of the catalogue: missions, product classes, processors, products.

A user sees its own mission only (ROOT sees all); products only of product classes whose
visibility its reader role allows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from proseo.api.auth import Requires
from proseo.api.deps import MAX_ID, DbSession, IsoTime, ObjectId
from proseo.catalogue.facilities import FacilityRow, list_facilities
from proseo.catalogue.missions import MissionSummary, list_missions
from proseo.catalogue.products import (
    MAX_PAGE,
    ProductPage,
    ProductView,
    list_products,
    product_scope,
    product_view,
)
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
from proseo.enums import UserRole
from proseo.errors import PermissionDeniedError
from proseo.security.principal import Principal

router = APIRouter(tags=["catalogue"])

MissionReader = Annotated[Principal, Depends(Requires(UserRole.MISSION_READER))]
ProductClassReader = Annotated[Principal, Depends(Requires(UserRole.PRODUCTCLASS_READER))]
ProcessorReader = Annotated[Principal, Depends(Requires(UserRole.PROCESSOR_READER))]
ProductReader = Annotated[Principal, Depends(Requires(UserRole.PRODUCT_READER))]
FacilityReader = Annotated[Principal, Depends(Requires(UserRole.FACILITY_READER))]


@router.get("/facilities")
def get_facilities(db: DbSession, _user: FacilityReader) -> list[FacilityRow]:
    """Processing facilities with executor, storage and capacity (secret settings masked;
    facilities serve every mission)."""
    return list_facilities(db)


@router.get("/missions")
def get_missions(db: DbSession, user: MissionReader) -> list[MissionSummary]:
    """All missions the user may read (its own; every mission for ROOT)."""
    return [m for m in list_missions(db) if user.is_root or m.code == user.mission]


@router.get("/missions/{code}")
def get_mission(code: str, db: DbSession, user: MissionReader) -> MissionView:
    """One mission with spacecraft, orbit range and counts."""
    user.require(UserRole.MISSION_READER, code)
    return mission_view(db, code)


@router.get("/missions/{code}/productclasses")
def get_product_classes(
    code: str, db: DbSession, user: ProductClassReader
) -> list[ProductClassRow]:
    """The product classes of a mission."""
    user.require(UserRole.PRODUCTCLASS_READER, code)
    return list_product_classes(db, code)


@router.get("/missions/{code}/productclasses/{product_type}")
def get_product_class(
    code: str, product_type: str, db: DbSession, user: ProductClassReader
) -> ProductClassView:
    """One product class with components and selection rules."""
    user.require(UserRole.PRODUCTCLASS_READER, code)
    return product_class_view(db, code, product_type)


@router.get("/missions/{code}/processors")
def get_processors(code: str, db: DbSession, user: ProcessorReader) -> list[ProcessorRow]:
    """Processor versions and configured processors of a mission."""
    user.require(UserRole.PROCESSOR_READER, code)
    return list_processors(db, code)


@router.get("/products")
def get_products(
    db: DbSession,
    user: ProductReader,
    mission: str | None = None,
    product_class: Annotated[str | None, Query(description="Product type.")] = None,
    sensing_from: Annotated[
        IsoTime | None, Query(description="Sensing stop after (with a time zone).")
    ] = None,
    sensing_to: Annotated[
        IsoTime | None, Query(description="Sensing start before (with a time zone).")
    ] = None,
    with_files: bool = False,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ProductPage:
    """Products, newest sensing first, filtered by mission, class and sensing time, paged
    (of the user's mission, and only of classes whose visibility its role allows)."""
    if mission is not None:
        user.require(UserRole.PRODUCT_READER, mission)
    elif not user.is_root:
        mission = user.mission
    return list_products(
        db,
        mission=mission,
        product_type=product_class,
        sensing_from=sensing_from,
        sensing_to=sensing_to,
        with_files_only=with_files,
        offset=offset,
        limit=limit,
        visibilities=None if user.is_root else user.visible(mission),
    )


@router.get("/products/{product_id}")
def get_product(product_id: ObjectId, db: DbSession, user: ProductReader) -> ProductView:
    """One product with files (sizes, MD5), parameters, components and lineage."""
    mission, visibility = product_scope(db, product_id)
    user.require(UserRole.PRODUCT_READER, mission)
    if visibility not in user.visible(mission):
        needed = (
            UserRole.PRODUCT_READER_RESTRICTED
            if visibility == "RESTRICTED"
            else UserRole.PRODUCT_READER_ALL
        )
        raise PermissionDeniedError(
            f"{needed.value} in mission {mission} is needed: product {product_id} is of a "
            f"{visibility} product class",
            role=needed.value,
            mission=mission,
            user=user.username,
        )
    return product_view(db, product_id)


ProductManager = Annotated[Principal, Depends(Requires(UserRole.PRODUCT_MGR))]


class Deletion(BaseModel):
    """What a product deletion did."""

    deleted: list[int]
    files_only: bool
    files: int
    bytes: int
    storage_failures: list[str]


@router.delete("/products/{product_id}")
def delete_product(
    product_id: ObjectId,
    request: Request,
    user: ProductManager,
    files_only: bool = False,
    facility: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Deletion:
    """Delete a product with its files, or only its files (``files_only``, at ``facility``
    or all); 409 naming the job steps while an unfinished one needs it."""
    from proseo.catalogue.retention import delete_products

    database = request.app.state.database
    with database.transaction() as session:
        mission, _visibility = product_scope(session, product_id)
    user.require(UserRole.PRODUCT_MGR, mission)
    done = delete_products(
        database,
        request.app.state.settings,
        [product_id],
        files_only=files_only,
        facility=facility,
    )
    return Deletion(
        deleted=[product_id],
        files_only=files_only,
        files=done.files,
        bytes=done.bytes,
        storage_failures=done.failures,
    )
