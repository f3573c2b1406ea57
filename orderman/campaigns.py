"""Reprocessing campaigns: years of data made again, batch by batch, without flooding the
facilities.

A campaign holds the order settings of its batches (from a template, kept as they were at
creation), a period or an orbit range, the batch size (days, months or orbits), one or more
processing facilities (batches are dealt round-robin) and ``max_in_flight``: how many of its
job steps may be READY, WAITING_INPUT or RUNNING at one facility before it releases another
batch. Its orders have production type REPROCESSING and the campaign's priority (20 by
default, below systematic production's 50), so the dispatcher serves systematic orders
first.

Lifecycle (:func:`start`, :func:`pause`, :func:`resume`, :func:`cancel`, :func:`retry_failed`):

=========  ===========================  =================================================
command    allowed in                   effect
=========  ===========================  =================================================
start      CREATED                      RUNNING: batches are ordered as capacity allows
pause      RUNNING                      PAUSED: no new batch; released orders suspended
resume     PAUSED                       RUNNING: suspended orders released again
cancel     CREATED, RUNNING, PAUSED     CANCELLED: orders not yet run are cancelled
retry      RUNNING, PAUSED, COMPLETED   failed orders retried and released; -> RUNNING
=========  ===========================  =================================================

:func:`advance_campaigns` (one round of :mod:`orderman.runner`) orders the next batch per
facility of each RUNNING campaign while its in-flight count allows, exactly once per batch
(the batch row locked, its order recorded in the same transaction); the order is made by
``campaign:<name>`` with ``auto_release``, so :func:`orderman.automation.advance_orders`
approves, plans and releases it. A campaign whose batches all completed is COMPLETED.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderman import commands
from orderman.orders import OrderSettings, OrderSpec, build_order, create_order
from orderman.templates import NAME_PATTERN, get_template
from proseo.catalogue.facilities import get_facility
from proseo.catalogue.missions import get_mission
from proseo.config import LimitSettings
from proseo.db import Database
from proseo.db.engine import PLANNING_TABLES
from proseo.enums import CampaignState, JobStepState, OrderState, ProductionType
from proseo.errors import ConflictError, InvalidInputError, InvalidStateTransition, NotFoundError
from proseo.model import (
    Campaign,
    CampaignBatch,
    Job,
    JobStep,
    Mission,
    Orbit,
    ProcessingOrder,
    Spacecraft,
    StateHistory,
)
from proseo.model.base import utc_now
from proseo.security.principal import CAMPAIGN_PREFIX
from proseo.validation import JsonInt, validate_input

log = logging.getLogger(__name__)

C = CampaignState
IN_FLIGHT = (JobStepState.READY, JobStepState.WAITING_INPUT, JobStepState.RUNNING)
"""Job step states that count against a campaign's ``max_in_flight``."""
DONE = (OrderState.COMPLETED, OrderState.CLOSED)
MAX_BATCHES = 100_000
"""Most batches one campaign may have."""


class CampaignSpec(BaseModel):
    """A campaign as an operator writes it (YAML/JSON, options or the API): a template or
    order settings, a period (UTC) or an orbit range, and how to cut and pace it."""

    model_config = ConfigDict(extra="forbid")

    mission: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=2000)
    template: str | None = Field(default=None, min_length=1, max_length=100)
    settings: OrderSettings | None = None
    start_time: AwareDatetime | None = None
    stop_time: AwareDatetime | None = None
    spacecraft: str | None = Field(default=None, min_length=1, max_length=20)
    orbit_from: JsonInt | None = Field(default=None, ge=0, le=2**31 - 1)
    orbit_to: JsonInt | None = Field(default=None, ge=0, le=2**31 - 1)
    batch_unit: Literal["DAY", "MONTH", "ORBITS"] = "MONTH"
    batch_size: JsonInt = Field(default=1, ge=1, le=100_000)
    facilities: list[str] = Field(default_factory=list, max_length=100)
    max_in_flight: JsonInt = Field(default=1000, ge=1, le=10_000_000)
    priority: JsonInt = Field(default=20, ge=0, le=1000)

    @model_validator(mode="after")
    def _shape(self) -> CampaignSpec:
        if (self.template is None) == (self.settings is None):
            raise ValueError("give either template or settings")
        period = self.start_time is not None or self.stop_time is not None
        orbits = self.orbit_from is not None or self.orbit_to is not None
        if period == orbits:
            raise ValueError("give either start_time and stop_time, or orbit_from and orbit_to")
        if period and (self.start_time is None or self.stop_time is None):
            raise ValueError("give both start_time and stop_time")
        if self.start_time and self.stop_time and self.stop_time <= self.start_time:
            raise ValueError("stop_time must be after start_time")
        if orbits and (self.orbit_from is None or self.orbit_to is None or not self.spacecraft):
            raise ValueError("an orbit range needs spacecraft, orbit_from and orbit_to")
        if orbits and self.orbit_to is not None and self.orbit_from is not None:
            if self.orbit_to < self.orbit_from:
                raise ValueError("orbit_to is below orbit_from")
            if self.batch_unit != "ORBITS":
                raise ValueError("an orbit range is cut into batches of ORBITS")
        return self


def parse_campaign_spec(data: Any, source: str = "campaign") -> CampaignSpec:
    """Validate plain data as a :class:`CampaignSpec`.

    :raises InvalidInputError: naming the field path and value."""
    return validate_input(CampaignSpec, data, source)


# -- batches ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One batch: a window (UTC) or an orbit range."""

    start: datetime | None = None
    stop: datetime | None = None
    orbit_from: int | None = None
    orbit_to: int | None = None


def split(spec: CampaignSpec, orbit_numbers: list[int] | None = None) -> list[Batch]:
    """The campaign's batches, in order.

    :param orbit_numbers: for ORBITS batches over a period, the orbits of the spacecraft in
        it (from the catalogue).
    :raises InvalidInputError: for more than :data:`MAX_BATCHES` batches."""
    batches: list[Batch] = []
    if spec.batch_unit == "ORBITS":
        if spec.orbit_from is not None and spec.orbit_to is not None:
            numbers = list(range(spec.orbit_from, spec.orbit_to + 1))
        else:
            numbers = sorted(orbit_numbers or [])
        for i in range(0, len(numbers), spec.batch_size):
            chunk = numbers[i : i + spec.batch_size]
            batches.append(Batch(orbit_from=chunk[0], orbit_to=chunk[-1]))
            if len(batches) > MAX_BATCHES:
                break
    else:
        assert spec.start_time is not None
        assert spec.stop_time is not None
        step = (
            relativedelta(days=spec.batch_size)
            if spec.batch_unit == "DAY"
            else relativedelta(months=spec.batch_size)
        )
        start = spec.start_time.astimezone(UTC)
        stop = spec.stop_time.astimezone(UTC)
        while start < stop and len(batches) <= MAX_BATCHES:
            end = min(start + step, stop)
            batches.append(Batch(start=start, stop=end))
            start = end
    if len(batches) > MAX_BATCHES:
        raise InvalidInputError(
            "batch_size", spec.batch_size, f"gives more than {MAX_BATCHES} batches"
        )
    if not batches:
        raise InvalidInputError("orbits", spec.spacecraft, "no orbit of the period is stored")
    return batches


def _order_spec(campaign: Campaign, batch: CampaignBatch) -> OrderSpec:
    data: dict[str, Any] = {
        **(campaign.settings if batch.settings is None else batch.settings),
        "mission": campaign.mission.code,
        "identifier": f"{campaign.name}-{batch.number:05d}",
        "production_type": ProductionType.REPROCESSING.value,
        "priority": campaign.priority,
        "processing_facility": batch.processing_facility.name,
        "auto_release": True,
    }
    if batch.orbit_from is not None:
        data["orbits"] = [
            {"spacecraft": campaign.spacecraft_code, "from": batch.orbit_from, "to": batch.orbit_to}
        ]
    else:
        data["start_time"] = batch.start_time
        data["stop_time"] = batch.stop_time
    return validate_input(OrderSpec, data, f"campaign {campaign.name} batch {batch.number}")


# -- creating --------------------------------------------------------------------------------


def _new_name(session: Session, mission: str, name: str) -> Mission:
    """The mission, after checking it has no campaign ``name``.

    :raises NotFoundError: for an unknown mission.
    :raises ConflictError: when the mission has a campaign of that name."""
    row = get_mission(session, mission)
    if session.scalar(
        select(Campaign.id).where(Campaign.mission_id == row.id, Campaign.name == name)
    ):
        raise ConflictError(
            f"mission {row.code} already has a campaign {name!r}", field="name", value=name
        )
    return row


def create_campaign(
    session: Session, spec: CampaignSpec, user: str | None, limits: LimitSettings | None = None
) -> Campaign:
    """Store a campaign (state CREATED) with its batches; its first batch is checked as an
    order would be.

    :raises NotFoundError: for an unknown mission, template or facility.
    :raises ConflictError: when the mission has a campaign of that name.
    :raises InvalidInputError: naming the field when the settings make no valid order."""
    campaign = _build_campaign(session, spec, user, limits)
    session.add(campaign)
    session.flush()
    return campaign


def _build_campaign(
    session: Session, spec: CampaignSpec, user: str | None, limits: LimitSettings | None
) -> Campaign:
    """The campaign and its batches, checked, not added to the session."""
    mission = _new_name(session, spec.mission, spec.name)
    template = None
    if spec.template is not None:
        template = get_template(session, mission, spec.template)
        settings = dict(template.settings)
    else:
        assert spec.settings is not None
        settings = spec.settings.model_dump(mode="json", exclude_unset=True)
    facilities = [get_facility(session, name, "facilities") for name in spec.facilities] or [
        get_facility(session, settings.get("processing_facility"), "processing_facility")
    ]
    orbit_numbers = None
    if spec.batch_unit == "ORBITS" and spec.orbit_from is None:
        if not spec.spacecraft:
            raise InvalidInputError("spacecraft", None, "ORBITS batches over a period need it")
        orbit_numbers = list(
            session.scalars(
                select(Orbit.orbit_number)
                .join(Spacecraft)
                .where(
                    Spacecraft.mission_id == mission.id,
                    Spacecraft.code == spec.spacecraft,
                    Orbit.start_time < spec.stop_time,
                    Orbit.stop_time > spec.start_time,
                )
            )
        )
    pieces = split(spec, orbit_numbers)
    campaign = Campaign(
        mission=mission,
        name=spec.name,
        description=spec.description,
        template_name=None if template is None else template.name,
        template_version=None if template is None else template.version,
        settings=settings,
        start_time=spec.start_time,
        stop_time=spec.stop_time,
        spacecraft_code=spec.spacecraft,
        orbit_from=spec.orbit_from,
        orbit_to=spec.orbit_to,
        batch_unit=spec.batch_unit,
        batch_size=spec.batch_size,
        max_in_flight=spec.max_in_flight,
        priority=spec.priority,
        created_by=user,
    )
    campaign.batches = [
        CampaignBatch(
            number=n,
            start_time=piece.start,
            stop_time=piece.stop,
            orbit_from=piece.orbit_from,
            orbit_to=piece.orbit_to,
            processing_facility=facilities[(n - 1) % len(facilities)],
        )
        for n, piece in enumerate(pieces, start=1)
    ]
    # the first batch as an order (not stored): the settings' errors now, not in a round
    first = build_order(
        session, _order_spec(campaign, campaign.batches[0]), user, limits, check_identifier=False
    )
    if first in session:
        session.expunge(first)
    return campaign


def create_campaign_from_batches(
    session: Session,
    mission: str,
    name: str,
    batches: list[tuple[datetime, datetime, dict[str, Any]]],
    user: str | None,
    *,
    facility: Any,
    priority: int = 20,
    max_in_flight: int = 1000,
    description: str | None = None,
) -> Campaign:
    """A campaign (state CREATED) of explicit batches: (start, stop, order settings) each, all
    at ``facility`` (batch unit PRODUCTS: targeted reprocessing, :mod:`orderman.reprocess`).

    :raises ConflictError: when the mission has a campaign of that name.
    :raises InvalidInputError: for more than :data:`MAX_BATCHES` batches."""
    mission_row = _new_name(session, mission, name)
    if len(batches) > MAX_BATCHES:
        raise InvalidInputError("batches", len(batches), f"more than {MAX_BATCHES}")
    campaign = Campaign(
        mission=mission_row,
        name=name,
        description=description,
        settings={},
        start_time=min(b[0] for b in batches),
        stop_time=max(b[1] for b in batches),
        batch_unit="PRODUCTS",
        batch_size=1,
        max_in_flight=max_in_flight,
        priority=priority,
        created_by=user,
    )
    campaign.batches = [
        CampaignBatch(
            number=n,
            start_time=start,
            stop_time=stop,
            settings=settings,
            processing_facility=facility,
        )
        for n, (start, stop, settings) in enumerate(batches, start=1)
    ]
    session.add(campaign)
    session.flush()
    return campaign


@dataclass
class DryRun:
    """What a campaign would make, planned batch by batch and rolled back."""

    batches: int = 0
    orders: int = 0
    jobs: int = 0
    job_steps: int = 0
    products_found: int = 0
    products_in_production: int = 0
    steps_per_class: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class _Rollback(Exception):
    pass


def dry_run(database: Database, spec: CampaignSpec, limits: LimitSettings | None = None) -> DryRun:
    """Plan every batch of the campaign in a transaction that is rolled back: how many
    orders, jobs and job steps (one product each, with its components) it would make, and how
    many requested products exist already. Writes nothing.

    :raises: as :func:`create_campaign`; a batch that cannot be planned raises its
        :class:`~proseo.errors.PlanningError`."""
    import time

    started = time.perf_counter()
    result = DryRun()
    with database.transaction() as session:  # built once, never stored
        campaign = _build_campaign(session, spec, None, limits)
    result.batches = len(campaign.batches)
    for batch in campaign.batches:
        try:
            with database.transaction() as session:
                order = create_order(session, _order_spec(campaign, batch), None, limits)
                commands.approve(session, order, None)
                summary = commands.plan(session, order, None)
                result.orders += 1 if summary.job_steps else 0
                result.jobs += summary.jobs
                result.job_steps += summary.job_steps
                result.products_found += summary.skipped_existing
                result.products_in_production += summary.in_production
                result.steps_per_class.update(summary.steps_per_class)
                raise _Rollback
        except _Rollback:
            pass
    database.reclaim(PLANNING_TABLES, result.job_steps)
    result.seconds = time.perf_counter() - started
    return result


# -- commands ------------------------------------------------------------------------------


def get_campaign(session: Session, mission: str, name: str, *, lock: bool = False) -> Campaign:
    """:raises NotFoundError: naming the mission and campaign."""
    mission_row = get_mission(session, mission)
    query = select(Campaign).where(Campaign.mission_id == mission_row.id, Campaign.name == name)
    if lock:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFoundError(f"mission {mission_row.code} has no campaign {name!r}")
    return campaign


def list_campaigns(session: Session, mission: str | None = None) -> list[Campaign]:
    """Every campaign (of one mission, or all), newest first."""
    query = select(Campaign)
    if mission is not None:
        query = query.where(Campaign.mission_id == get_mission(session, mission).id)
    return list(session.scalars(query.order_by(Campaign.id.desc())))


def _require(campaign: Campaign, command: str, allowed: tuple[CampaignState, ...]) -> None:
    if campaign.state not in allowed:
        error = InvalidStateTransition(
            f"campaign {campaign.name}", campaign.state.value, command, (s.value for s in allowed)
        )
        error.message = (
            f"cannot {command} campaign {campaign.name} in state {campaign.state.value}: "
            f"{command} needs state {' or '.join(s.value for s in allowed)}"
        )
        error.args = (error.message,)
        raise error


def _orders(session: Session, campaign: Campaign, *states: OrderState) -> list[ProcessingOrder]:
    query = (
        select(ProcessingOrder)
        .join(CampaignBatch, CampaignBatch.processing_order_id == ProcessingOrder.id)
        .where(CampaignBatch.campaign_id == campaign.id)
        .order_by(ProcessingOrder.id)
    )
    if states:
        query = query.where(ProcessingOrder.state.in_(states))
    return list(session.scalars(query.with_for_update(of=ProcessingOrder)))


def start(session: Session, campaign: Campaign, user: str | None) -> None:
    """CREATED -> RUNNING."""
    _require(campaign, "start", (C.CREATED,))
    campaign.state = C.RUNNING
    campaign.started_at = utc_now()
    campaign.state_message = f"started by {user}"


def pause(session: Session, campaign: Campaign, user: str | None) -> int:
    """RUNNING -> PAUSED; its released orders are suspended (running job steps finish).

    :returns: how many orders were suspended."""
    _require(campaign, "pause", (C.RUNNING,))
    orders = _orders(session, campaign, OrderState.RELEASED, OrderState.RUNNING)
    for order in orders:
        commands.suspend(session, order, user)
    campaign.state = C.PAUSED
    campaign.state_message = f"paused by {user}"
    return len(orders)


def resume(session: Session, campaign: Campaign, user: str | None) -> int:
    """PAUSED -> RUNNING; its suspended orders (PLANNED with a plan) are released again.

    :returns: how many orders were released."""
    _require(campaign, "resume", (C.PAUSED,))
    released = 0
    for order in _orders(session, campaign, OrderState.PLANNED):
        commands.release(session, order, user, command="resume")
        released += 1
    campaign.state = C.RUNNING
    campaign.state_message = f"resumed by {user}"
    return released


def cancel(session: Session, campaign: Campaign, user: str | None) -> int:
    """-> CANCELLED: no further batch; orders not yet run are cancelled, released ones
    suspended first (their running job steps finish; a later round cancels them).

    :returns: how many orders were cancelled now."""
    _require(campaign, "cancel", (C.CREATED, C.RUNNING, C.PAUSED))
    for order in _orders(session, campaign, OrderState.RELEASED, OrderState.RUNNING):
        commands.suspend(session, order, user)
    cancelled = _cancel_planned(session, campaign, user)
    campaign.state = C.CANCELLED
    campaign.finished_at = utc_now()
    campaign.state_message = f"cancelled by {user}"
    return cancelled


def _cancel_planned(session: Session, campaign: Campaign, user: str | None) -> int:
    orders = _orders(session, campaign, OrderState.PLANNED)
    for order in orders:
        commands.cancel(session, order, user)
    return len(orders)


def retry_failed(session: Session, campaign: Campaign, user: str | None) -> int:
    """Retry every FAILED order of the campaign (released again unless the campaign is
    paused) and, unless paused, send every order whose planning failed (PLANNING_FAILED, its
    reason in the order's message) back to APPROVED, so the next round plans and releases it
    again (after the operator removed the cause, e.g. synced the missing orbits); -> RUNNING
    from COMPLETED. Without this an order that failed planning kept its campaign from ever
    completing.

    :returns: how many orders were retried or sent back to planning."""
    _require(campaign, "retry", (C.RUNNING, C.PAUSED, C.COMPLETED))
    orders = _orders(session, campaign, OrderState.FAILED)
    for order in orders:
        commands.retry(session, order, user)
        if campaign.state is not C.PAUSED:
            commands.release(session, order, user)
    replan = (
        [] if campaign.state is C.PAUSED else _orders(session, campaign, OrderState.PLANNING_FAILED)
    )
    for order in replan:
        commands.reset(session, order, user)
    if campaign.state is C.COMPLETED:
        campaign.state = C.RUNNING
        campaign.finished_at = None
    return len(orders) + len(replan)


CAMPAIGN_COMMANDS = {
    "start": start,
    "pause": pause,
    "resume": resume,
    "cancel": cancel,
    "retry": retry_failed,
}
"""The campaign commands by name (the CLI and the API)."""


def run_campaign_command(
    database: Database, mission: str, name: str, command: str, user: str | None
) -> tuple[CampaignState, Any]:
    """Run a campaign command in its own transaction, the campaign row locked.

    :returns: the campaign's new state and what the command returned.
    :raises InvalidInputError: for an unknown command.
    :raises InvalidStateTransition: when the campaign's state does not allow it."""
    function = CAMPAIGN_COMMANDS.get(command)
    if function is None:
        raise InvalidInputError(
            "campaign command", command, f"expected one of {', '.join(CAMPAIGN_COMMANDS)}"
        )
    with database.transaction() as session:
        campaign = get_campaign(session, mission, name, lock=True)
        result = function(session, campaign, user)
        return campaign.state, result


# -- the rounds --------------------------------------------------------------------------------


@dataclass
class CampaignReport:
    """What one round did: orders made per campaign, campaigns completed."""

    ordered: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether it made or finished anything."""
        return bool(self.ordered or self.completed)


def _in_flight(session: Session, campaign: Campaign) -> dict[int, int]:
    """Job steps of the campaign's orders READY, WAITING_INPUT or RUNNING, per facility,
    counted up to ``max_in_flight`` (all the round needs to know is whether the count is
    below it), over the batches whose order is not done: the count costs at most
    ``max_in_flight`` rows however long the campaign and its queue."""
    facilities = set(
        session.scalars(
            select(CampaignBatch.processing_facility_id)
            .join(ProcessingOrder, ProcessingOrder.id == CampaignBatch.processing_order_id)
            .where(CampaignBatch.campaign_id == campaign.id, ProcessingOrder.state.not_in(DONE))
        )
    )
    counts: dict[int, int] = {}
    for facility in facilities:
        flying = (
            select(JobStep.id)
            .join(Job, JobStep.job_id == Job.id)
            .join(CampaignBatch, CampaignBatch.processing_order_id == Job.processing_order_id)
            .join(ProcessingOrder, ProcessingOrder.id == CampaignBatch.processing_order_id)
            .where(
                CampaignBatch.campaign_id == campaign.id,
                CampaignBatch.processing_facility_id == facility,
                ProcessingOrder.state.not_in(DONE),
                JobStep.state.in_(IN_FLIGHT),
            )
            .limit(campaign.max_in_flight)
            .subquery()
        )
        counts[facility] = session.scalar(select(func.count()).select_from(flying)) or 0
    return counts


def _unplanned(session: Session, campaign: Campaign) -> set[int]:
    """Facilities where an order of the campaign is made but not yet planned and released
    (its job steps do not count yet: no second batch until they do)."""
    return set(
        session.scalars(
            select(CampaignBatch.processing_facility_id)
            .join(ProcessingOrder, ProcessingOrder.id == CampaignBatch.processing_order_id)
            .where(
                CampaignBatch.campaign_id == campaign.id,
                ProcessingOrder.state.in_(
                    [OrderState.INITIAL, OrderState.APPROVED, OrderState.PLANNING]
                ),
            )
        )
    )


def _order_batch(
    database: Database, batch_id: int, limits: LimitSettings | None, report: CampaignReport
) -> None:
    """Make the batch's order, exactly once (the batch row locked)."""
    with database.transaction() as session:
        batch = session.scalar(
            select(CampaignBatch).where(CampaignBatch.id == batch_id).with_for_update()
        )
        if batch is None or batch.processing_order_id is not None:
            return
        campaign = batch.campaign
        try:
            order = create_order(
                session, _order_spec(campaign, batch), CAMPAIGN_PREFIX + campaign.name, limits
            )
        except (InvalidInputError, ConflictError, NotFoundError) as error:
            batch.message = error.message
            campaign.state = C.PAUSED
            campaign.state_message = f"batch {batch.number}: {error.message}"
            report.errors.append(f"campaign {campaign.name}: {campaign.state_message}")
            return
        batch.processing_order = order
        batch.ordered_at = utc_now()
        report.ordered.append(order.identifier)


def advance_campaigns(database: Database, limits: LimitSettings | None = None) -> CampaignReport:
    """One round: per RUNNING campaign and facility, order the next batch if the campaign's
    job steps in flight there are below ``max_in_flight`` and no order of it is still being
    planned; cancel what cancelled campaigns left PLANNED; complete the campaigns whose
    batches all completed."""
    report = CampaignReport()
    with database.transaction() as session:
        active = [
            c.id
            for c in session.scalars(
                select(Campaign).where(Campaign.state.in_([C.RUNNING, C.CANCELLED]))
            )
        ]
    for campaign_id in active:
        with database.transaction() as session:
            campaign = session.get_one(Campaign, campaign_id)
            if campaign.state is C.CANCELLED:
                _cancel_planned(session, campaign, campaign.state_message)
                continue
            flying = _in_flight(session, campaign)
            busy = _unplanned(session, campaign)
            due: dict[int, int] = {}
            for batch in campaign.batches:
                facility = batch.processing_facility_id
                if batch.processing_order_id is not None or facility in due or facility in busy:
                    continue
                if flying.get(facility, 0) < campaign.max_in_flight:
                    due[facility] = batch.id
            name = campaign.name
        for batch_id in due.values():
            _order_batch(database, batch_id, limits, report)
        with database.transaction() as session:
            campaign = session.get_one(Campaign, campaign_id, with_for_update=True)
            if campaign.state is C.RUNNING and _finished(session, campaign):
                campaign.state = C.COMPLETED
                campaign.finished_at = utc_now()
                campaign.state_message = None
                report.completed.append(name)
    return report


def _finished(session: Session, campaign: Campaign) -> bool:
    if any(b.processing_order_id is None for b in campaign.batches):
        return False
    states = session.scalars(
        select(ProcessingOrder.state)
        .join(CampaignBatch, CampaignBatch.processing_order_id == ProcessingOrder.id)
        .where(CampaignBatch.campaign_id == campaign.id)
    ).all()
    return all(state in DONE for state in states)


# -- progress ----------------------------------------------------------------------------------


def campaign_view(session: Session, campaign: Campaign, *, batches: bool = False) -> dict[str, Any]:
    """A campaign with its progress: batches by order state, job steps (one product each)
    planned, produced and failed, percent done (batches whose order completed), throughput
    (job steps completed in the last hour, else since the start) and an estimated end (UTC).
    With ``batches``, one line per batch."""
    steps: dict[int, Counter[str]] = defaultdict(Counter)
    for order_id, state, count in session.execute(
        select(Job.processing_order_id, JobStep.state, func.count(JobStep.id))
        .join(JobStep, JobStep.job_id == Job.id)
        .join(CampaignBatch, CampaignBatch.processing_order_id == Job.processing_order_id)
        .where(CampaignBatch.campaign_id == campaign.id)
        .group_by(Job.processing_order_id, JobStep.state)
    ):
        steps[order_id][state.value] += count
    orders = {
        o.id: o
        for o in session.scalars(
            select(ProcessingOrder)
            .join(CampaignBatch, CampaignBatch.processing_order_id == ProcessingOrder.id)
            .where(CampaignBatch.campaign_id == campaign.id)
        )
    }
    total = Counter[str]()
    for counts in steps.values():
        total.update(counts)
    planned = sum(total.values())
    produced = total["COMPLETED"] + total["CLOSED"]
    done_batches = sum(1 for o in orders.values() if o.state in DONE)
    now = utc_now()
    hour_ago = now - timedelta(hours=1)
    completed_recently = (
        session.scalar(
            select(func.count(StateHistory.id)).where(
                StateHistory.entity_id.in_(
                    select(JobStep.id)
                    .join(Job, JobStep.job_id == Job.id)
                    .join(
                        CampaignBatch, CampaignBatch.processing_order_id == Job.processing_order_id
                    )
                    .where(CampaignBatch.campaign_id == campaign.id)
                ),
                StateHistory.to_state == JobStepState.COMPLETED.value,
                StateHistory.changed_at >= hour_ago,
            )
        )
        or 0
    )
    elapsed_h = None
    if campaign.started_at is not None:
        elapsed_h = max((now - campaign.started_at).total_seconds() / 3600, 1e-6)
    per_hour = float(completed_recently)
    if elapsed_h is not None and elapsed_h < 1:
        per_hour = produced / elapsed_h
    ordered = len(orders)
    remaining_batches = len(campaign.batches) - ordered
    per_batch = planned / ordered if ordered else 0.0
    remaining = (planned - produced - total["FAILED"]) + remaining_batches * per_batch
    estimated_end = None
    if per_hour > 0 and campaign.state in (C.RUNNING, C.PAUSED):
        estimated_end = (now + timedelta(hours=remaining / per_hour)).isoformat()
    data: dict[str, Any] = {
        "id": campaign.id,
        "mission": campaign.mission.code,
        "name": campaign.name,
        "state": campaign.state.value,
        "state_message": campaign.state_message,
        "template": campaign.template_name,
        "template_version": campaign.template_version,
        "period": None
        if campaign.start_time is None or campaign.stop_time is None
        else f"{campaign.start_time.isoformat()} .. {campaign.stop_time.isoformat()}",
        "orbits": None
        if campaign.orbit_from is None
        else f"{campaign.spacecraft_code}:{campaign.orbit_from}-{campaign.orbit_to}",
        "batch": f"{campaign.batch_size} {campaign.batch_unit}",
        "max_in_flight": campaign.max_in_flight,
        "priority": campaign.priority,
        "batches": len(campaign.batches),
        "batches_ordered": ordered,
        "batches_done": done_batches,
        "orders_by_state": dict(Counter(o.state.value for o in orders.values())),
        "job_steps_planned": planned,
        "job_steps_produced": produced,
        "job_steps_failed": total["FAILED"],
        "job_steps_by_state": dict(total),
        "percent_done": round(100.0 * done_batches / len(campaign.batches), 1)
        if campaign.batches
        else 100.0,
        "job_steps_per_hour": round(per_hour, 1),
        "estimated_end": estimated_end,
        "created_by": campaign.created_by,
        "started_at": None if campaign.started_at is None else campaign.started_at.isoformat(),
        "finished_at": None if campaign.finished_at is None else campaign.finished_at.isoformat(),
    }
    if batches:
        rows = []
        for batch in campaign.batches:
            order = orders.get(batch.processing_order_id or -1)
            counts = steps.get(batch.processing_order_id or -1, Counter())
            rows.append(
                {
                    "number": batch.number,
                    "window": f"{batch.start_time.isoformat()} .. {batch.stop_time.isoformat()}"
                    if batch.start_time is not None and batch.stop_time is not None
                    else f"{campaign.spacecraft_code}:{batch.orbit_from}-{batch.orbit_to}",
                    "facility": batch.processing_facility.name,
                    "order": None if order is None else order.identifier,
                    "order_state": None if order is None else order.state.value,
                    "job_steps": sum(counts.values()),
                    "produced": counts["COMPLETED"] + counts["CLOSED"],
                    "failed": counts["FAILED"],
                    "message": batch.message,
                }
            )
        data["batch_list"] = rows
    return data


__all__ = [
    "CAMPAIGN_COMMANDS",
    "CampaignReport",
    "CampaignSpec",
    "DryRun",
    "advance_campaigns",
    "campaign_view",
    "create_campaign",
    "dry_run",
    "get_campaign",
    "list_campaigns",
    "parse_campaign_spec",
    "run_campaign_command",
    "split",
]
