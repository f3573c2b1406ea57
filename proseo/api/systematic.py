"""REST routes of systematic production and reprocessing: order templates, production
triggers and campaigns (the same services as ``proseo template``, ``proseo trigger`` and
``proseo campaign``).

Reading needs ORDER_READER; templates are written by an ORDER_MGR. A trigger approves the
orders it will make, so making, enabling, disabling or deleting one needs ORDER_APPROVER.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from orderman.campaigns import (
    CAMPAIGN_COMMANDS,
    CampaignSpec,
    campaign_view,
    create_campaign,
    get_campaign,
    list_campaigns,
    run_campaign_command,
)
from orderman.campaigns import dry_run as campaign_dry_run
from orderman.orders import OrderSettings
from orderman.reprocess import affected_by_input, affected_by_processor, targeted_campaign
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
from proseo.api.auth import Requires, listed_mission
from proseo.api.deps import DbSession, MissionFilter
from proseo.api.orders import OrderManager, OrderReader
from proseo.enums import UserRole
from proseo.errors import InvalidInputError
from proseo.security.principal import Principal

router = APIRouter(tags=["systematic production"])

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


@router.get("/templates")
def get_templates(
    db: DbSession, user: OrderReader, mission: MissionFilter = None
) -> list[TemplateView]:
    """The newest version of every order template (of the user's mission; of any for ROOT)."""
    return [
        TemplateView(**template_view(t))
        for t in list_templates(db, listed_mission(user, mission, UserRole.ORDER_READER))
    ]


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
    mission = listed_mission(user, mission, UserRole.ORDER_READER)
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


# -- campaigns -------------------------------------------------------------------------------


class CampaignView(BaseModel):
    """A campaign and its progress (``batch_list`` on its own page)."""

    id: int
    mission: str
    name: str
    state: str
    state_message: str | None
    template: str | None
    template_version: int | None
    period: str | None
    orbits: str | None
    batch: str
    max_in_flight: int
    priority: int
    batches: int
    batches_ordered: int
    batches_done: int
    orders_by_state: dict[str, int]
    job_steps_planned: int
    job_steps_produced: int
    job_steps_failed: int
    job_steps_by_state: dict[str, int]
    percent_done: float
    job_steps_per_hour: float
    estimated_end: str | None
    created_by: str | None
    started_at: str | None
    finished_at: str | None
    batch_list: list[dict[str, Any]] = []


class CampaignDryRun(BaseModel):
    """What a campaign would make (nothing was written)."""

    batches: int
    orders: int
    jobs: int
    job_steps: int
    products_found: int
    products_in_production: int
    steps_per_class: dict[str, int]
    seconds: float


@router.get("/campaigns")
def get_campaigns(
    db: DbSession, user: OrderReader, mission: MissionFilter = None
) -> list[CampaignView]:
    """Reprocessing campaigns with their progress (of the user's mission; of any for ROOT)."""
    return [
        CampaignView(**campaign_view(db, c))
        for c in list_campaigns(db, listed_mission(user, mission, UserRole.ORDER_READER))
    ]


@router.post("/campaigns", status_code=201)
def post_campaign(
    spec: CampaignSpec,
    request: Request,
    db: DbSession,
    user: OrderManager,
    dry_run: bool = False,
) -> CampaignView | CampaignDryRun:
    """Create a campaign (state CREATED), or with ``dry_run`` plan every batch and say what it
    would make (writes nothing)."""
    user.require(UserRole.ORDER_MGR, spec.mission)
    limits = request.app.state.settings.limits
    if dry_run:
        result = campaign_dry_run(request.app.state.database, spec, limits)
        return CampaignDryRun(
            batches=result.batches,
            orders=result.orders,
            jobs=result.jobs,
            job_steps=result.job_steps,
            products_found=result.products_found,
            products_in_production=result.products_in_production,
            steps_per_class=dict(result.steps_per_class),
            seconds=round(result.seconds, 3),
        )
    campaign = create_campaign(db, spec, user.username, limits)
    return CampaignView(**campaign_view(db, campaign))


@router.get("/campaigns/{mission}/{name}")
def get_one_campaign(
    mission: MissionCode, name: Name, db: DbSession, user: OrderReader, batches: bool = False
) -> CampaignView:
    """A campaign: state, progress, throughput, estimated end (and its batches)."""
    user.require(UserRole.ORDER_READER, mission)
    return CampaignView(**campaign_view(db, get_campaign(db, mission, name), batches=batches))


CAMPAIGN_ROLES = {
    "start": UserRole.ORDER_APPROVER,
    "pause": UserRole.ORDER_PLANNER,
    "resume": UserRole.ORDER_PLANNER,
    "cancel": UserRole.ORDER_PLANNER,
    "retry": UserRole.ORDER_PLANNER,
}
"""The role each campaign command needs (start approves every order it will make)."""


def _campaign_command_route(command: str) -> None:
    role = CAMPAIGN_ROLES[command]
    role_user = Annotated[Principal, Depends(Requires(role))]

    def post_campaign_command(
        mission: MissionCode, name: Name, request: Request, user: role_user
    ) -> CampaignView:
        user.require(role, mission)
        run_campaign_command(request.app.state.database, mission, name, command, user.username)
        with request.app.state.database.transaction() as session:
            return CampaignView(**campaign_view(session, get_campaign(session, mission, name)))

    post_campaign_command.__annotations__["user"] = role_user
    post_campaign_command.__doc__ = (
        f"{CAMPAIGN_COMMANDS[command].__doc__ or command} Needs {role.value}; 409 names the "
        "states that allow it."
    )
    router.add_api_route(
        f"/campaigns/{{mission}}/{{name}}/{command}",
        post_campaign_command,
        methods=["POST"],
        name=f"campaign_{command}",
        summary=f"Campaign {command}",
    )


for _command in CAMPAIGN_ROLES:
    _campaign_command_route(_command)


# -- targeted reprocessing -------------------------------------------------------------------


class ReprocessRequest(BaseModel):
    """What was replaced (exactly one of ``after_aux``, a product id, and
    ``after_processor``, a configured processor), and the campaign to make."""

    model_config = ConfigDict(extra="forbid")

    mission: str = Field(min_length=1, max_length=20, pattern=r"^[^\x00-\x1f\x7f]+$")
    after_aux: int | None = Field(default=None, ge=1, le=2**63 - 1)
    after_processor: str | None = Field(default=None, min_length=1, max_length=255)
    campaign: str | None = Field(default=None, min_length=1, max_length=100, pattern=NAME_PATTERN)
    facility: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int = Field(default=20, ge=0, le=1000)
    max_in_flight: int = Field(default=1000, ge=1, le=10_000_000)


class ReprocessResult(BaseModel):
    """The difference, and the campaign made (``None`` for a dry run)."""

    reason: str
    replaced: list[int]
    products: int
    windows: int
    by_class: dict[str, int]
    campaign: str | None
    batches: int


@router.post("/reprocess")
def post_reprocess(
    body: ReprocessRequest, db: DbSession, user: OrderManager, dry_run: bool = False
) -> ReprocessResult:
    """Targeted reprocessing: the products whose lineage used the replaced input or
    processor; unless ``dry_run``, they are marked superseded and a campaign (state CREATED)
    is made to make them again. 422 when it is not exactly one of the two, or nothing is
    affected."""
    user.require(UserRole.ORDER_MGR, body.mission)
    if (body.after_aux is None) == (body.after_processor is None):
        raise InvalidInputError("after_aux/after_processor", None, "give exactly one of the two")
    if body.after_aux is not None:
        affected = affected_by_input(db, body.after_aux)
    else:
        affected = affected_by_processor(db, body.after_processor or "")
    name, batches = None, 0
    if not dry_run:
        name = body.campaign or f"REPROCESS-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        campaign = targeted_campaign(
            db, body.mission, name, affected, user.username, facility=body.facility,
            priority=body.priority, max_in_flight=body.max_in_flight,
            processor=body.after_processor,
        )  # fmt: skip
        batches = len(campaign.batches)
    return ReprocessResult(
        reason=affected.reason,
        replaced=affected.replaced,
        products=len(affected.products),
        windows=affected.windows(),
        by_class=affected.by_class(),
        campaign=name,
        batches=batches,
    )
