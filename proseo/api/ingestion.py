"""REST routes of ingestion: one product with its files, or a bulk batch already in storage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from ingestor.batch import StoredProductEntry, catalogue_stored_products
from ingestor.service import IngestItem, IngestOutcome, ingest, metadata_from_json
from proseo.api.auth import Requires
from proseo.api.deps import database
from proseo.catalogue.facilities import default_facility, storage_of_facility
from proseo.enums import UserRole
from proseo.errors import PermissionDeniedError, UploadTooLarge
from proseo.security.principal import Principal
from proseo.storage import Storage, check_name

router = APIRouter(tags=["ingestion"])

Ingestor = Annotated[Principal, Depends(Requires(UserRole.PRODUCT_INGESTOR))]


class BatchRequest(BaseModel):
    """A bulk batch of products whose files are already in storage."""

    entries: list[StoredProductEntry] = Field(min_length=1, max_length=100_000)
    verify: bool = True


class IngestResponse(BaseModel):
    """Per product what happened, and how many waiting job steps became READY."""

    ingested: int
    already_ingested: int
    woken: int
    products: list[dict[str, object]]


def _storage(request: Request) -> Storage:
    return storage_of_facility(request.app.state.database, request.app.state.settings)


def _response(outcomes: list[IngestOutcome], woken: int) -> IngestResponse:
    ingested = sum(1 for o in outcomes if o.status == "ingested")
    return IngestResponse(
        ingested=ingested,
        already_ingested=len(outcomes) - ingested,
        woken=woken,
        products=[vars(o) for o in outcomes],
    )


@router.post("/ingest/batch")
def post_batch(batch: BatchRequest, request: Request, user: Ingestor) -> IngestResponse:
    """Catalogue a batch of stored products: all of it or nothing. Without verification
    (``verify: false``) only for PRODUCT_GENERATOR (prosEO's rule: a processor's own
    outputs)."""
    for mission in sorted({entry.mission for entry in batch.entries}):
        user.require(UserRole.PRODUCT_INGESTOR, mission)
        if not batch.verify and not user.may(UserRole.PRODUCT_GENERATOR, mission):
            raise PermissionDeniedError(
                f"PRODUCT_GENERATOR in mission {mission} is needed to catalogue files "
                "without verification",
                role=UserRole.PRODUCT_GENERATOR.value,
                mission=mission,
                user=user.username,
            )
    with database(request).transaction() as session:
        report = catalogue_stored_products(
            session,
            _storage(request),
            default_facility(session),
            batch.entries,
            verify=batch.verify,
            user=user.username,
        )
    return _response(report.outcomes, report.woken)


@router.post("/ingest/{mission}")
def post_product(
    mission: str,
    request: Request,
    user: Ingestor,
    metadata: Annotated[str, Form(description="JSON: product_type, sensing_start, ...")],
    files: Annotated[list[UploadFile], File(description="Main file first")],
) -> IngestResponse:
    """Ingest one product with its files (multipart upload; each file at most
    ``security.max_upload_bytes``, else 413)."""
    user.require(UserRole.PRODUCT_INGESTOR, mission)
    limit = request.app.state.settings.security.max_upload_bytes
    meta = metadata_from_json(metadata)
    with tempfile.TemporaryDirectory(prefix="proseo-upload-") as folder:
        paths = []
        for upload in files:
            name = check_name(upload.filename or "", "uploaded file name")
            path = Path(folder) / name
            if upload.size is not None and upload.size > limit:
                raise UploadTooLarge(name, upload.size, limit)
            written = 0
            with path.open("wb") as out:
                while block := upload.file.read(1024 * 1024):
                    written += len(block)
                    if written > limit:
                        raise UploadTooLarge(name, written, limit)
                    out.write(block)
            paths.append(path)
        report = ingest(
            database(request),
            _storage(request),
            [IngestItem(mission, meta, paths)],
            user=user.username,
        )
    return _response(report.outcomes, report.woken)
