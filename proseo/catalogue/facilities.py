"""Processing facilities in the catalogue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from proseo.model import ProcessingFacility

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
