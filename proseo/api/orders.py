"""REST routes of processing orders and job steps (the same services as the CLI)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from orderman.orders import OrderSpec, create_order
from orderman.registry import ORDER_COMMANDS, RUNNABLE
from orderman.scope import job_step_mission, order_mission
from orderman.service import run_command, run_plan
from orderman.views import (
    JobRow,
    JobStepView,
    OrderProductRow,
    OrderRow,
    OrderView,
    job_step_view,
    list_orders,
    order_jobs,
    order_products,
    order_view,
)
from proseo.api.auth import Requires, listed_mission
from proseo.api.deps import DbSession, MissionFilter, ObjectId, database
from proseo.enums import UserRole
from proseo.security.principal import Principal

router = APIRouter(tags=["orders"])

OrderReader = Annotated[Principal, Depends(Requires(UserRole.ORDER_READER))]
OrderManager = Annotated[Principal, Depends(Requires(UserRole.ORDER_MGR))]
OrderPlanner = Annotated[Principal, Depends(Requires(UserRole.ORDER_PLANNER))]


def _in_mission(request: Request, order_id: int, user: Principal, role: UserRole) -> None:
    with database(request).transaction() as session:
        user.require(role, order_mission(session, order_id))


class CommandResult(BaseModel):
    """The outcome of an order command."""

    id: int
    identifier: str
    state: str | None
    result: Any = None


class PlanResult(BaseModel):
    """The outcome of planning (or of a dry run)."""

    id: int
    dry_run: bool
    jobs: int
    job_steps: int
    steps_per_class: dict[str, int]
    product_queries: int
    unsatisfied_queries: int
    skipped_existing: int
    in_production: int
    producers: list[str]
    seconds: float


@router.post("/orders", status_code=201)
def post_order(spec: OrderSpec, request: Request, db: DbSession, user: OrderManager) -> OrderRow:
    """Create an order (state INITIAL) created by the user; validation errors name the field
    and value."""
    user.require(UserRole.ORDER_MGR, spec.mission)
    order = create_order(db, spec, user.username, request.app.state.settings.limits)
    db.flush()
    return list_orders(db, order_id=order.id)[0]


@router.get("/orders")
def get_orders(db: DbSession, user: OrderReader, mission: MissionFilter = None) -> list[OrderRow]:
    """Orders, newest first (of the user's mission; of any for ROOT)."""
    return list_orders(db, listed_mission(user, mission, UserRole.ORDER_READER))


@router.get("/orders/{order_id}")
def get_order(
    order_id: ObjectId,
    db: DbSession,
    user: OrderReader,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 200,
) -> OrderView:
    """An order with its job steps and their states."""
    user.require(UserRole.ORDER_READER, order_mission(db, order_id))
    return order_view(db, order_id, limit=limit)


@router.get("/orders/{order_id}/jobs")
def get_order_jobs(order_id: ObjectId, db: DbSession, user: OrderReader) -> list[JobRow]:
    """The jobs of an order with their windows, states and job steps by state."""
    user.require(UserRole.ORDER_READER, order_mission(db, order_id))
    return order_jobs(db, order_id)


@router.get("/orders/{order_id}/products")
def get_order_products(
    order_id: ObjectId, db: DbSession, user: OrderReader
) -> list[OrderProductRow]:
    """The products an order made (or is making) with sizes, MD5 and lineage."""
    user.require(UserRole.ORDER_READER, order_mission(db, order_id))
    return order_products(db, order_id)


@router.post("/orders/{order_id}/plan")
def post_plan(
    order_id: ObjectId, request: Request, user: OrderPlanner, dry_run: bool = False
) -> PlanResult:
    """Plan the order (APPROVED -> PLANNED); ``dry_run`` writes nothing."""
    _in_mission(request, order_id, user, UserRole.ORDER_PLANNER)
    summary = run_plan(database(request), order_id, dry_run=dry_run, user=user.username)
    return PlanResult(
        id=order_id,
        dry_run=dry_run,
        jobs=summary.jobs,
        job_steps=summary.job_steps,
        steps_per_class=summary.steps_per_class,
        product_queries=summary.product_queries,
        unsatisfied_queries=summary.unsatisfied_queries,
        skipped_existing=summary.skipped_existing,
        in_production=summary.in_production,
        producers=sorted(summary.producers),
        seconds=round(summary.seconds, 3),
    )


def _command_route(name: str) -> None:
    """``POST /orders/{order_id}/<name>`` for the registry's order command ``name``, needing
    the role the registry gives it (one route per command, so a wrong method on any order
    path is a 405 and the OpenAPI lists exactly the commands)."""
    spec = ORDER_COMMANDS[name]
    role_user = Annotated[Principal, Depends(Requires(spec.role))]

    def post_command(
        order_id: ObjectId, request: Request, user: role_user, force: bool = False
    ) -> CommandResult:
        _in_mission(request, order_id, user, spec.role)
        order, result = run_command(
            database(request), order_id, name, user=user.username, force=force
        )
        return CommandResult(
            id=order_id,
            identifier=order.identifier,
            state=None if name == "delete" else order.state.value,
            result=result,
        )

    # the role is the command's own: give the annotation as an object (this module's
    # annotations are strings, and a local alias cannot be resolved from them)
    post_command.__annotations__["user"] = role_user
    extra = " (refused for the order's creator unless the mission allows it)"
    post_command.__doc__ = (
        f"{spec.help} Needs {spec.role.value}"
        + (extra if name == "approve" else "")
        + "; 409 names the states that allow it."
    )
    router.add_api_route(
        f"/orders/{{order_id}}/{name}",
        post_command,
        methods=["POST"],
        name=f"order_{name}",
        summary=f"Order {name}",
    )


for _name in RUNNABLE:
    _command_route(_name)


@router.get("/jobsteps/{job_step_id}")
def get_job_step(job_step_id: ObjectId, db: DbSession, user: OrderReader) -> JobStepView:
    """A job step with its inputs, outputs and log."""
    user.require(UserRole.ORDER_READER, job_step_mission(db, job_step_id))
    return job_step_view(db, job_step_id)
