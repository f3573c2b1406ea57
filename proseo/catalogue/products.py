"""Products in the catalogue: listing with filters and paging, one product in detail with
its files, parameters and lineage (the products its job step used)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, selectinload

from proseo.catalogue.facilities import get_facility
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import Visibility
from proseo.errors import InvalidInputError, NotFoundError
from proseo.model import (
    Job,
    JobStep,
    Mission,
    Orbit,
    ProcessingOrder,
    Product,
    ProductClass,
    ProductFile,
    ProductQuery,
)
from proseo.model.order import product_query_satisfying_product
from proseo.storage.factory import facility_storage

MAX_PAGE = 10_000


class ProductFileView(BaseModel):
    """A product's files at one processing facility (sizes in bytes, MD5 hex)."""

    facility: str
    file_name: str
    auxiliary_files: list[str]
    storage_path: str
    storage_type: str
    size_bytes: int
    md5: str | None


class ProductRow(BaseModel):
    """One line of ``proseo product list`` (times UTC)."""

    id: int
    mission: str
    product_type: str
    sensing_start: datetime
    sensing_stop: datetime
    generation_time: datetime | None
    file_name: str | None
    size_bytes: int | None
    job_step: int | None


class ProductView(ProductRow):
    """A product in detail (``proseo product show``)."""

    uuid: str
    file_class: str | None
    mode: str | None
    orbit: int | None
    parameters: dict[str, str]
    files: list[ProductFileView]
    components: list[int]
    enclosing_product: int | None
    processing_order: str | None
    configured_processor: str | None
    inputs: list[ProductRow]
    superseded: str | None = None
    """When and why it was superseded (no longer an input candidate), if it was."""
    eviction_time: datetime | None = None
    """When its files are (or were) evicted (UTC)."""


class ProductPage(BaseModel):
    """A page of products: ``total`` matching, ``offset``, the rows."""

    total: int
    offset: int
    products: list[ProductRow]


def _row(product: Product, mission: str) -> ProductRow:
    first = product.product_files[0] if product.product_files else None
    return ProductRow(
        id=product.id,
        mission=mission,
        product_type=product.product_class.product_type,
        sensing_start=product.sensing_start,
        sensing_stop=product.sensing_stop,
        generation_time=product.generation_time,
        file_name=first.product_file_name if first else None,
        size_bytes=first.file_size_bytes if first else None,
        job_step=product.job_step_id,
    )


def list_products(
    session: Session,
    *,
    mission: str | None = None,
    product_type: str | None = None,
    sensing_from: datetime | None = None,
    sensing_to: datetime | None = None,
    with_files_only: bool = False,
    offset: int = 0,
    limit: int = 100,
    visibilities: Collection[Visibility] | None = None,
    file_class: str | None = None,
    orbit: int | None = None,
    before: tuple[datetime, int] | None = None,
    count: bool = True,
) -> ProductPage:
    """Products (newest sensing first) of a mission and product type whose sensing interval
    intersects ``[sensing_from, sensing_to)`` (UTC), ``limit`` from ``offset``; only of
    product classes with one of ``visibilities`` when given (a reader's rights), of
    ``file_class`` and of orbit number ``orbit`` when given.

    Keyset paging (the web GUI): ``before`` = (sensing start, id) of the last row shown
    gives the rows after it in the same order without skipping ``offset`` rows; with
    ``count=False`` no total is counted (``total`` is then -1), so a page costs the same
    however many products match.

    :raises InvalidInputError: for a negative offset, a limit outside 1..10000, a time
        without a time zone, or ``sensing_to`` before ``sensing_from``.
    """
    if offset < 0:
        raise InvalidInputError("offset", offset, "must not be negative")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError("limit", limit, f"must be between 1 and {MAX_PAGE}")
    for name, moment in (("sensing_from", sensing_from), ("sensing_to", sensing_to)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInputError(name, moment.isoformat(), "give a time zone (e.g. ...Z)")
    if sensing_from and sensing_to and sensing_to < sensing_from:
        raise InvalidInputError("sensing_to", sensing_to.isoformat(), "is before sensing_from")
    conditions = []
    if mission:
        conditions.append(Mission.code == mission)
    if product_type:
        conditions.append(ProductClass.product_type == product_type)
    if sensing_from:
        conditions.append(Product.sensing_stop > sensing_from)
    if sensing_to:
        conditions.append(Product.sensing_start < sensing_to)
    if with_files_only:
        conditions.append(Product.product_files.any())
    if visibilities is not None:
        conditions.append(ProductClass.visibility.in_(list(visibilities)))
    if file_class:
        conditions.append(Product.file_class == file_class)
    if orbit is not None:
        conditions.append(Product.orbit_id.in_(select(Orbit.id).where(Orbit.orbit_number == orbit)))
    if before is not None:
        conditions.append(tuple_(Product.sensing_start, Product.id) < tuple_(*before))
    base = (
        select(Product.id)
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .join(Mission, ProductClass.mission_id == Mission.id)
        .where(*conditions)
    )
    total = (
        (session.scalar(select(func.count()).select_from(base.subquery())) or 0) if count else -1
    )
    rows = session.execute(
        select(Product, Mission.code)
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .join(Mission, ProductClass.mission_id == Mission.id)
        .where(*conditions)
        .options(selectinload(Product.product_files), selectinload(Product.product_class))
        .order_by(Product.sensing_start.desc(), Product.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return ProductPage(total=total, offset=offset, products=[_row(p, code) for p, code in rows])


def product_scope(session: Session, product_id: int) -> tuple[str, Visibility]:
    """The mission code and product class visibility of product ``product_id``.

    :raises NotFoundError: naming the id when there is no such product.
    """
    row = session.execute(
        select(Mission.code, ProductClass.visibility)
        .join(ProductClass, ProductClass.mission_id == Mission.id)
        .join(Product, Product.product_class_id == ProductClass.id)
        .where(Product.id == product_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no product with id {product_id}")
    return row[0], row[1]


def get_product(session: Session, product_id: int) -> Product:
    """:raises NotFoundError: naming the id when there is no such product."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFoundError(f"no product with id {product_id}")
    return product


def product_view(session: Session, product_id: int) -> ProductView:
    """One product with files, parameters, components and lineage.

    :raises NotFoundError: for an unknown id.
    """
    product = get_product(session, product_id)
    mission = session.get_one(Mission, product.product_class.mission_id).code
    order = processor = None
    inputs: list[ProductRow] = []
    if product.job_step_id is not None:
        step = session.get_one(JobStep, product.job_step_id)
        job = session.get_one(Job, step.job_id)
        order_row = session.get_one(ProcessingOrder, job.processing_order_id)
        order = f"{order_row.id} ({order_row.identifier})"
        processor = step.configured_processor.identifier if step.configured_processor else None
        link = product_query_satisfying_product
        used = session.scalars(
            select(Product)
            .join(link, link.c.product_id == Product.id)
            .join(ProductQuery, ProductQuery.id == link.c.product_query_id)
            .where(ProductQuery.job_step_id == step.id)
            .options(selectinload(Product.product_files), selectinload(Product.product_class))
            .order_by(Product.id)
            .distinct()
        ).all()
        inputs = [_row(p, mission) for p in used]
    files = session.scalars(
        select(ProductFile)
        .where(ProductFile.product_id == product.id)
        .options(selectinload(ProductFile.processing_facility))
    ).all()
    return ProductView(
        **_row(product, mission).model_dump(),
        uuid=str(product.uuid),
        file_class=product.file_class,
        mode=product.mode,
        orbit=product.orbit.orbit_number if product.orbit else None,
        parameters={p.key: p.value for p in product.parameters},
        files=[
            ProductFileView(
                facility=f.processing_facility.name,
                file_name=f.product_file_name,
                auxiliary_files=list(f.auxiliary_file_names),
                storage_path=f.file_path,
                storage_type=f.storage_type.value,
                size_bytes=f.file_size_bytes,
                md5=f.checksum,
            )
            for f in files
        ],
        superseded=None
        if product.superseded_at is None
        else f"{product.superseded_at.isoformat()}: {product.superseded_reason}",
        eviction_time=product.eviction_time,
        components=sorted(c.id for c in product.component_products),
        enclosing_product=product.enclosing_product_id,
        processing_order=order,
        configured_processor=processor,
        inputs=inputs,
    )


def used_by(session: Session, product_id: int, limit: int = 100) -> list[ProductRow]:
    """The lineage forwards: products made by job steps that used product ``product_id``
    (one of their product queries is satisfied by it), at most ``limit``, by id."""
    link = product_query_satisfying_product
    steps = (
        select(ProductQuery.job_step_id)
        .join(link, link.c.product_query_id == ProductQuery.id)
        .where(link.c.product_id == product_id)
    )
    rows = session.execute(
        select(Product, Mission.code)
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .join(Mission, ProductClass.mission_id == Mission.id)
        .where(Product.job_step_id.in_(steps), Product.enclosing_product_id.is_(None))
        .options(selectinload(Product.product_files), selectinload(Product.product_class))
        .order_by(Product.id)
        .limit(limit)
    ).all()
    return [_row(p, code) for p, code in rows]


def fetch_product_file(
    database: Database, settings: Settings, product_id: int, target: Path
) -> tuple[str, str, Path]:
    """Copy the main file of product ``product_id`` (at the default facility) from storage
    into folder ``target``.

    :returns: mission code, product type and the local path.
    :raises NotFoundError: when the product does not exist or has no file there.
    """
    with database.transaction() as session:
        product = get_product(session, product_id)
        facility = get_facility(session, None)
        file = next(
            (f for f in product.product_files if f.processing_facility_id == facility.id), None
        )
        if file is None:
            raise NotFoundError(f"product {product_id} has no file at facility {facility.name}")
        mission = session.get_one(Mission, product.product_class.mission_id).code
        product_type = product.product_class.product_type
        key = f"{file.file_path}/{file.product_file_name}"
        storage = facility_storage(facility, settings)
        name = file.product_file_name
    return mission, product_type, storage.get(key, target / name)
