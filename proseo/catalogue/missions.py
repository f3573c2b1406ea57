"""Mission services: create, look up and list missions."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from proseo.errors import ConflictError, InvalidInputError, NotFoundError
from proseo.model import Mission

MISSION_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
MODE_OR_CLASS = re.compile(r"^[A-Z0-9_]{1,32}$")


class MissionSummary(BaseModel):
    """What listings show of a mission (CLI ``mission list`` and the REST API)."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    file_classes: list[str]
    processing_modes: list[str]
    spacecraft: list[str]
    product_classes: int


def _summary(mission: Mission) -> MissionSummary:
    return MissionSummary(
        code=mission.code,
        name=mission.name,
        file_classes=list(mission.file_classes),
        processing_modes=list(mission.processing_modes),
        spacecraft=[s.code for s in mission.spacecrafts],
        product_classes=len(mission.product_classes),
    )


def _check_codes(field: str, values: Sequence[str]) -> list[str]:
    for value in values:
        if not MODE_OR_CLASS.match(value):
            raise InvalidInputError(field, value, "expected 1-32 upper-case letters, digits or _")
    if len(set(values)) != len(values):
        raise InvalidInputError(field, list(values), "contains duplicates")
    return list(values)


def create_mission(
    session: Session,
    code: str,
    name: str,
    *,
    file_classes: Sequence[str] = (),
    processing_modes: Sequence[str] = (),
    product_file_template: str | None = None,
) -> Mission:
    """Create a mission.

    :param code: 1-20 upper-case letters, digits, ``_`` or ``-`` (e.g. ``S5P``).
    :raises InvalidInputError: for a malformed code, an empty name, or malformed file
        classes / processing modes (naming the field and value).
    :raises ConflictError: when a mission with this code exists.
    """
    if not MISSION_CODE.match(code):
        raise InvalidInputError(
            "mission code", code, "expected 1-20 upper-case letters, digits, '_' or '-'"
        )
    if not name.strip():
        raise InvalidInputError("mission name", name, "must not be empty")
    checked_file_classes = _check_codes("file class", file_classes)
    checked_modes = _check_codes("processing mode", processing_modes)
    if session.scalar(select(Mission.id).where(Mission.code == code)) is not None:
        raise ConflictError(f"mission code {code!r} already exists", field="code", value=code)
    mission = Mission(
        code=code,
        name=name.strip(),
        file_classes=checked_file_classes,
        processing_modes=checked_modes,
        product_file_template=product_file_template,
    )
    session.add(mission)
    session.flush()
    return mission


def get_mission(session: Session, code: str) -> Mission:
    """The mission with ``code``.

    :raises NotFoundError: naming the code when there is none.
    """
    mission = session.scalar(select(Mission).where(Mission.code == code))
    if mission is None:
        raise NotFoundError(f"no mission with code {code!r}", field="code", value=code)
    return mission


def list_missions(session: Session) -> list[MissionSummary]:
    """All missions, ordered by code."""
    missions = session.scalars(
        select(Mission)
        .options(selectinload(Mission.spacecrafts), selectinload(Mission.product_classes))
        .order_by(Mission.code)
    )
    return [_summary(m) for m in missions]
