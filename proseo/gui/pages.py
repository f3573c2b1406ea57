"""GUI pages of the daily work: login, logout and the dashboard (orders and processing
orders' pages: :mod:`proseo.gui.pages_orders`).

Every page needs a session (:func:`proseo.gui.session.web_user`) and checks the role the
REST API would check for the same service call, in the object's mission; actions are
POSTed forms with the session's CSRF token, and the buttons of what a role may not do are
not shown.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orderman.campaigns import list_campaigns
from orderman.monitoring import (
    facility_capacities,
    hourly_throughput,
    job_step_counts,
    order_counts,
    recent_failures,
    requeue_counts,
)
from orderman.triggers import list_triggers
from proseo.enums import OrderState, UserRole
from proseo.errors import (
    AuthenticationError,
)
from proseo.gui.render import (
    TEMPLATES,
    render,
    shown_mission,
)
from proseo.gui.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Form,
    User,
    log_in,
    log_out,
    new_login_csrf,
    safe_next,
)
from proseo.model.base import utc_now

router = APIRouter()

# ---------------------------------------------------------------- login


def _login_page(
    request: Request, next_path: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    token = new_login_csrf()
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"user": None, "flash": None, "next": next_path, "error": error, "csrf": token},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return _login_page(request, safe_next(next))


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the user name and password and open a session (cookie); back to the login form
    with the reason when refused."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    next_path = safe_next(fields.get("next"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or fields.get(CSRF_FIELD) != expected:
        return _login_page(request, next_path, "the login form expired: try again", 403)
    settings = request.app.state.settings
    try:
        secret = log_in(
            request.app.state.database,
            request,
            fields.get("username", ""),
            fields.get("password", ""),
        )
    except AuthenticationError as error:
        return _login_page(request, next_path, error.message, 401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="strict",
        secure=settings.security.web_secure_cookie,
        max_age=int(settings.security.web_session_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, _form: Form) -> RedirectResponse:
    """End the session (its token is revoked) and show the login form."""
    log_out(request.app.state.database, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---------------------------------------------------------------- dashboard


def _dashboard_counts(request: Request, mission: str | None) -> dict[str, Any]:
    with request.app.state.database.transaction() as session:
        orders: dict[str, dict[str, int]] = {}
        for code, state, count in order_counts(session, mission):
            orders.setdefault(code, {})[state] = count
        steps: dict[str, dict[str, int]] = {}
        for facility, state, count in job_step_counts(session, mission):
            steps.setdefault(facility, {})[state] = count
        requeued = {r.facility: r for r in requeue_counts(session, mission)}
        facilities = [
            {
                "name": name,
                "state": state,
                "capacity": most,
                "steps": steps.get(name, {}),
                "requeued": requeued.get(name),
            }
            for name, state, most in facility_capacities(session)
        ]
        failures = recent_failures(session, utc_now() - timedelta(hours=24), mission)
    return {
        "orders": orders,
        "order_columns": [
            s.value for s in OrderState if any(s.value in by for by in orders.values())
        ],
        "facilities": facilities,
        "failures": failures,
        "step_states": ["PLANNED", "WAITING_INPUT", "READY", "RUNNING", "FAILED"],
    }


@router.get("/")
def dashboard(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """The dashboard: orders and job steps by state, facility load against capacity, the
    failures of the last 24 hours, throughput plots, triggers and campaigns."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    now = utc_now()
    with request.app.state.database.transaction() as session:
        day = hourly_throughput(session, now - timedelta(hours=24), now, shown)
        week = hourly_throughput(session, now - timedelta(days=7), now, shown)
        triggers = list_triggers(session, shown)
        trigger_rows = [
            {"mission": t.mission.code, "name": t.name, "kind": t.kind.value, "enabled": t.enabled}
            for t in triggers
        ]
        campaigns = [
            {"mission": c.mission.code, "name": c.name, "state": c.state.value}
            for c in list_campaigns(session, shown)[:20]
        ]
    return render(
        request,
        "dashboard.html",
        user,
        mission=shown,
        plots={
            "day": _series(day, "%H:%M"),
            "week": _series(week, "%m-%d %H:00"),
        },
        triggers=trigger_rows,
        campaigns=campaigns,
        **_dashboard_counts(request, shown),
    )


def _series(points: list[Any], label: str) -> dict[str, list[Any]]:
    return {
        "labels": [p.hour.strftime(label) for p in points],
        "completed": [p.completed for p in points],
        "failed": [p.failed for p in points],
        "run_s": [p.mean_run_s for p in points],
    }


@router.get("/dashboard/live")
def dashboard_live(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """The live part of the dashboard (htmx refreshes it every few seconds)."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    return render(
        request,
        "dashboard_live.html",
        user,
        mission=shown,
        **_dashboard_counts(request, shown),
    )
