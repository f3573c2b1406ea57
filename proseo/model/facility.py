"""Processing facilities: where job steps run and product files live."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proseo.enums import FacilityState, StorageType
from proseo.model.base import Base, pk


class ProcessingFacility(Base):
    """A processing facility.

    ``executor_kind`` names an executor plug-in (``local``, ``slurm``, ``kubernetes``, ...)
    configured by ``executor_settings``; ``storage_type`` with ``storage_settings`` says where
    its product files live; ``max_job_steps`` is its capacity (job steps running at once).
    """

    __tablename__ = "processing_facility"

    id: Mapped[int] = pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[FacilityState] = mapped_column(default=FacilityState.RUNNING)
    executor_kind: Mapped[str] = mapped_column(String(50), default="local")
    executor_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_type: Mapped[StorageType] = mapped_column(default=StorageType.POSIX)
    storage_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_job_steps: Mapped[int] = mapped_column(default=4)
