"""The one registry of processing order commands: name, the order states that allow it, its
one-line help, the function of :mod:`orderman.commands` that carries it out and the options
it takes. The service (:func:`orderman.service.run_command`), the CLI (``proseo order ...``)
and the REST API (``POST /orders/{id}/{command}``) are all built from it.

Light on purpose (no ORM): the CLI reads it to build its commands without importing the
planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proseo.enums import OrderState, UserRole

O = OrderState  # noqa: E741  (read like a state table)
R = UserRole


@dataclass(frozen=True)
class OrderCommand:
    """One order command.

    ``function`` names the function of :mod:`orderman.commands` called as
    ``function(session, order, user, **fixed, **options)``; ``options`` are the keyword
    options a caller may give (e.g. ``force``); ``planning`` marks ``plan``, which runs
    through :func:`orderman.service.run_plan` (its own transaction handling and summary).
    """

    name: str
    allowed: frozenset[OrderState]
    help: str
    function: str
    role: UserRole
    options: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    planning: bool = False


ORDER_COMMANDS: dict[str, OrderCommand] = {
    c.name: c
    for c in (
        OrderCommand("approve", frozenset({O.INITIAL}), "Approve an order (INITIAL -> APPROVED).",
                     "approve", R.ORDER_APPROVER),
        OrderCommand("plan", frozenset({O.APPROVED, O.PLANNING_FAILED}),
                     "Plan an order backwards through the selection rules (APPROVED -> PLANNED).",
                     "plan", R.ORDER_PLANNER, planning=True),
        OrderCommand("release", frozenset({O.PLANNED}),
                     "Release a planned order: job steps become READY or WAITING_INPUT.",
                     "release", R.ORDER_PLANNER),
        OrderCommand("resume", frozenset({O.PLANNED}),
                     "Resume a suspended order (same as release).", "release", R.ORDER_PLANNER,
                     fixed={"command": "resume"}),
        OrderCommand("suspend", frozenset({O.RELEASED, O.RUNNING}),
                     "Suspend a released or running order (job steps back to PLANNED).",
                     "suspend", R.ORDER_PLANNER, options=("force",)),
        OrderCommand("cancel", frozenset({O.PLANNED}), "Cancel a planned order (-> FAILED).",
                     "cancel", R.ORDER_PLANNER),
        OrderCommand("retry", frozenset({O.FAILED}),
                     "Retry the failed job steps of a failed order (-> PLANNED).", "retry",
                     R.ORDER_PLANNER),
        OrderCommand("reset", frozenset({O.APPROVED, O.PLANNED, O.PLANNING_FAILED}),
                     "Drop an order's plan (-> INITIAL).", "reset", R.ORDER_PLANNER),
        OrderCommand("close", frozenset({O.COMPLETED, O.FAILED}),
                     "Close a completed or failed order.", "close", R.ORDER_PLANNER),
        OrderCommand("delete",
                     frozenset({O.INITIAL, O.APPROVED, O.PLANNING_FAILED, O.PLANNED,
                                O.COMPLETED, O.FAILED, O.CLOSED}),
                     "Delete an order with its plan (not while it runs).", "delete_order",
                     R.ORDER_MGR),
    )
}  # fmt: skip

RUNNABLE = tuple(name for name, c in ORDER_COMMANDS.items() if not c.planning)
"""The commands :func:`orderman.service.run_command` runs (all but ``plan``)."""
