"""Systematic production in a background thread (``proseo serve``) or a foreground loop
(``proseo trigger run --watch``): fire the triggers' pending occurrences, then move the
orders (:func:`orderman.automation.advance_orders`), round after round.

A round starts when products arrive or orders change anywhere (a wake-up,
:mod:`proseo.db.wakeup`), when the next timed occurrence is due, or after ``interval_s``
seconds, whichever comes first. Every round is safe to run in several processes at once:
occurrences are made once (their unique key) and orders move only from the state a round
found them in, under a row lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from orderman.automation import AutomationReport, advance_orders
from orderman.triggers import TIMED, TriggerReport, run_triggers, upcoming_occurrences
from proseo.config import LimitSettings
from proseo.db import Database
from proseo.db.wakeup import ORDERS, PRODUCTS, Waiter
from proseo.model.base import utc_now
from proseo.model.systematic import ProductionTrigger

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    """What one round of systematic production did."""

    triggers: TriggerReport = field(default_factory=TriggerReport)
    orders: AutomationReport = field(default_factory=AutomationReport)

    @property
    def changed(self) -> bool:
        """Whether it made or moved anything."""
        return bool(self.triggers.created or self.orders.changed)


def production_round(
    database: Database, *, mission: str | None = None, limits: LimitSettings | None = None
) -> RoundReport:
    """One round: triggers, then order automation."""
    report = RoundReport()
    report.triggers = run_triggers(database, mission=mission, limits=limits)
    report.orders = advance_orders(database)
    return report


def next_timed_due(database: Database, now: datetime) -> float | None:
    """Seconds until the next occurrence of an enabled timed trigger is due (``None``: none
    is coming)."""
    soonest: float | None = None
    with database.transaction() as session:
        for trigger in session.scalars(
            select(ProductionTrigger).where(
                ProductionTrigger.enabled.is_(True), ProductionTrigger.kind.in_(TIMED)
            )
        ):
            for occurrence in upcoming_occurrences(session, trigger, now, 1):
                due = (occurrence.due - now).total_seconds() + trigger.delay_s
                soonest = due if soonest is None else min(soonest, due)
    return soonest


class SystematicProduction:
    """The rounds in a thread; :meth:`shutdown` stops it after the current round."""

    def __init__(
        self,
        database: Database,
        interval_s: float = 10.0,
        limits: LimitSettings | None = None,
    ) -> None:
        self.database = database
        self.interval_s = interval_s
        self.limits = limits
        self._stop = threading.Event()
        self._waiter = Waiter(database.engine, (PRODUCTS, ORDERS))
        self._thread = threading.Thread(target=self._run, name="proseo-systematic", daemon=True)

    def start(self) -> SystematicProduction:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff = self.interval_s
        while not self._stop.is_set():
            try:
                report = production_round(self.database, limits=self.limits)
                for outcome in report.triggers.outcomes:
                    if outcome.status != "already":
                        log.info(
                            "trigger %s, %s: %s %s",
                            outcome.trigger,
                            outcome.key,
                            outcome.status,
                            outcome.identifier or outcome.message or "",
                        )
                if report.orders.changed:
                    log.info("orders: %s", report.orders.line())
                backoff = self.interval_s
                if report.changed:
                    continue  # what it made may have more to do at once
                due = next_timed_due(self.database, utc_now())
                wait = self.interval_s if due is None else max(0.05, min(due, self.interval_s))
                self._waiter.wait(wait)
            except Exception:  # the database away: log, back off, go on
                log.exception("systematic production round failed; again in %.0f s", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def shutdown(self, wait: bool = True) -> None:
        """Stop after the current round."""
        self._stop.set()
        self._waiter.wake()
        if wait:
            self._thread.join(timeout=30)
        self._waiter.close()
