"""Processing facilities in the catalogue."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from proseo.config import Settings
from proseo.db import Database
from proseo.errors import InvalidInputError
from proseo.model import ProcessingFacility
from proseo.secrets import masked
from proseo.storage import Storage
from proseo.storage.factory import facility_storage_settings, open_storage

DEFAULT_FACILITY = "localhost"


def default_facility(session: Session) -> ProcessingFacility:
    """The embedded default facility ``localhost`` (local executor, POSIX storage), created
    on first use."""
    facility = session.scalar(
        select(ProcessingFacility).where(ProcessingFacility.name == DEFAULT_FACILITY)
    )
    if facility is None:
        facility = ProcessingFacility(
            name=DEFAULT_FACILITY,
            description="This machine: local processes, POSIX storage under the data directory",
        )
        session.add(facility)
        session.flush()
    return facility


def get_facility(
    session: Session, name: str | None, field: str = "processing_facility"
) -> ProcessingFacility:
    """The facility called ``name``, or the default facility when ``name`` is None.

    :raises InvalidInputError: naming ``field`` and the name when there is no such facility.
    """
    if name is None:
        return default_facility(session)
    facility = session.scalar(select(ProcessingFacility).where(ProcessingFacility.name == name))
    if facility is None:
        raise InvalidInputError(field, name, "no such processing facility")
    return facility


def storage_of_facility(database: Database, settings: Settings, name: str | None = None) -> Storage:
    """The storage of facility ``name`` (default: the embedded facility), from its storage
    settings or the process's default storage.

    :raises InvalidInputError: when there is no such facility.
    """
    with database.transaction() as session:
        described = facility_storage_settings(get_facility(session, name, "facility"), settings)
    return open_storage(described)


class FacilityRow(BaseModel):
    """One processing facility as shown to operators (secret settings masked)."""

    name: str
    state: str
    executor: str
    executor_settings: dict[str, Any]
    storage: str
    storage_settings: dict[str, Any]
    max_job_steps: int


def facility_row(facility: ProcessingFacility) -> FacilityRow:
    """``facility`` for output: its secret settings masked (:func:`proseo.secrets.masked`)."""
    return FacilityRow(
        name=facility.name,
        state=facility.state.value,
        executor=facility.executor_kind,
        executor_settings=masked(facility.executor_settings or {}),
        storage=facility.storage_type.value,
        storage_settings=masked(facility.storage_settings or {}),
        max_job_steps=facility.max_job_steps,
    )


def list_facilities(session: Session) -> list[FacilityRow]:
    """Every facility by name (the embedded default created on first use)."""
    default_facility(session)
    return [
        facility_row(f)
        for f in session.scalars(select(ProcessingFacility).order_by(ProcessingFacility.name))
    ]
