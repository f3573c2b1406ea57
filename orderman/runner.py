"""Systematic production in a background thread (``proseo serve``) or a foreground loop
(``proseo trigger run --watch``): fire the triggers' pending occurrences, order the next
batches of running campaigns (:func:`orderman.campaigns.advance_campaigns`), then move the
orders (:func:`orderman.automation.advance_orders`), round after round.

A round starts when products arrive or orders change anywhere (a wake-up,
:mod:`proseo.db.wakeup`), when the next timed occurrence is due, or after ``interval_s``
seconds, whichever comes first. Every round is safe to run in several processes at once:
occurrences are made once (their unique key) and orders move only from the state a round
found them in, under a row lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from orderman.automation import AutomationReport, advance_orders
from orderman.campaigns import CampaignReport, advance_campaigns
from orderman.triggers import TIMED, TriggerReport, run_triggers, upcoming_occurrences
from proseo.config import LimitSettings
from proseo.db import Database
from proseo.db.wakeup import ORDERS, PRODUCTS, BackgroundWorker
from proseo.model.base import utc_now
from proseo.model.systematic import ProductionTrigger

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    """What one round of systematic production did."""

    triggers: TriggerReport = field(default_factory=TriggerReport)
    campaigns: CampaignReport = field(default_factory=CampaignReport)
    orders: AutomationReport = field(default_factory=AutomationReport)

    @property
    def changed(self) -> bool:
        """Whether it made or moved anything."""
        return bool(self.triggers.created or self.campaigns.changed or self.orders.changed)


def production_round(
    database: Database, *, mission: str | None = None, limits: LimitSettings | None = None
) -> RoundReport:
    """One round: triggers, then order automation."""
    report = RoundReport()
    report.triggers = run_triggers(database, mission=mission, limits=limits)
    report.campaigns = advance_campaigns(database, limits)
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


def start_systematic_production(
    database: Database, interval_s: float = 10.0, limits: LimitSettings | None = None
) -> BackgroundWorker:
    """Run the rounds in a background thread of this process (``proseo serve
    --trigger-interval``): at once after a round that made or moved something, when products
    arrive or orders move anywhere, when the next timed occurrence is due, and at least every
    ``interval_s`` seconds.

    :returns: the running worker (``shutdown()`` stops it after the current round).
    """

    def round_() -> float:
        report = production_round(database, limits=limits)
        for outcome in report.triggers.outcomes:
            if outcome.status != "already":
                log.info(
                    "trigger %s, %s: %s %s",
                    outcome.trigger,
                    outcome.key,
                    outcome.status,
                    outcome.identifier or outcome.message or "",
                )
        if report.campaigns.ordered:
            log.info("campaigns: ordered %s", ", ".join(report.campaigns.ordered))
        for error in report.campaigns.errors:
            log.warning("%s", error)
        if report.orders.changed:
            log.info("orders: %s", report.orders.line())
        if report.changed:
            return 0.0  # what it made may have more to do at once
        due = next_timed_due(database, utc_now())
        return interval_s if due is None else max(0.05, due)

    worker = BackgroundWorker(
        "systematic production", round_, database.engine, (PRODUCTS, ORDERS), interval_s
    )
    return worker.start()
