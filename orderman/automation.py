"""Orders that run themselves: what a trigger or a campaign made is approved, planned and
released; an
order with ``auto_release`` is released once planned, one with ``auto_close`` closed once
completed; the end of an order is POSTed to its notification endpoint.

:func:`advance_orders` does one round and is idempotent: each order moves in its own
transaction, the order row locked, and only from the state the round found it in, so two
runners (two servers, a server and ``proseo trigger run``) cannot move one order twice, and a
runner killed half-way leaves orders that the next round takes up where they stopped.

Notifications are a transactional outbox: a round records one row per end of an order (its
state history row), then delivers the rows due, each POST retried with exponential back-off
(:data:`RETRY_DELAYS_S`) until delivered or out of attempts; the outcome is written into the
order's state history, so the operator sees it with the order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from orderman import commands
from orderman.orders import get_order
from orderman.service import run_plan
from orderman.triggers import TRIGGER_ACTOR
from proseo.db import Database
from proseo.enums import OrderState, StatefulEntity
from proseo.errors import PlanningError, ProseoError
from proseo.model import ProcessingOrder, StateHistory
from proseo.model.base import utc_now
from proseo.model.systematic import OrderNotification
from proseo.security.principal import CAMPAIGN_PREFIX

log = logging.getLogger(__name__)

AUTOMATION_ACTOR = "automation"
"""Who moves an ``auto_release``/``auto_close`` order (in the state history)."""
RETRY_DELAYS_S = (5, 15, 60, 300, 900, 3600)
"""Seconds before each further delivery attempt of a notification; after the last, it
gives up (and says so in the order's history)."""
NOTIFY_TIMEOUT_S = 10.0
"""Seconds one delivery attempt may take."""
ROUND_LIMIT = 200
"""Most orders one round moves per step (the rest follow in the next round)."""


@dataclass
class AutomationReport:
    """What one round did."""

    approved: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the round moved anything."""
        return bool(self.approved or self.planned or self.released or self.closed or self.notified)

    def line(self) -> str:
        """One line for the log."""
        parts = [
            f"{len(getattr(self, name))} {name}"
            for name in ("approved", "planned", "released", "closed", "notified")
            if getattr(self, name)
        ]
        return ", ".join(parts) or "nothing to do"


def _ids(session: Session, *conditions: Any) -> list[int]:
    return list(
        session.scalars(
            select(ProcessingOrder.id)
            .where(*conditions)
            .order_by(ProcessingOrder.id)
            .limit(ROUND_LIMIT)
        )
    )


def _just_planned(session: Session) -> Any:
    """Orders whose newest state change is PLANNING -> PLANNED (not back from a suspend)."""
    row = aliased(StateHistory)
    newest = (
        select(row.id)
        .where(
            row.entity_type == StatefulEntity.PROCESSING_ORDER,
            row.entity_id == ProcessingOrder.id,
        )
        .order_by(row.id.desc())
        .limit(1)
        .correlate(ProcessingOrder)
        .scalar_subquery()
    )
    return (
        exists()
        .where(
            StateHistory.id == newest,
            StateHistory.from_state == OrderState.PLANNING.value,
            StateHistory.to_state == OrderState.PLANNED.value,
        )
        .correlate(ProcessingOrder)
    )


def _step(
    database: Database,
    order_id: int,
    expected: OrderState,
    action: str,
    report: AutomationReport,
) -> None:
    """Run ``action`` on the order if it is still in state ``expected`` (own transaction)."""
    try:
        if action == "plan":
            with database.transaction() as session:
                order = get_order(session, order_id)
                if order.state is not expected:
                    return
                identifier, actor = order.identifier, order.created_by
            run_plan(database, order_id, user=actor)
            report.planned.append(identifier)
            return
        with database.transaction() as session:
            order = get_order(session, order_id, lock=True)
            if order.state is not expected:
                return
            if action == "approve":
                commands.approve(session, order, order.created_by)
                report.approved.append(order.identifier)
            elif action == "release":
                commands.release(session, order, AUTOMATION_ACTOR)
                report.released.append(order.identifier)
            elif action == "close":
                commands.close(session, order, AUTOMATION_ACTOR)
                report.closed.append(order.identifier)
    except PlanningError as error:  # recorded on the order (PLANNING_FAILED) by run_plan
        report.errors.append(f"order {order_id}: {error.message}")
    except ProseoError as error:
        log.warning("automation, order %s, %s: %s", order_id, action, error.message)
        report.errors.append(f"order {order_id} ({action}): {error.message}")


def advance_orders(database: Database, *, notify: bool = True) -> AutomationReport:
    """One round: approve and plan what triggers made, release ``auto_release`` orders just
    planned, close ``auto_close`` orders completed, and (``notify``) send the notifications
    due."""
    report = AutomationReport()
    by_trigger = ProcessingOrder.created_by.startswith(TRIGGER_ACTOR) | (
        ProcessingOrder.created_by.startswith(CAMPAIGN_PREFIX)
    )
    with database.transaction() as session:
        work = [
            (
                _ids(session, ProcessingOrder.state == OrderState.INITIAL, by_trigger),
                OrderState.INITIAL,
                "approve",
            ),
        ]
    for ids, state, action in work:
        for order_id in ids:
            _step(database, order_id, state, action, report)
    with database.transaction() as session:
        approved = _ids(session, ProcessingOrder.state == OrderState.APPROVED, by_trigger)
    for order_id in approved:
        _step(database, order_id, OrderState.APPROVED, "plan", report)
    with database.transaction() as session:
        to_release = _ids(
            session,
            ProcessingOrder.state == OrderState.PLANNED,
            ProcessingOrder.auto_release.is_(True),
            _just_planned(session),
        )
        to_close = _ids(
            session,
            ProcessingOrder.state == OrderState.COMPLETED,
            ProcessingOrder.auto_close.is_(True),
        )
    for order_id in to_release:
        _step(database, order_id, OrderState.PLANNED, "release", report)
    if notify:
        queue_notifications(database)
        deliver_notifications(database, report)
    for order_id in to_close:
        _step(database, order_id, OrderState.COMPLETED, "close", report)
    return report


# -- notifications -----------------------------------------------------------------------------


ENDED = (OrderState.COMPLETED.value, OrderState.FAILED.value)


def queue_notifications(database: Database) -> int:
    """Record one notification per end of an order with a notification endpoint that has
    none yet (idempotent: unique per state history row). :returns: how many were queued."""
    with database.transaction() as session:
        rows = session.execute(
            select(
                ProcessingOrder.id,
                ProcessingOrder.notification_endpoint,
                StateHistory.id,
                StateHistory.to_state,
            )
            .join(
                StateHistory,
                (StateHistory.entity_type == StatefulEntity.PROCESSING_ORDER)
                & (StateHistory.entity_id == ProcessingOrder.id),
            )
            .where(
                ProcessingOrder.notification_endpoint.is_not(None),
                StateHistory.to_state.in_(ENDED),
                StateHistory.from_state != StateHistory.to_state,  # not a notification's own row
                ~exists().where(
                    OrderNotification.processing_order_id == ProcessingOrder.id,
                    OrderNotification.history_id == StateHistory.id,
                ),
            )
            .limit(ROUND_LIMIT)
        ).all()
        for order_id, endpoint, history_id, state in rows:
            session.add(
                OrderNotification(
                    processing_order_id=order_id,
                    history_id=history_id,
                    event=f"order {state}",
                    endpoint=endpoint,
                )
            )
        return len(rows)


def _payload(order: ProcessingOrder, notification: OrderNotification) -> dict[str, Any]:
    return {
        "event": notification.event,
        "mission": order.mission.code,
        "order_id": order.id,
        "order_uuid": str(order.uuid),
        "identifier": order.identifier,
        "state": order.state.value,
        "state_message": order.state_message,
        "has_failed_job_steps": order.has_failed_job_steps,
        "start_time": None if order.start_time is None else order.start_time.isoformat(),
        "stop_time": None if order.stop_time is None else order.stop_time.isoformat(),
        "requested_product_classes": [pc.product_type for pc in order.requested_product_classes],
        "attempt": notification.attempts,
    }


def deliver_notifications(database: Database, report: AutomationReport | None = None) -> int:
    """POST the notifications that are due; each outcome (delivered, retry later, given up)
    is stored, and delivery or giving up is written into the order's state history.

    :returns: how many were delivered."""
    import httpx

    now = utc_now()
    with database.transaction() as session:
        due = list(
            session.scalars(
                select(OrderNotification.id)
                .where(
                    OrderNotification.delivered_at.is_(None),
                    OrderNotification.gave_up_at.is_(None),
                    OrderNotification.next_attempt_at <= now,
                )
                .order_by(OrderNotification.next_attempt_at)
                .limit(ROUND_LIMIT)
            )
        )
    delivered = 0
    for notification_id in due:
        with database.transaction() as session:
            notification = session.get(OrderNotification, notification_id, with_for_update=True)
            if notification is None or notification.delivered_at or notification.gave_up_at:
                continue
            order = session.get(ProcessingOrder, notification.processing_order_id)
            if order is None:
                continue
            notification.attempts += 1
            payload = _payload(order, notification)
            error: str | None = None
            try:
                response = httpx.post(notification.endpoint, json=payload, timeout=NOTIFY_TIMEOUT_S)
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            history = None
            if error is None:
                notification.delivered_at = utc_now()
                notification.last_error = None
                history = (
                    f"notification delivered to {notification.endpoint} "
                    f"(attempt {notification.attempts})"
                )
                delivered += 1
                if report is not None:
                    report.notified.append(order.identifier)
            else:
                notification.last_error = error
                if notification.attempts > len(RETRY_DELAYS_S):
                    notification.gave_up_at = utc_now()
                    history = (
                        f"notification to {notification.endpoint} given up after "
                        f"{notification.attempts} attempts: {error}"
                    )
                else:
                    wait = RETRY_DELAYS_S[notification.attempts - 1]
                    notification.next_attempt_at = utc_now() + timedelta(seconds=wait)
                log.warning(
                    "notification of order %s to %s failed (attempt %d): %s",
                    order.identifier,
                    notification.endpoint,
                    notification.attempts,
                    error,
                )
            if history is not None:
                session.add(
                    StateHistory(
                        entity_type=StatefulEntity.PROCESSING_ORDER,
                        entity_id=order.id,
                        from_state=order.state.value,
                        to_state=order.state.value,
                        changed_by=AUTOMATION_ACTOR,
                        reason=history,
                    )
                )
    return delivered
