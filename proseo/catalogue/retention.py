"""Deleting products and evicting them when their retention period is over, never while an
unfinished job step needs them.

A product is **needed** while a job step that is PLANNED, WAITING_INPUT, READY or RUNNING
either has it (or one of its components) among the products satisfying its inputs, or
produces it. Deleting or evicting a needed product is refused (:func:`delete_products`) or
postponed (:func:`evict`).

**Retention** (per product class, :class:`~proseo.model.ProductClass`): a product is due for
eviction at its own ``eviction_time`` if it has one (set at production from the order's
``product_retention_s``), else ``retention_s`` after it was catalogued; a superseded product
``superseded_retention_s`` after it was superseded when that comes first. Eviction deletes its
files from every facility's storage and then, as the class says, keeps the catalogue row as
a **tombstone** (no files, ``eviction_time`` set) or **removes** it.

The catalogue rows go in one transaction; the stored objects are deleted after it committed
(an object whose deletion fails is reported and logged: an orphan in storage, never a
catalogue row without its file).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from proseo.config import Settings
from proseo.db import Database
from proseo.enums import JobStepState
from proseo.errors import ConflictError, NotFoundError, ProseoError
from proseo.model import (
    JobStep,
    ProcessingFacility,
    Product,
    ProductClass,
    ProductFile,
    ProductQuery,
)
from proseo.model.base import utc_now
from proseo.model.order import product_query_satisfying_product
from proseo.storage.factory import facility_storage

log = logging.getLogger(__name__)

UNFINISHED = (
    JobStepState.PLANNED,
    JobStepState.WAITING_INPUT,
    JobStepState.READY,
    JobStepState.RUNNING,
)
"""Job step states in which a step still needs its inputs and outputs."""


def needed_by(session: Session, product_ids: list[int]) -> dict[int, set[int]]:
    """Of ``product_ids``, those an unfinished job step needs, with the job step ids (inputs
    through their components too, and planned outputs)."""
    if not product_ids:
        return {}
    owner: dict[int, int] = {pid: pid for pid in product_ids}
    for part, whole in session.execute(
        select(Product.id, Product.enclosing_product_id).where(
            Product.enclosing_product_id.in_(product_ids)
        )
    ):
        if whole is not None:
            owner[part] = whole
    link = product_query_satisfying_product
    needed: dict[int, set[int]] = defaultdict(set)
    for product_id, step_id in session.execute(
        select(link.c.product_id, ProductQuery.job_step_id)
        .join(ProductQuery, ProductQuery.id == link.c.product_query_id)
        .join(JobStep, JobStep.id == ProductQuery.job_step_id)
        .where(link.c.product_id.in_(list(owner)), JobStep.state.in_(UNFINISHED))
    ):
        needed[owner[product_id]].add(step_id)
    for product_id, step_id in session.execute(
        select(Product.id, Product.job_step_id)
        .join(JobStep, JobStep.id == Product.job_step_id)
        .where(Product.id.in_(product_ids), JobStep.state.in_(UNFINISHED))
    ):
        if step_id is not None:
            needed[product_id].add(step_id)
    return dict(needed)


@dataclass
class Removal:
    """What a deletion or an eviction did: products deleted (rows), evicted (tombstones),
    files deleted and their bytes, products kept because a job step needs them, and storage
    deletions that failed (orphaned objects)."""

    deleted: list[int] = field(default_factory=list)
    evicted: list[int] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    kept: dict[int, list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _objects(
    session: Session, product_ids: list[int], facility_id: int | None
) -> list[ProductFile]:
    ids = set(product_ids) | set(
        session.scalars(select(Product.id).where(Product.enclosing_product_id.in_(product_ids)))
    )
    query = select(ProductFile).where(ProductFile.product_id.in_(list(ids)))
    if facility_id is not None:
        query = query.where(ProductFile.processing_facility_id == facility_id)
    return list(session.scalars(query))


def _delete_objects(
    settings: Settings, doomed: list[tuple[ProcessingFacility, list[str]]], report: Removal
) -> None:
    for facility, keys in doomed:
        try:
            storage = facility_storage(facility, settings)
        except ProseoError as error:
            report.failures.extend(f"{facility.name}:{key}: {error.message}" for key in keys)
            continue
        for key in keys:
            try:
                storage.delete(key)
            except ProseoError as error:
                log.warning("could not delete %s at %s: %s", key, facility.name, error.message)
                report.failures.append(f"{facility.name}:{key}: {error.message}")


def _remove(
    session: Session,
    product_ids: list[int],
    *,
    files_only: bool,
    facility_id: int | None,
    report: Removal,
) -> list[tuple[ProcessingFacility, list[str]]]:
    """Delete the rows (files, or products); return the stored objects to delete after the
    commit, by facility."""
    by_facility: dict[int, list[str]] = defaultdict(list)
    facilities: dict[int, ProcessingFacility] = {}
    for row in _objects(session, product_ids, facility_id):
        folder = f"{row.file_path}/" if row.file_path else ""
        names = [row.product_file_name, *row.auxiliary_file_names]
        by_facility[row.processing_facility_id].extend(folder + name for name in names)
        facilities[row.processing_facility_id] = row.processing_facility
        report.files += 1
        report.bytes += row.file_size_bytes
        session.delete(row)
    if not files_only:
        for product in session.scalars(select(Product).where(Product.id.in_(product_ids))):
            session.delete(product)
    session.flush()
    return [(facilities[f], keys) for f, keys in by_facility.items()]


def delete_products(
    database: Database,
    settings: Settings,
    product_ids: list[int],
    *,
    files_only: bool = False,
    facility: str | None = None,
) -> Removal:
    """Delete products (rows, parameters, components and files) or only their files
    (``files_only``, at one ``facility`` or all), then their stored objects.

    :raises NotFoundError: for an unknown product id or facility.
    :raises ConflictError: naming the job steps, when an unfinished job step needs one of
        them (nothing is deleted)."""
    report = Removal()
    with database.transaction() as session:
        found = set(session.scalars(select(Product.id).where(Product.id.in_(product_ids))))
        missing = sorted(set(product_ids) - found)
        if missing:
            raise NotFoundError(f"no product with id {', '.join(map(str, missing))}")
        facility_id = None
        if facility is not None:
            row = session.scalar(
                select(ProcessingFacility).where(ProcessingFacility.name == facility)
            )
            if row is None:
                raise NotFoundError(f"no processing facility {facility!r}")
            facility_id = row.id
        needed = needed_by(session, list(product_ids))
        if needed:
            first, steps = next(iter(sorted(needed.items())))
            raise ConflictError(
                f"product {first} is needed by unfinished job step(s) "
                f"{', '.join(map(str, sorted(steps)))}; finish, cancel or reset them first",
                field="product",
                value=first,
            )
        doomed = _remove(
            session,
            list(product_ids),
            files_only=files_only,
            facility_id=facility_id,
            report=report,
        )
        if files_only:
            report.evicted = list(product_ids)
        else:
            report.deleted = list(product_ids)
    _delete_objects(settings, doomed, report)
    return report


def due_for_eviction(session: Session, now: datetime, limit: int = 10_000) -> list[int]:
    """Main products (with files) whose retention is over at ``now`` (UTC), oldest first
    (one query per product class with a retention, times compared as the database stores
    them)."""
    p = Product
    base = (p.enclosing_product_id.is_(None), p.product_files.any())
    conditions = [p.eviction_time.is_not(None) & (p.eviction_time <= now)]
    for class_id, keep, keep_superseded in session.execute(
        select(
            ProductClass.id, ProductClass.retention_s, ProductClass.superseded_retention_s
        ).where(
            or_(
                ProductClass.retention_s.is_not(None),
                ProductClass.superseded_retention_s.is_not(None),
            )
        )
    ):
        if keep is not None:
            conditions.append(
                (p.product_class_id == class_id)
                & p.eviction_time.is_(None)
                & (p.created_at <= now - timedelta(seconds=keep))
            )
        if keep_superseded is not None:
            conditions.append(
                (p.product_class_id == class_id)
                & p.superseded_at.is_not(None)
                & (p.superseded_at <= now - timedelta(seconds=keep_superseded))
            )
    return list(
        session.scalars(
            select(p.id).where(*base, or_(*conditions)).order_by(p.created_at, p.id).limit(limit)
        )
    )


def evict(
    database: Database, settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> Removal:
    """Evict the products whose retention is over (see the module docstring), except those an
    unfinished job step needs (reported in ``kept``). ``dry_run``: report, change nothing."""
    report = Removal()
    moment = now or utc_now()
    with database.transaction() as session:
        due = due_for_eviction(session, moment)
        report.kept = {k: sorted(v) for k, v in needed_by(session, due).items()}
        go = [pid for pid in due if pid not in report.kept]
        modes = dict(
            session.execute(
                select(Product.id, ProductClass.eviction_mode)
                .join(ProductClass)
                .where(Product.id.in_(go or [-1]))
            ).all()
        )
        tombstones = [pid for pid in go if modes.get(pid) != "REMOVE"]
        removed = [pid for pid in go if modes.get(pid) == "REMOVE"]
        if dry_run:
            report.evicted, report.deleted = tombstones, removed
            report.files = len(_objects(session, go, None)) if go else 0
            return report
        doomed = _remove(session, tombstones, files_only=True, facility_id=None, report=report)
        doomed += _remove(session, removed, files_only=False, facility_id=None, report=report)
        for product in session.scalars(select(Product).where(Product.id.in_(tombstones or [-1]))):
            product.eviction_time = product.eviction_time or moment
        report.evicted, report.deleted = tombstones, removed
    _delete_objects(settings, doomed, report)
    return report


def start_eviction(database: Database, settings: Settings, interval_s: float) -> Any:
    """Evict what is due every ``interval_s`` seconds in a background thread of this process
    (``proseo serve --evict-interval``).

    :returns: the running :class:`~proseo.db.wakeup.BackgroundWorker`."""
    from proseo.db.wakeup import BackgroundWorker

    def round_() -> float:
        done = evict(database, settings)
        if done.evicted or done.deleted:
            log.info(
                "eviction: %d tombstones, %d removed, %d files, %d bytes; %d kept for job steps",
                len(done.evicted),
                len(done.deleted),
                done.files,
                done.bytes,
                len(done.kept),
            )
        return interval_s

    return BackgroundWorker("eviction", round_, None, (), interval_s).start()
