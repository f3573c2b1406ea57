"""Product ingestion: files into storage, metadata into the catalogue, waiting steps woken.

Idempotent: a product whose main file (same product class and file name) is already
catalogued at the facility with the same size and MD5 is reported "already ingested" and
nothing changes; the same name with other content is refused (:class:`ConflictError`).

Atomic: :func:`ingest` stores the files first, then writes all rows in one transaction; if
anything fails (a bad item, a storage error, the database), the files stored by this call are
deleted again and the transaction rolls back: a batch lands whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.readiness import Arrival, recheck_waiting_job_steps
from proseo.catalogue.facilities import get_facility
from proseo.catalogue.missions import get_mission
from proseo.db import Database
from proseo.db.wakeup import PRODUCTS, announce
from proseo.errors import ConflictError, InvalidInputError, ProseoError
from proseo.metrics import count_ingested_on_commit
from proseo.model import (
    Orbit,
    ProcessingFacility,
    Product,
    ProductClass,
    ProductFile,
    ProductParameter,
    Spacecraft,
)
from proseo.model.base import utc_now
from proseo.plugins import ProductMetadata
from proseo.storage import Storage, StoredFile, check_name, product_key
from proseo.storage.posix import md5_of


@dataclass(frozen=True)
class IngestItem:
    """One product to ingest: its mission, metadata and local files (the first is the main
    file)."""

    mission: str
    metadata: ProductMetadata
    files: Sequence[Path]


@dataclass
class IngestOutcome:
    """What happened to one item."""

    product_type: str
    file_name: str
    status: Literal["ingested", "already ingested"]
    product_id: int | None = None
    size_bytes: int = 0


@dataclass
class IngestReport:
    """The outcome of a batch; ``woken`` counts job steps made READY by it."""

    outcomes: list[IngestOutcome] = field(default_factory=list)
    woken: int = 0

    @property
    def ingested(self) -> int:
        """Number of products newly ingested."""
        return sum(1 for o in self.outcomes if o.status == "ingested")


def metadata_to_json(metadata: ProductMetadata) -> str:
    """``metadata`` as the JSON :func:`metadata_from_json` reads (what the remote CLI sends
    with an upload)."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return json.dumps(
        {
            "product_type": metadata.product_type,
            "sensing_start": iso(metadata.sensing_start),
            "sensing_stop": iso(metadata.sensing_stop),
            "generation_time": iso(metadata.generation_time),
            "spacecraft": metadata.spacecraft_code,
            "orbit_number": metadata.orbit_number,
            "file_class": metadata.file_class,
            "mode": metadata.mode,
            "parameters": dict(metadata.parameters),
        }
    )


def metadata_from_json(text: str, field: str = "metadata") -> ProductMetadata:
    """Product metadata from JSON: ``product_type``, ``sensing_start``, ``sensing_stop``
    (ISO 8601 with time zone), optional ``generation_time``, ``spacecraft``,
    ``orbit_number``, ``file_class``, ``mode``, ``parameters``.

    :raises InvalidInputError: naming ``field`` and saying what is wrong.
    """
    try:
        data = json.loads(text)
        for key in ("sensing_start", "sensing_stop", "generation_time"):
            if data.get(key) and datetime.fromisoformat(data[key]).tzinfo is None:
                raise InvalidInputError(
                    f"{field}.{key}", data[key], "give a time zone (e.g. ...Z for UTC)"
                )
        return ProductMetadata(
            product_type=data["product_type"],
            sensing_start=datetime.fromisoformat(data["sensing_start"]),
            sensing_stop=datetime.fromisoformat(data["sensing_stop"]),
            generation_time=(
                datetime.fromisoformat(data["generation_time"])
                if data.get("generation_time")
                else None
            ),
            spacecraft_code=data.get("spacecraft"),
            orbit_number=data.get("orbit_number"),
            file_class=data.get("file_class"),
            mode=data.get("mode"),
            parameters={str(k): str(v) for k, v in data.get("parameters", {}).items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInputError(
            field, text[:200], f"not valid product metadata: {error}"
        ) from error


def _check_item(item: IngestItem, classes: dict[tuple[str, str], ProductClass]) -> ProductClass:
    m = item.metadata
    key = (item.mission, m.product_type)
    if key not in classes:
        raise InvalidInputError(
            "product type", m.product_type, f"not a product class of mission {item.mission}"
        )
    if not item.files:
        raise InvalidInputError("files", [], f"product {m.product_type} has no files")
    for path in item.files:
        check_name(path.name)
        if not path.is_file():
            raise InvalidInputError("file", str(path), "does not exist or is not a file")
    if m.sensing_stop < m.sensing_start:
        raise InvalidInputError(
            "sensing_stop",
            m.sensing_stop.isoformat(),
            f"is before sensing_start {m.sensing_start.isoformat()}",
        )
    return classes[key]


INGESTION_NAMESPACE = uuid.UUID("5d0b8f52-3c1e-4a7e-9a43-6b1f0c2d9e71")
"""The namespace of the UUIDs of ingested products (:func:`_product_uuid`)."""


def _product_uuid(
    session: Session, facility_id: int, class_id: int, file_name: str, md5: str
) -> uuid.UUID:
    """The UUID of a product ingested from ``file_name`` with content ``md5``: the same every
    time (UUID 5 of facility, class, name and content), so the storage key of its files is the
    same too. An ingestion killed between storing the files and committing leaves objects
    that the next try of the same file overwrites and catalogues, instead of orphans. A random
    UUID when a product already holds that one (its files were deleted at this facility and
    the same file comes again)."""
    derived = uuid.uuid5(INGESTION_NAMESPACE, f"{facility_id}/{class_id}/{file_name}/{md5}")
    if session.scalar(select(Product.id).where(Product.uuid == derived)) is not None:
        return uuid.uuid4()
    return derived


def ingest_products(
    session: Session,
    storage: Storage,
    facility: ProcessingFacility,
    items: Sequence[IngestItem],
    stored: list[str],
    user: str | None = None,
) -> IngestReport:
    """Store and catalogue ``items`` in the caller's transaction, ingested by ``user``.

    :param stored: receives the keys of every file this call stored, so the caller can delete
        them if the transaction does not commit.
    :raises InvalidInputError: for an unknown mission or product type, a missing file, a bad
        file name, or sensing stop before start (naming the field and value).
    :raises ConflictError: when a product of that class and file name exists with other
        content.
    """
    arrived = utc_now()
    missions = {code: get_mission(session, code) for code in {i.mission for i in items}}
    classes = {
        (code, pc.product_type): pc
        for code, mission in missions.items()
        for pc in session.scalars(select(ProductClass).where(ProductClass.mission_id == mission.id))
    }
    report = IngestReport()
    seen: dict[tuple[int, str], str] = {}
    new_products: list[Product] = []
    for item in items:
        pc = _check_item(item, classes)
        main = item.files[0]
        main_md5 = md5_of(main)
        main_size = main.stat().st_size
        existing = session.execute(
            select(ProductFile.product_id, ProductFile.checksum, ProductFile.file_size_bytes)
            .join(Product)
            .where(
                Product.product_class_id == pc.id,
                ProductFile.product_file_name == main.name,
                ProductFile.processing_facility_id == facility.id,
            )
        ).first()
        key = (pc.id, main.name)
        if existing is not None or key in seen:
            known_md5 = existing[1] if existing is not None else seen[key]
            if known_md5 != main_md5:
                raise ConflictError(
                    f"{pc.product_type} {main.name} is already catalogued with other content "
                    f"(MD5 {known_md5}, this file {main_md5})",
                    field="file",
                    value=main.name,
                )
            report.outcomes.append(
                IngestOutcome(
                    pc.product_type,
                    main.name,
                    "already ingested",
                    existing[0] if existing is not None else None,
                    main_size,
                )
            )
            continue
        seen[key] = main_md5
        product_uuid = _product_uuid(session, facility.id, pc.id, main.name, main_md5)
        files: list[StoredFile] = []
        for path in item.files:
            object_key = product_key(item.mission, pc.product_type, str(product_uuid), path.name)
            files.append(storage.put(path, object_key))
            stored.append(object_key)
        if files[0].md5 != main_md5:
            raise ConflictError(f"{main.name} changed while it was being ingested")
        m = item.metadata
        orbit_id = None
        if m.orbit_number is not None and m.spacecraft_code is not None:
            orbit_id = session.scalar(
                select(Orbit.id)
                .join(Spacecraft)
                .where(Spacecraft.code == m.spacecraft_code, Orbit.orbit_number == m.orbit_number)
            )
        product = Product(
            uuid=product_uuid,
            product_class=pc,
            sensing_start=m.sensing_start,
            sensing_stop=m.sensing_stop,
            generation_time=m.generation_time,
            file_class=m.file_class,
            mode=m.mode,
            orbit_id=orbit_id,
            ingested_by=user,
            parameters=[ProductParameter(key=k, value=v) for k, v in sorted(m.parameters.items())],
            product_files=[
                ProductFile(
                    processing_facility=facility,
                    product_file_name=main.name,
                    auxiliary_file_names=[path.name for path in item.files[1:]],
                    file_path=files[0].key.rsplit("/", 1)[0],
                    storage_type=storage.kind,
                    file_size_bytes=files[0].size_bytes,
                    checksum=files[0].md5,
                    checksum_time=utc_now(),
                )
            ],
        )
        session.add(product)
        new_products.append(product)
        report.outcomes.append(
            IngestOutcome(pc.product_type, main.name, "ingested", None, main_size)
        )
    session.flush()
    products = iter(new_products)
    for outcome in report.outcomes:
        if outcome.status == "ingested":
            outcome.product_id = next(products).id
    report.woken = recheck_waiting_job_steps(
        session,
        changed_by="ingestor",
        arrivals=[
            Arrival(p.product_class_id, p.sensing_start, p.sensing_stop, arrived_at=arrived)
            for p in new_products
        ],
    )
    count_ingested_on_commit(
        session, (o.product_type for o in report.outcomes if o.status == "ingested")
    )
    if new_products:
        announce(session, PRODUCTS)
    return report


def ingest(
    database: Database,
    storage: Storage,
    items: Sequence[IngestItem],
    facility_name: str | None = None,
    user: str | None = None,
) -> IngestReport:
    """Ingest a batch as one unit of work (see the module docstring for the guarantees),
    recording ``user`` as who ingested each new product."""
    stored: list[str] = []
    try:
        with database.transaction() as session:
            facility = get_facility(session, facility_name, "facility")
            return ingest_products(session, storage, facility, items, stored, user)
    except BaseException:
        _remove_uncatalogued(database, storage, stored)
        raise


def _remove_uncatalogued(database: Database, storage: Storage, keys: list[str]) -> None:
    """Delete the objects of a failed ingestion, but none that a committed product file names
    (a concurrent ingestion of the same file stored the same key and won). When the database
    cannot tell (it is out of reach), nothing is deleted: the next try of the same file
    overwrites the objects, and ``proseo facility check`` reports any left over."""
    if not keys:
        return
    try:
        with database.transaction() as session:
            named = {
                f"{folder}/{name}"
                for folder, main, auxiliary in session.execute(
                    select(
                        ProductFile.file_path,
                        ProductFile.product_file_name,
                        ProductFile.auxiliary_file_names,
                    ).where(ProductFile.product_file_name.in_([k.rsplit("/", 1)[-1] for k in keys]))
                )
                for name in (main, *auxiliary)
            }
    except ProseoError:
        return
    for key in keys:
        if key not in named:
            with contextlib.suppress(ProseoError):
                storage.delete(key)
