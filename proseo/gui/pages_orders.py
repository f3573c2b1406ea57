"""GUI pages of processing orders (list, creation from a form or a template, the order page
with its actions, live state, plan graph and preview) and of job steps (inputs, outputs, Job
Order File, log).

Every page needs a session and checks the role the REST API would check for the same
service call, in the object's mission; actions are POSTed forms with the session's CSRF
token, and the buttons of what a role may not do are not shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select

from orderman.orders import create_order, parse_order_spec
from orderman.registry import ORDER_COMMANDS
from orderman.scope import job_step_mission, order_mission
from orderman.service import run_command, run_plan
from orderman.templates import get_template, list_templates, order_spec
from orderman.views import job_step_view, order_jobs, order_page, order_view, plan_graph
from proseo.catalogue.views import list_product_classes
from proseo.enums import JobStepState, OrderState, StatefulEntity, UserRole
from proseo.errors import InvalidInputError, PermissionDeniedError, ProseoError
from proseo.gui.render import (
    parse_int,
    parse_time,
    redirect,
    render,
    shown_mission,
)
from proseo.gui.session import Form, User, WebUser
from proseo.model import JobStep
from proseo.model.history import StateHistory

router = APIRouter()

TERMINAL = {OrderState.CLOSED.value}
"""Order states whose page stops refreshing itself."""

JOBS_PAGE = 100
"""Jobs shown per page of an order."""

STEPS_PAGE = 200
"""Job steps shown per page of an order."""

ACTION_ORDER = [
    "approve",
    "plan",
    "release",
    "resume",
    "suspend",
    "retry",
    "cancel",
    "reset",
    "close",
    "delete",
]


# ---------------------------------------------------------------- orders


@router.get("/orders")
def orders(
    request: Request,
    user: User,
    mission: str | None = None,
    state: str | None = None,
    product_class: str | None = None,
    identifier: str | None = None,
    sensing_from: str | None = None,
    sensing_to: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    """Orders, newest first, filtered and paged by key (50 a page)."""
    shown = shown_mission(user, mission, UserRole.ORDER_READER)
    states = None
    if state:
        try:
            states = [OrderState(state)]
        except ValueError:
            raise InvalidInputError(
                "state", state, f"expected one of {', '.join(s.value for s in OrderState)}"
            ) from None
    with request.app.state.database.transaction() as session:
        rows = order_page(
            session,
            mission=shown,
            states=states,
            product_type=product_class or None,
            identifier=identifier or None,
            sensing_from=parse_time("sensing_from", sensing_from),
            sensing_to=parse_time("sensing_to", sensing_to),
            before_id=parse_int("before", before, minimum=1),
            limit=50,
        )
    filters = {
        "mission": mission or "",
        "state": state or "",
        "product_class": product_class or "",
        "identifier": identifier or "",
        "sensing_from": sensing_from or "",
        "sensing_to": sensing_to or "",
    }
    return render(
        request,
        "orders.html",
        user,
        rows=rows,
        filters=filters,
        states=[s.value for s in OrderState],
        next_before=rows[-1].id if len(rows) == 50 else None,
        mission=shown,
    )


def _order_form_context(request: Request, user: WebUser, mission: str | None) -> dict[str, Any]:
    with request.app.state.database.transaction() as session:
        classes = list_product_classes(session, mission)
        templates = [(t.mission.code, t.name, t.version) for t in list_templates(session, mission)]
    return {
        "classes": sorted({(c.mission, c.product_type) for c in classes}),
        "templates": templates,
        "mission": mission or "",
    }


@router.get("/orders/new")
def new_order_form(request: Request, user: User, mission: str | None = None) -> HTMLResponse:
    """The order creation form (a form of the main fields, or from an order template)."""
    shown = shown_mission(user, mission, UserRole.ORDER_MGR)
    return render(
        request,
        "order_new.html",
        user,
        values={"mission": shown or "", "slicing_type": "NONE"},
        error=None,
        **_order_form_context(request, user, shown),
    )


def _order_data(fields: dict[str, str]) -> dict[str, Any]:
    """The order document of the creation form's fields (empty fields left out, so the
    order's own defaults and validation apply)."""
    data: dict[str, Any] = {
        "mission": fields.get("mission", "").strip(),
        "identifier": fields.get("identifier", "").strip(),
        "requested_product_classes": [
            c.strip() for c in fields.get("requested_product_classes", "").split(",") if c.strip()
        ],
        "slicing_type": fields.get("slicing_type") or "NONE",
    }
    for name in ("start_time", "stop_time"):
        moment = parse_time(name, fields.get(name))
        if moment is not None:
            data[name] = moment
    for name in ("processing_mode", "file_class", "processing_facility"):
        if fields.get(name, "").strip():
            data[name] = fields[name].strip()
    for name in ("priority", "max_retries"):
        number = parse_int(name, fields.get(name))
        if number is not None:
            data[name] = number
    duration = fields.get("slice_duration_s", "").strip()
    if duration:
        try:
            data["slice_duration_s"] = float(duration)
        except ValueError:
            raise InvalidInputError("slice_duration_s", duration, "expected seconds") from None
    orbit_from = parse_int("orbit_from", fields.get("orbit_from"))
    orbit_to = parse_int("orbit_to", fields.get("orbit_to"))
    if orbit_from is not None or orbit_to is not None:
        data["orbits"] = [
            {
                "spacecraft": fields.get("spacecraft", "").strip(),
                "from": orbit_from if orbit_from is not None else orbit_to,
                "to": orbit_to if orbit_to is not None else orbit_from,
            }
        ]
    for flag in ("auto_release", "auto_close"):
        if fields.get(flag):
            data[flag] = True
    return data


@router.post("/orders/new", response_model=None)
def create_order_page(request: Request, user: User, form: Form) -> Response:
    """Create an order (INITIAL) from the form or a template; the form comes back with the
    error naming the field and value when the order is refused (nothing is stored)."""
    settings = request.app.state.settings
    template = form.get("template", "").strip()
    asked = template.partition("/")[0] if template else form.get("mission", "").strip()
    user.principal.require(UserRole.ORDER_MGR, asked or None)
    try:
        with request.app.state.database.transaction() as session:
            if template:
                mission, _, name = template.partition("/")
                user.principal.require(UserRole.ORDER_MGR, mission)
                data = _order_data({**form, "mission": mission})
                spec = order_spec(
                    get_template(session, mission, name),
                    data["identifier"],
                    start=data.get("start_time"),
                    stop=data.get("stop_time"),
                    orbits=parse_order_spec(
                        {
                            "mission": mission,
                            "identifier": "x",
                            "requested_product_classes": ["x"],
                            "orbits": data.get("orbits", []),
                        }
                    ).orbits,
                )
            else:
                spec = parse_order_spec(_order_data(form), "order form")
                user.principal.require(UserRole.ORDER_MGR, spec.mission)
            order = create_order(session, spec, user.username, settings.limits)
            session.flush()
            order_id = order.id
    except PermissionDeniedError:
        raise
    except ProseoError as error:
        return render(
            request,
            "order_new.html",
            user,
            status=422,
            values=form,
            error=error.message,
            **_order_form_context(request, user, form.get("mission") or None),
        )
    return redirect(f"/orders/{order_id}", f"order {order_id} created (INITIAL)")


def _order_context(
    request: Request,
    user: WebUser,
    order_id: int,
    *,
    details: bool = False,
    steps_from: int = 0,
    state: JobStepState | None = None,
) -> dict[str, Any]:
    """What the order page shows: the live part, and with ``details`` a page of job steps,
    of jobs, the plan graph and the history (one read transaction)."""
    extra: dict[str, Any] = {}
    with request.app.state.database.transaction() as session:
        mission = order_mission(session, order_id)
        user.principal.require(UserRole.ORDER_READER, mission)
        view = order_view(
            session, order_id, limit=STEPS_PAGE if details else 0, offset=steps_from, state=state
        )
        if details:
            extra["history"] = [
                (h.changed_at, h.from_state, h.to_state, h.changed_by, h.reason)
                for h in _history(session, order_id)
            ]
            extra["graph"] = plan_graph(session, order_id)
    total = sum(view.steps_by_state.values())
    finished = view.steps_by_state.get("COMPLETED", 0) + view.steps_by_state.get("CLOSED", 0)
    actions = [
        name
        for name in ACTION_ORDER
        if OrderState(view.state) in ORDER_COMMANDS[name].allowed
        and user.principal.may(ORDER_COMMANDS[name].role, mission)
    ]
    return {
        "order": view,
        "mission": mission,
        "total_steps": total,
        "finished_steps": finished,
        "percent": round(100 * finished / total) if total else 0,
        "actions": actions,
        "live": view.state not in TERMINAL,
        "steps": view.job_steps_detail,
        **extra,
    }


def _history(session: Any, order_id: int) -> list[Any]:
    return list(
        session.scalars(
            select(StateHistory)
            .where(
                StateHistory.entity_type == StatefulEntity.PROCESSING_ORDER,
                StateHistory.entity_id == order_id,
            )
            .order_by(StateHistory.id.desc())
            .limit(30)
        )
    )


@router.get("/orders/{order_id}")
def order_page_view(
    request: Request,
    user: User,
    order_id: int,
    step_state: str | None = None,
    steps_from: int = 0,
    jobs_from: int = 0,
) -> HTMLResponse:
    """An order: its state and progress (refreshing itself), actions, the plan's dependency
    graph, jobs and job steps (paged; job steps filtered by state), and its state history."""
    state = None
    if step_state:
        try:
            state = JobStepState(step_state)
        except ValueError:
            raise InvalidInputError(
                "step_state", step_state, f"expected one of {', '.join(JobStepState)}"
            ) from None
    if steps_from < 0 or jobs_from < 0:
        raise InvalidInputError("steps_from", min(steps_from, jobs_from), "must not be negative")
    context = _order_context(
        request, user, order_id, details=True, steps_from=steps_from, state=state
    )
    with request.app.state.database.transaction() as session:
        jobs = order_jobs(session, order_id, limit=JOBS_PAGE, offset=jobs_from)
    levels: dict[int, list[Any]] = {}
    for node in context.pop("graph"):
        levels.setdefault(node.level, []).append(node)
    return render(
        request,
        "order.html",
        user,
        jobs=jobs,
        levels=[levels[k] for k in sorted(levels)],
        step_state=step_state or "",
        step_states=[s.value for s in JobStepState],
        steps_from=steps_from,
        jobs_from=jobs_from,
        steps_page=STEPS_PAGE,
        jobs_page=JOBS_PAGE,
        **context,
    )


@router.get("/orders/{order_id}/live")
def order_live(request: Request, user: User, order_id: int) -> HTMLResponse:
    """The live part of the order page: state, progress, job steps by state, actions."""
    return render(request, "order_live.html", user, **_order_context(request, user, order_id))


@router.post("/orders/{order_id}/preview")
def order_preview(request: Request, user: User, _form: Form, order_id: int) -> HTMLResponse:
    """Plan the order as a dry run (nothing written) and show what planning would make."""
    database = request.app.state.database
    with database.transaction() as session:
        user.principal.require(UserRole.ORDER_PLANNER, order_mission(session, order_id))
    try:
        summary = run_plan(database, order_id, dry_run=True, user=user.username)
        error = None
    except ProseoError as failure:
        summary, error = None, failure.message
    return render(
        request, "plan_preview.html", user, summary=summary, error=error, order_id=order_id
    )


@router.post("/orders/{order_id}/action/{command}")
def order_action(
    request: Request, user: User, form: Form, order_id: int, command: str
) -> RedirectResponse:
    """Run an order command (the registry's: approve, plan, release, ...) as the user; the
    outcome or the refusal is shown on the order page."""
    spec = ORDER_COMMANDS.get(command)
    if spec is None:
        raise InvalidInputError(
            "command", command, f"expected one of {', '.join(sorted(ORDER_COMMANDS))}"
        )
    database = request.app.state.database
    with database.transaction() as session:
        user.principal.require(spec.role, order_mission(session, order_id))
    target = f"/orders/{order_id}"
    try:
        if spec.planning:
            summary = run_plan(database, order_id, user=user.username)
            message = f"planned: {summary.job_steps} job steps in {summary.jobs} jobs"
        else:
            order, _result = run_command(
                database, order_id, command, user=user.username, force=bool(form.get("force"))
            )
            if command == "delete":
                return redirect("/orders", f"order {order_id} ({order.identifier}) deleted")
            message = f"{command}: the order is {order.state.value}"
    except PermissionDeniedError:
        raise
    except ProseoError as error:
        message = f"{command} refused: {error.message}"
    return redirect(target, message)


# ---------------------------------------------------------------- job steps


@router.get("/jobsteps/{job_step_id}")
def job_step_page(request: Request, user: User, job_step_id: int) -> HTMLResponse:
    """A job step: inputs (which products satisfy each query, or that it waits), outputs,
    its Job Order File, the log tail."""
    with request.app.state.database.transaction() as session:
        mission = job_step_mission(session, job_step_id)
        user.principal.require(UserRole.ORDER_READER, mission)
        view = job_step_view(session, job_step_id)
        job_order = _job_order_text(session, job_step_id)
    tail = "\n".join((view.log or "").splitlines()[-200:])
    return render(
        request, "jobstep.html", user, step=view, tail=tail, job_order=job_order, mission=mission
    )


def _job_order_text(session: Any, job_step_id: int) -> str | None:
    """The step's Job Order File as the wrapper wrote it, when it is still readable."""
    step = session.get(JobStep, job_step_id)
    if step is None or not step.job_order_filename:
        return None
    path = Path(step.job_order_filename)
    try:
        if path.is_file() and path.stat().st_size < 1_000_000:
            return path.read_text(errors="replace")
    except OSError:
        return None
    return None


@router.get("/jobsteps/{job_step_id}/log")
def job_step_log(request: Request, user: User, job_step_id: int) -> PlainTextResponse:
    """The job step's whole stored log (stdout then stderr) as a text download."""
    with request.app.state.database.transaction() as session:
        user.principal.require(UserRole.ORDER_READER, job_step_mission(session, job_step_id))
        view = job_step_view(session, job_step_id)
    return PlainTextResponse(
        view.log or "",
        headers={"Content-Disposition": f'attachment; filename="jobstep-{job_step_id}.log"'},
    )
