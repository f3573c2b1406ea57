"""REST routes of ingestion: one product with its files, or a bulk batch already in storage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ingestor.batch import StoredProductEntry, catalogue_stored_products
from ingestor.service import IngestItem, IngestOutcome, ingest, metadata_from_json
from proseo.api.auth import Requires
from proseo.api.deps import database
from proseo.api.uploads import receive_multipart
from proseo.catalogue.facilities import default_facility, storage_of_facility
from proseo.enums import UserRole
from proseo.errors import InvalidInputError, PermissionDeniedError
from proseo.security.principal import Principal
from proseo.storage import Storage

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


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata", "files"],
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "description": "JSON: product_type, sensing_start, sensing_stop, "
                            "generation_time, spacecraft, orbit_number, file_class, mode, "
                            "parameters",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Main file first",
                        },
                    },
                }
            }
        },
    }
}


@router.post("/ingest/{mission}", openapi_extra=_UPLOAD_BODY)
async def post_product(mission: str, request: Request, user: Ingestor) -> IngestResponse:
    """Ingest one product with its files (multipart upload). Each file is written once, as
    it arrives, into a private temporary folder and refused with 413 as soon as it passes
    ``security.max_upload_bytes``; nothing is kept of a refused upload."""
    user.require(UserRole.PRODUCT_INGESTOR, mission)
    limit = request.app.state.settings.security.max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="proseo-upload-") as folder:
        upload = await receive_multipart(
            request.headers.get("content-type", ""), request.stream(), Path(folder), limit
        )
        if "metadata" not in upload.fields:
            raise InvalidInputError("metadata", None, "the form field is missing")
        paths = upload.files.get("files", [])
        if not paths:
            raise InvalidInputError("files", None, "no file was uploaded")
        meta = metadata_from_json(upload.fields["metadata"])
        report = await run_in_threadpool(
            ingest,
            database(request),
            _storage(request),
            [IngestItem(mission, meta, paths)],
            user=user.username,
        )
    return _response(report.outcomes, report.woken)
