"""Bulk ingestion of products whose files are already in storage (metadata only).

For producers that write straight into the bucket or folder (thousands of products per call):
the files are checked (present, with the stated size), then all rows go in with a few bulk
statements in one transaction. Idempotency and conflicts are decided as in
:mod:`ingestor.service`, for the whole batch with one query per 5,000 products.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingestor.service import IngestOutcome, IngestReport
from planner.readiness import Arrival, recheck_waiting_job_steps
from proseo.catalogue.missions import get_mission
from proseo.db.bulk import allocate_ids, bulk_insert, table_of
from proseo.db.wakeup import PRODUCTS, announce
from proseo.errors import ConflictError, InvalidInputError, StorageError
from proseo.metrics import count_ingested_on_commit
from proseo.model import ProcessingFacility, Product, ProductClass, ProductFile, ProductParameter
from proseo.model.base import utc_now
from proseo.storage import Storage, check_key
from proseo.validation import JsonInt

_CHUNK = 5_000


class StoredFileEntry(BaseModel):
    """A file already in storage: its key, size (bytes) and MD5 (hex)."""

    key: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+/-]*$")
    size_bytes: JsonInt = Field(ge=0, le=2**53)  # exact in every JSON reader
    md5: str = Field(pattern=r"^[0-9a-f]{32}$")

    @field_validator("key")
    @classmethod
    def _safe(cls, value: str) -> str:
        check_key(value)
        return value


class StoredProductEntry(BaseModel):
    """One product of a bulk batch (times UTC with time zone; first file is the main one)."""

    mission: str = Field(min_length=1, max_length=20)
    product_type: str = Field(min_length=1, max_length=100)
    sensing_start: datetime
    sensing_stop: datetime
    generation_time: datetime | None = None
    file_class: str | None = None
    mode: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    files: list[StoredFileEntry] = Field(min_length=1)

    @field_validator("sensing_start", "sensing_stop", "generation_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone (use Z for UTC)")
        return value


def catalogue_stored_products(
    session: Session,
    storage: Storage,
    facility: ProcessingFacility,
    entries: Sequence[StoredProductEntry],
    *,
    verify: bool = True,
    user: str | None = None,
) -> IngestReport:
    """Catalogue ``entries`` in the caller's transaction, ingested by ``user``.

    :param verify: check every file is in storage with the stated size (one ``stat`` per file
        on POSIX; an S3 deployment may switch it off and trust the producer).
    :raises InvalidInputError: naming the entry (index), field and value that is wrong.
    :raises ConflictError: when a product of that class and main file name exists with
        another MD5.
    """
    classes: dict[tuple[str, str], int] = {}
    for code in {e.mission for e in entries}:
        mission = get_mission(session, code)
        for pc_id, product_type in session.execute(
            select(ProductClass.id, ProductClass.product_type).where(
                ProductClass.mission_id == mission.id
            )
        ):
            classes[(code, product_type)] = pc_id
    for index, entry in enumerate(entries):
        if (entry.mission, entry.product_type) not in classes:
            raise InvalidInputError(
                f"entries[{index}].product_type",
                entry.product_type,
                f"not a product class of mission {entry.mission}",
            )
        if entry.sensing_stop < entry.sensing_start:
            raise InvalidInputError(
                f"entries[{index}].sensing_stop",
                entry.sensing_stop.isoformat(),
                "is before sensing_start",
            )
        if verify:
            for stored in entry.files:
                try:
                    actual = storage.stat(stored.key, checksum=False).size_bytes
                except StorageError:
                    raise InvalidInputError(
                        f"entries[{index}].files", stored.key, "is not in storage"
                    ) from None
                if actual != stored.size_bytes:
                    raise InvalidInputError(
                        f"entries[{index}].files",
                        stored.key,
                        f"is {actual} bytes in storage, not {stored.size_bytes}",
                    )
    keys = [
        (classes[(e.mission, e.product_type)], e.files[0].key.rsplit("/", 1)[-1]) for e in entries
    ]
    known: dict[tuple[int, str], tuple[int, str | None]] = {}
    wanted = set(keys)
    names = sorted({name for _, name in keys})
    for start in range(0, len(names), _CHUNK):
        for pc_id, name, product_id, checksum in session.execute(
            select(
                Product.product_class_id,
                ProductFile.product_file_name,
                Product.id,
                ProductFile.checksum,
            )
            .join(ProductFile, ProductFile.product_id == Product.id)
            .where(
                ProductFile.processing_facility_id == facility.id,
                ProductFile.product_file_name.in_(names[start : start + _CHUNK]),
            )
        ):
            if (pc_id, name) in wanted:
                known[(pc_id, name)] = (product_id, checksum)
    report = IngestReport()
    fresh: list[tuple[StoredProductEntry, tuple[int, str]]] = []
    for entry, key in zip(entries, keys, strict=True):
        md5 = entry.files[0].md5
        if key in known:
            if known[key][1] != md5:
                raise ConflictError(
                    f"{entry.product_type} {key[1]} is already catalogued with other content "
                    f"(MD5 {known[key][1]}, batch {md5})",
                    field="file",
                    value=key[1],
                )
            report.outcomes.append(
                IngestOutcome(
                    entry.product_type,
                    key[1],
                    "already ingested",
                    known[key][0],
                    entry.files[0].size_bytes,
                )
            )
            continue
        known[key] = (-1, md5)
        fresh.append((entry, key))
    ids = allocate_ids(session, table_of(Product), len(fresh))
    now = utc_now()
    products: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    parameters: list[dict[str, Any]] = []
    for product_id, (entry, key) in zip(ids, fresh, strict=True):
        products.append(
            {
                "id": product_id,
                "uuid": uuid.uuid4(),
                "product_class_id": key[0],
                "sensing_start": entry.sensing_start,
                "sensing_stop": entry.sensing_stop,
                "generation_time": entry.generation_time,
                "file_class": entry.file_class,
                "mode": entry.mode,
                "product_quality": "NOMINAL",
                "ingested_by": user,
                "created_at": now,
            }
        )
        main = entry.files[0]
        files.append(
            {
                "product_id": product_id,
                "processing_facility_id": facility.id,
                "product_file_name": key[1],
                "auxiliary_file_names": [f.key.rsplit("/", 1)[-1] for f in entry.files[1:]],
                "file_path": main.key.rsplit("/", 1)[0] if "/" in main.key else "",
                "storage_type": storage.kind,
                "file_size_bytes": main.size_bytes,
                "checksum": main.md5,
                "checksum_time": now,
                "created_at": now,
            }
        )
        parameters.extend(
            {"product_id": product_id, "key": k, "parameter_type": "STRING", "value": v}
            for k, v in sorted(entry.parameters.items())
        )
        report.outcomes.append(
            IngestOutcome(entry.product_type, key[1], "ingested", product_id, main.size_bytes)
        )
    bulk_insert(session, table_of(Product), products)
    bulk_insert(session, table_of(ProductFile), files)
    bulk_insert(session, table_of(ProductParameter), parameters)
    report.woken = recheck_waiting_job_steps(
        session,
        changed_by="ingestor",
        arrivals=[
            Arrival(p["product_class_id"], p["sensing_start"], p["sensing_stop"], arrived_at=now)
            for p in products
        ],
    )
    count_ingested_on_commit(session, (entry.product_type for entry, _ in fresh))
    if fresh:
        announce(session, PRODUCTS)
    return report
