"""GUI pages of the configuration: missions, product classes with their selection rules,
processors, processing facilities (secrets masked), order templates, production triggers
(enable, disable, preview), reprocessing campaigns (progress, pause, resume, ...) and
users."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from orderman.campaigns import (
    campaign_view,
    get_campaign,
    list_campaigns,
    run_campaign_command,
)
from orderman.templates import list_templates, template_view
from orderman.triggers import get_trigger, list_triggers, preview, set_enabled, trigger_view
from proseo.api.systematic import CAMPAIGN_ROLES
from proseo.catalogue.facilities import list_facilities
from proseo.catalogue.missions import list_missions
from proseo.catalogue.views import (
    list_processors,
    list_product_classes,
    mission_view,
    product_class_view,
)
from proseo.enums import UserRole
from proseo.errors import InvalidInputError, PermissionDeniedError, ProseoError
from proseo.gui.render import redirect, render, shown_mission
from proseo.gui.session import Form, User
from proseo.model.base import utc_now
from proseo.security.accounts import list_users

router = APIRouter()


@router.get("/missions")
def missions(request: Request, user: User) -> HTMLResponse:
    """The missions the user may read."""
    with request.app.state.database.transaction() as session:
        rows = [
            m for m in list_missions(session) if user.principal.may(UserRole.MISSION_READER, m.code)
        ]
    return render(request, "missions.html", user, rows=rows)


@router.get("/missions/{code}")
def mission_page(request: Request, user: User, code: str) -> HTMLResponse:
    """A mission with its spacecraft and orbits, and its product classes."""
    user.principal.require(UserRole.MISSION_READER, code)
    with request.app.state.database.transaction() as session:
        view = mission_view(session, code)
        classes = list_product_classes(session, code)
    return render(request, "mission.html", user, mission=view, classes=classes)


@router.get("/missions/{code}/classes/{product_type}")
def product_class_page(request: Request, user: User, code: str, product_type: str) -> HTMLResponse:
    """A product class with its selection rules."""
    user.principal.require(UserRole.MISSION_READER, code)
    with request.app.state.database.transaction() as session:
        view = product_class_view(session, code, product_type)
    return render(request, "product_class.html", user, pc=view, mission=code)


@router.get("/processors")
def processors(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """Processor versions with their tasks and configured processors."""
    shown = shown_mission(user, mission, UserRole.PROCESSOR_READER)
    with request.app.state.database.transaction() as session:
        rows = list_processors(session, shown)
    return render(request, "processors.html", user, rows=rows, mission=shown)


@router.get("/facilities")
def facilities(request: Request, user: User) -> HTMLResponse:
    """Processing facilities: executor, storage (secret settings masked), capacity, state."""
    user.principal.require(UserRole.FACILITY_READER)
    with request.app.state.database.transaction() as session:
        rows = list_facilities(session)
    return render(request, "facilities.html", user, rows=rows)


@router.get("/templates")
def templates(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """Order templates (newest version of each)."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    with request.app.state.database.transaction() as session:
        rows = [template_view(t) for t in list_templates(session, shown)]
    return render(request, "templates.html", user, rows=rows, mission=shown)


@router.get("/triggers")
def triggers(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """Production triggers with their switches."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    with request.app.state.database.transaction() as session:
        rows = [trigger_view(session, t) for t in list_triggers(session, shown)]
    return render(request, "triggers.html", user, rows=rows, mission=shown)


@router.get("/triggers/{mission}/{name}")
def trigger_page(request: Request, user: User, mission: str, name: str) -> HTMLResponse:
    """A trigger: settings, recent occurrences and the orders it would make next."""
    user.principal.require(UserRole.ORDER_READER, mission)
    with request.app.state.database.transaction() as session:
        trigger = get_trigger(session, mission, name)
        view = trigger_view(session, trigger, occurrences=20)
        try:
            upcoming = preview(session, trigger, utc_now(), 5)
            preview_error = None
        except ProseoError as error:
            upcoming, preview_error = [], error.message
    return render(
        request,
        "trigger.html",
        user,
        trigger=view,
        upcoming=upcoming,
        preview_error=preview_error,
        mission=mission,
    )


@router.post("/triggers/{mission}/{name}/{switch}")
def trigger_switch(
    request: Request, user: User, _form: Form, mission: str, name: str, switch: str
) -> RedirectResponse:
    """Enable or disable a trigger (ORDER_APPROVER: a trigger approves its orders)."""
    if switch not in ("enable", "disable"):
        raise InvalidInputError("switch", switch, "expected enable or disable")
    user.principal.require(UserRole.ORDER_APPROVER, mission)
    with request.app.state.database.transaction() as session:
        set_enabled(session, get_trigger(session, mission, name), switch == "enable")
    return redirect(f"/triggers/{mission}/{name}", f"trigger {name} {switch}d")


@router.get("/campaigns")
def campaigns(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """Reprocessing campaigns, newest first."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    with request.app.state.database.transaction() as session:
        rows = [
            {
                "mission": c.mission.code,
                "name": c.name,
                "state": c.state.value,
                "batch": f"{c.batch_size} {c.batch_unit}",
                "max_in_flight": c.max_in_flight,
            }
            for c in list_campaigns(session, shown)
        ]
    return render(request, "campaigns.html", user, rows=rows, mission=shown)


@router.get("/campaigns/{mission}/{name}")
def campaign_page(request: Request, user: User, mission: str, name: str) -> HTMLResponse:
    """A campaign: progress, throughput, estimated end, batches and its commands."""
    user.principal.require(UserRole.ORDER_READER, mission)
    with request.app.state.database.transaction() as session:
        view = campaign_view(session, get_campaign(session, mission, name), batches=True)
    commands = [c for c, role in CAMPAIGN_ROLES.items() if user.principal.may(role, mission)]
    return render(request, "campaign.html", user, campaign=view, commands=commands, mission=mission)


@router.post("/campaigns/{mission}/{name}/{command}")
def campaign_command(
    request: Request, user: User, _form: Form, mission: str, name: str, command: str
) -> RedirectResponse:
    """Run a campaign command (start, pause, resume, cancel, retry) with its role."""
    role = CAMPAIGN_ROLES.get(command)
    if role is None:
        raise InvalidInputError(
            "campaign command", command, f"expected one of {', '.join(CAMPAIGN_ROLES)}"
        )
    user.principal.require(role, mission)
    try:
        state, _ = run_campaign_command(
            request.app.state.database, mission, name, command, user.username
        )
        message = f"campaign {name}: {command} done, now {state.value}"
    except PermissionDeniedError:
        raise
    except ProseoError as error:
        message = f"{command} refused: {error.message}"
    return redirect(f"/campaigns/{mission}/{name}", message)


@router.get("/users")
def users(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """Users with their roles and groups (user managers only)."""
    shown = shown_mission(user, mission, UserRole.USERMGR)
    with request.app.state.database.transaction() as session:
        rows = list_users(session, shown)
    return render(request, "users.html", user, rows=rows, mission=shown)
