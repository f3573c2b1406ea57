"""Order templates: named, versioned order settings of a mission, from which triggers (and
operators) make orders.

A template holds everything a processing order has except its identifier and its time
window or orbits (:class:`TemplateSpec`: the fields of :class:`~orderman.orders.OrderSettings`
plus mission, name and description). It is validated as an order is, against the catalogue
(with a sample window), so that a trigger never fires into a template that cannot make an
order. Updating a template stores a new version; the older ones stay for the record, and the
occurrences of triggers name the version they used.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderman.orders import OrbitRange, OrderSettings, OrderSpec, build_order
from proseo.catalogue.missions import get_mission
from proseo.config import LimitSettings
from proseo.errors import ConflictError, NotFoundError
from proseo.model import Mission
from proseo.model.systematic import OrderTemplate, ProductionTrigger
from proseo.validation import load_input, validate_input

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Template and trigger names: letters, digits, ``_``, ``.`` and ``-`` (they become part of
order identifiers)."""

SAMPLE_START = datetime(2000, 1, 1, tzinfo=UTC)
"""The sample window a template is validated with (its first second)."""


class TemplateSpec(OrderSettings):
    """An order template as an operator writes it (YAML/JSON or the API)."""

    mission: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=2000)

    def settings(self) -> dict[str, Any]:
        """The stored form: the order settings as JSON data (only those given)."""
        data = self.model_dump(mode="json", exclude_unset=True)
        for key in ("mission", "name", "description"):
            data.pop(key, None)
        return data


def parse_template_spec(data: Any, source: str = "template") -> TemplateSpec:
    """Validate plain data as a :class:`TemplateSpec`.

    :raises InvalidInputError: naming the field path and value."""
    return validate_input(TemplateSpec, data, source)


def load_template_spec(path: Path) -> TemplateSpec:
    """Read a template from a YAML or JSON file.

    :raises InvalidInputError: naming the file or the field."""
    return load_input(TemplateSpec, path, "template file")


def order_spec(
    template: OrderTemplate,
    identifier: str,
    *,
    start: datetime | None = None,
    stop: datetime | None = None,
    orbits: list[OrbitRange] | None = None,
    overrides: dict[str, Any] | None = None,
) -> OrderSpec:
    """The order the template makes for a window (UTC) or orbits, with ``overrides`` (order
    fields, e.g. priority or dynamic processing parameters merged by the caller).

    :raises InvalidInputError: naming the field when the result is not a valid order."""
    data: dict[str, Any] = {
        **template.settings,
        **(overrides or {}),
        "mission": template.mission.code,
        "identifier": identifier,
    }
    if start is not None and stop is not None:
        data["start_time"] = start
        data["stop_time"] = stop
    if orbits:
        data["orbits"] = [o.model_dump(by_alias=True) for o in orbits]
    return validate_input(OrderSpec, data, f"template {template.name} v{template.version}")


def validate_template(session: Session, spec: TemplateSpec, limits: LimitSettings) -> None:
    """Check the template as an order would be checked (classes, processors, file class,
    mode, facility, filters), over a one-second sample window; nothing is stored.

    :raises InvalidInputError: naming the field and value that is wrong."""
    data = spec.model_dump(mode="json", exclude_unset=True)
    for key in ("name", "description"):
        data.pop(key, None)
    sample = OrderSpec.model_validate(
        {
            **data,
            "identifier": f"template-{spec.name}",
            "start_time": SAMPLE_START,
            "stop_time": SAMPLE_START + timedelta(seconds=1),
        }
    )
    order = build_order(session, sample, None, limits, check_identifier=False)
    if order in session:
        session.expunge(order)


def create_template(
    session: Session,
    spec: TemplateSpec,
    user: str | None,
    limits: LimitSettings | None = None,
    *,
    new_version: bool = False,
) -> OrderTemplate:
    """Store ``spec`` as version 1 of a new template, or (``new_version``) as the next
    version of an existing one.

    :raises ConflictError: when the template exists and ``new_version`` is not given.
    :raises NotFoundError: for ``new_version`` of a template that does not exist, or an
        unknown mission.
    :raises InvalidInputError: when the settings would not make a valid order."""
    mission = get_mission(session, spec.mission)
    latest = session.scalar(
        select(func.max(OrderTemplate.version)).where(
            OrderTemplate.mission_id == mission.id, OrderTemplate.name == spec.name
        )
    )
    if latest is not None and not new_version:
        raise ConflictError(
            f"mission {mission.code} already has an order template {spec.name!r} (version "
            f"{latest}); update it to make version {latest + 1}",
            field="name",
            value=spec.name,
        )
    if latest is None and new_version:
        raise NotFoundError(f"mission {mission.code} has no order template {spec.name!r}")
    validate_template(session, spec, limits or LimitSettings())
    template = OrderTemplate(
        mission=mission,
        name=spec.name,
        version=(latest or 0) + 1,
        description=spec.description,
        settings=spec.settings(),
        created_by=user,
    )
    session.add(template)
    session.flush()
    return template


def get_template(
    session: Session, mission: Mission | str, name: str, version: int | None = None
) -> OrderTemplate:
    """A template of a mission: the given version, else the newest.

    :raises NotFoundError: naming the mission, template and version."""
    mission_row = mission if isinstance(mission, Mission) else get_mission(session, mission)
    query = select(OrderTemplate).where(
        OrderTemplate.mission_id == mission_row.id, OrderTemplate.name == name
    )
    if version is not None:
        query = query.where(OrderTemplate.version == version)
    template = session.scalar(query.order_by(OrderTemplate.version.desc()).limit(1))
    if template is None:
        what = f"order template {name!r}" + (f" version {version}" if version else "")
        raise NotFoundError(f"mission {mission_row.code} has no {what}")
    return template


def list_templates(session: Session, mission: str | None = None) -> list[OrderTemplate]:
    """The newest version of every template (of one mission, or all), by mission and name."""
    newest = (
        select(OrderTemplate.mission_id, OrderTemplate.name, func.max(OrderTemplate.version))
        .group_by(OrderTemplate.mission_id, OrderTemplate.name)
        .subquery()
    )
    query = select(OrderTemplate).join(
        newest,
        (OrderTemplate.mission_id == newest.c[0])
        & (OrderTemplate.name == newest.c[1])
        & (OrderTemplate.version == newest.c[2]),
    )
    if mission is not None:
        query = query.where(OrderTemplate.mission_id == get_mission(session, mission).id)
    return list(session.scalars(query.order_by(OrderTemplate.mission_id, OrderTemplate.name)))


def delete_template(session: Session, mission: str, name: str) -> int:
    """Delete every version of a template.

    :returns: how many versions were deleted.
    :raises ConflictError: while a trigger uses it (delete or re-point the trigger first).
    :raises NotFoundError: for an unknown template."""
    template = get_template(session, mission, name)
    users = session.scalars(
        select(ProductionTrigger.name).where(
            ProductionTrigger.mission_id == template.mission_id,
            ProductionTrigger.template_name == name,
        )
    ).all()
    if users:
        raise ConflictError(
            f"order template {name!r} is used by trigger(s) {', '.join(sorted(users))}",
            field="name",
            value=name,
        )
    versions = session.scalars(
        select(OrderTemplate).where(
            OrderTemplate.mission_id == template.mission_id, OrderTemplate.name == name
        )
    ).all()
    for version in versions:
        session.delete(version)
    session.flush()
    return len(versions)


def template_view(template: OrderTemplate) -> dict[str, Any]:
    """A template as JSON data (CLI ``--json`` and the API)."""
    return {
        "id": template.id,
        "mission": template.mission.code,
        "name": template.name,
        "version": template.version,
        "description": template.description,
        "settings": template.settings,
        "created_by": template.created_by,
        "created_at": template.created_at.isoformat(),
    }
