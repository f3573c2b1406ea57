"""REST routes of systematic production: order templates and production triggers (the same
services as ``proseo template`` and ``proseo trigger``).

Reading needs ORDER_READER; templates are written by an ORDER_MGR. A trigger approves the
orders it will make, so making, enabling, disabling or deleting one needs ORDER_APPROVER.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from orderman.orders import OrderSettings
from orderman.templates import (
    NAME_PATTERN,
    TemplateSpec,
    create_template,
    delete_template,
    get_template,
    list_templates,
    template_view,
)
from orderman.triggers import (
    TriggerSpec,
    create_trigger,
    get_trigger,
    list_triggers,
    preview,
    set_enabled,
    trigger_view,
)
from proseo.api.auth import Requires
from proseo.api.deps import DbSession, MissionFilter
from proseo.enums import UserRole
from proseo.security.principal import Principal

router = APIRouter(tags=["systematic production"])

OrderReader = Annotated[Principal, Depends(Requires(UserRole.ORDER_READER))]
OrderManager = Annotated[Principal, Depends(Requires(UserRole.ORDER_MGR))]
OrderApprover = Annotated[Principal, Depends(Requires(UserRole.ORDER_APPROVER))]
MissionCode = Annotated[
    str,
    Path(min_length=1, max_length=20, pattern=r"^[^\x00-\x1f\x7f]+$", description="Mission code."),
]
Name = Annotated[str, Path(min_length=1, max_length=100, pattern=NAME_PATTERN)]


class TemplateView(BaseModel):
    """One version of an order template."""

    id: int
    mission: str
    name: str
    version: int
    description: str | None
    settings: dict[str, Any]
    created_by: str | None
    created_at: str


class OccurrenceView(BaseModel):
    """One occurrence of a trigger and the order it made."""

    key: str
    due_at: str
    window_start: str | None
    window_stop: str | None
    template_version: int | None
    order: str | None
    message: str | None


class TriggerView(BaseModel):
    """A production trigger (with its newest occurrences on its own page)."""

    id: int
    mission: str
    name: str
    kind: str
    template: str
    enabled: bool
    priority: int | None
    delay_s: int
    execution_delay_s: int
    catch_up: str
    settings: dict[str, Any]
    active_since: str
    created_by: str | None
    occurrences: int
    recent: list[OccurrenceView] = []


class PreviewEntry(BaseModel):
    """An order a trigger would make (``when``: pending now, or upcoming)."""

    key: str
    due_at: str
    when: str
    window: str
    source: str
    order: str | None = None
    template_version: int | None = None
    requested_product_classes: list[str] = []
    error: str | None = None


def _listed(user: Principal, mission: str | None) -> str | None:
    """The mission a listing shows: the one asked for (if the user may read its orders), else
    the user's own (ROOT: every mission)."""
    if mission is not None:
        user.require(UserRole.ORDER_READER, mission)
        return mission
    return None if user.is_root else user.mission


@router.get("/templates")
def get_templates(
    db: DbSession, user: OrderReader, mission: MissionFilter = None
) -> list[TemplateView]:
    """The newest version of every order template (of the user's mission; of any for ROOT)."""
    return [TemplateView(**template_view(t)) for t in list_templates(db, _listed(user, mission))]


@router.post("/templates", status_code=201)
def post_template(
    spec: TemplateSpec, request: Request, db: DbSession, user: OrderManager
) -> TemplateView:
    """Create an order template (version 1); it is validated as an order would be."""
    user.require(UserRole.ORDER_MGR, spec.mission)
    template = create_template(db, spec, user.username, request.app.state.settings.limits)
    return TemplateView(**template_view(template))


class TemplateVersion(OrderSettings):
    """The next version of an order template: its settings (and description)."""

    description: str | None = Field(default=None, max_length=2000)


@router.put("/templates/{mission}/{name}")
def put_template(
    mission: MissionCode,
    name: Name,
    settings: TemplateVersion,
    request: Request,
    db: DbSession,
    user: OrderManager,
) -> TemplateView:
    """Store the next version of an order template (the settings replace the old ones)."""
    user.require(UserRole.ORDER_MGR, mission)
    spec = TemplateSpec.model_validate(
        {**settings.model_dump(exclude_unset=True), "mission": mission, "name": name}
    )
    template = create_template(
        db, spec, user.username, request.app.state.settings.limits, new_version=True
    )
    return TemplateView(**template_view(template))


@router.get("/templates/{mission}/{name}")
def get_one_template(
    mission: MissionCode,
    name: Name,
    db: DbSession,
    user: OrderReader,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> TemplateView:
    """An order template: the newest version, or ``version``."""
    user.require(UserRole.ORDER_READER, mission)
    return TemplateView(**template_view(get_template(db, mission, name, version)))


@router.delete("/templates/{mission}/{name}")
def delete_one_template(
    mission: MissionCode, name: Name, db: DbSession, user: OrderManager
) -> dict[str, int]:
    """Delete every version of an order template (409 while a trigger uses it)."""
    user.require(UserRole.ORDER_MGR, mission)
    return {"deleted_versions": delete_template(db, mission, name)}


@router.get("/triggers")
def get_triggers(
    db: DbSession, user: OrderReader, mission: MissionFilter = None
) -> list[TriggerView]:
    """Production triggers (of the user's mission; of any for ROOT)."""
    mission = _listed(user, mission)
    return [TriggerView(**trigger_view(db, t)) for t in list_triggers(db, mission)]


@router.post("/triggers", status_code=201)
def post_trigger(spec: TriggerSpec, db: DbSession, user: OrderApprover) -> TriggerView:
    """Create a production trigger (it approves the orders it will make)."""
    user.require(UserRole.ORDER_APPROVER, spec.mission)
    trigger = create_trigger(db, spec, user.username)
    return TriggerView(**trigger_view(db, trigger))


@router.get("/triggers/{mission}/{name}")
def get_one_trigger(
    mission: MissionCode,
    name: Name,
    db: DbSession,
    user: OrderReader,
    recent: Annotated[int, Query(ge=0, le=1000)] = 10,
) -> TriggerView:
    """A trigger with its newest ``recent`` occurrences and the orders they made."""
    user.require(UserRole.ORDER_READER, mission)
    return TriggerView(**trigger_view(db, get_trigger(db, mission, name), occurrences=recent))


@router.get("/triggers/{mission}/{name}/preview")
def get_trigger_preview(
    mission: MissionCode,
    name: Name,
    db: DbSession,
    user: OrderReader,
    upcoming: Annotated[int, Query(alias="next", ge=0, le=1000)] = 0,
) -> list[PreviewEntry]:
    """The orders the trigger would make now and at its next ``next`` occurrences (writes
    nothing)."""
    user.require(UserRole.ORDER_READER, mission)
    entries = preview(db, get_trigger(db, mission, name), datetime.now(UTC), upcoming)
    return [PreviewEntry(**e) for e in entries]


def _switch(mission: str, name: str, db: Any, user: Principal, enabled: bool) -> TriggerView:
    user.require(UserRole.ORDER_APPROVER, mission)
    trigger = get_trigger(db, mission, name)
    set_enabled(db, trigger, enabled)
    db.flush()
    return TriggerView(**trigger_view(db, trigger))


@router.post("/triggers/{mission}/{name}/enable")
def post_trigger_enable(
    mission: MissionCode, name: Name, db: DbSession, user: OrderApprover
) -> TriggerView:
    """Enable a trigger (data-driven ones react to products arriving from now on)."""
    return _switch(mission, name, db, user, True)


@router.post("/triggers/{mission}/{name}/disable")
def post_trigger_disable(
    mission: MissionCode, name: Name, db: DbSession, user: OrderApprover
) -> TriggerView:
    """Disable a trigger."""
    return _switch(mission, name, db, user, False)


@router.delete("/triggers/{mission}/{name}")
def delete_one_trigger(
    mission: MissionCode, name: Name, db: DbSession, user: OrderApprover
) -> dict[str, str]:
    """Delete a trigger and its occurrence records (the orders it made stay)."""
    user.require(UserRole.ORDER_APPROVER, mission)
    db.delete(get_trigger(db, mission, name))
    return {"deleted": name}
