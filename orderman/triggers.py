"""Production triggers: orders made from templates by themselves, each occurrence at most once.

Kinds (:class:`~proseo.enums.TriggerKind`) and their ``settings``:

==============  ==========================================================================
DATA_DRIVEN     ``product_type`` (optional ``file_class``, ``mode``, ``parameters``): every
                product of the class that arrives with a file makes an order over its
                sensing window (``window: orbit``: over its orbit); the product parameters
                named in ``copy_parameters`` become dynamic processing parameters.
                Key ``product:<uuid>``.
TIME_INTERVAL   ``interval_s`` (and an optional ``start`` anchor, UTC): at every
                ``start + k * interval_s`` an order over [previous occurrence, this one).
                Key ``time:<ISO time>``.
CALENDAR        ``cron`` (five fields, UTC) and ``period`` (``day``, ``hour``, ``week``,
                ``month`` or ``previous_occurrence``): at each cron time an order over the
                period it closes (``0 2 * * *`` with ``day``: at 02:00 the previous day).
                Key ``time:<ISO time>``. Interval and calendar triggers take an optional
                ``start`` (a start in the past backfills) and ``stop``.
ORBIT           ``spacecraft``: each orbit of it that ended (plus ``delay_s``) makes an order
                for that orbit. Key ``orbit:<spacecraft>:<number>``.
DATATAKE        ``product_type``, ``group_parameter`` and ``expected_count`` and/or
                ``quiet_s``: once that many products with the same value of the parameter
                are in, or none came for ``quiet_s`` seconds, one order over the datatake's
                sensing span. Key ``datatake:<value>``.
==============  ==========================================================================

Exactly once: an occurrence is a row with a unique (trigger, key); the order it makes is
created in the same transaction, so a restart, two runners or a replayed ingestion never make
a second order. Timed triggers (interval, calendar, orbit) look for occurrences after their
newest one; those missed while nothing ran are made up as ``catch_up`` says: ``ALL`` (at
most :data:`MAX_CATCH_UP` per run), ``LATEST`` (only the newest), ``NONE`` (only those at
most :data:`GRACE` late). Data-driven and datatake triggers react to products whose file
arrived after the trigger was (last) enabled; they look back :data:`LOOK_BACK` before their
newest occurrence, so a product committed late is not missed (its key keeps it single).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from orderman.orders import OrbitRange, create_order
from orderman.templates import NAME_PATTERN, get_template, order_spec
from proseo.catalogue.missions import get_mission
from proseo.config import LimitSettings
from proseo.db import Database
from proseo.enums import CatchUp, ProductionType, TriggerKind
from proseo.errors import (
    ConflictError,
    DatabaseBusyError,
    InvalidInputError,
    NotFoundError,
    ProseoError,
)
from proseo.model import (
    Orbit,
    Product,
    ProductClass,
    ProductFile,
    ProductParameter,
    Spacecraft,
)
from proseo.model.base import utc_now
from proseo.model.systematic import ProductionTrigger, TriggerOccurrence
from proseo.security.principal import TRIGGER_PREFIX
from proseo.validation import JsonInt, validate_input

log = logging.getLogger(__name__)

MAX_CATCH_UP = 1000
"""Most occurrences one trigger makes in one run (the rest follow in the next runs)."""
GRACE = timedelta(minutes=5)
"""How late an occurrence may be and still be made with ``catch_up: NONE``."""
LOOK_BACK = timedelta(minutes=10)
"""How far before its newest occurrence a data-driven or datatake trigger looks again."""
TRIGGER_ACTOR = TRIGGER_PREFIX
"""Orders made by a trigger are created (and approved) by ``trigger:<name>``."""


# -- settings per kind -----------------------------------------------------------------------


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataDrivenSettings(_Settings):
    """Settings of a DATA_DRIVEN trigger."""

    product_type: str = Field(min_length=1)
    file_class: str | None = None
    mode: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    window: Literal["sensing", "orbit"] = "sensing"
    copy_parameters: list[str] = Field(default_factory=list)


class _Bounded(_Settings):
    """``start``/``stop`` (UTC, optional): a timed trigger has occurrences only after its
    start (made up as ``catch_up`` says when it lies in the past: a backfill) and none after
    its stop."""

    @model_validator(mode="after")
    def _aware(self) -> _Bounded:
        for name in ("start", "stop"):
            value = getattr(self, name, None)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone (use Z for UTC)")
        start, stop = getattr(self, "start", None), getattr(self, "stop", None)
        if start is not None and stop is not None and stop <= start:
            raise ValueError("stop must be after start")
        return self


class TimeIntervalSettings(_Bounded):
    """Settings of a TIME_INTERVAL trigger (``start``: the anchor, UTC)."""

    interval_s: JsonInt = Field(ge=1, le=10 * 366 * 86400)
    start: datetime | None = None
    stop: datetime | None = None


class CalendarSettings(_Bounded):
    """Settings of a CALENDAR trigger (``cron``: five fields, evaluated in UTC)."""

    cron: str = Field(min_length=9, max_length=200)
    period: Literal["day", "hour", "week", "month", "previous_occurrence"] = "day"
    start: datetime | None = None
    stop: datetime | None = None

    @model_validator(mode="after")
    def _cron(self) -> CalendarSettings:
        _cron_trigger(self.cron)
        return self


class OrbitSettings(_Settings):
    """Settings of an ORBIT trigger."""

    spacecraft: str = Field(min_length=1)


class DatatakeSettings(_Settings):
    """Settings of a DATATAKE trigger."""

    product_type: str = Field(min_length=1)
    group_parameter: str = Field(min_length=1)
    expected_count: JsonInt | None = Field(default=None, ge=1, le=100_000)
    quiet_s: JsonInt | None = Field(default=None, ge=1, le=30 * 86400)

    @model_validator(mode="after")
    def _complete(self) -> DatatakeSettings:
        if self.expected_count is None and self.quiet_s is None:
            raise ValueError("give expected_count, quiet_s or both")
        return self


SETTINGS: dict[TriggerKind, type[_Settings]] = {
    TriggerKind.DATA_DRIVEN: DataDrivenSettings,
    TriggerKind.TIME_INTERVAL: TimeIntervalSettings,
    TriggerKind.CALENDAR: CalendarSettings,
    TriggerKind.ORBIT: OrbitSettings,
    TriggerKind.DATATAKE: DatatakeSettings,
}
TIMED = (TriggerKind.TIME_INTERVAL, TriggerKind.CALENDAR, TriggerKind.ORBIT)


def _cron_trigger(expression: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as error:
        raise ValueError(f"not a five-field cron expression: {error}") from error


class TriggerSpec(BaseModel):
    """A production trigger as an operator writes it (YAML/JSON, flags or the API)."""

    model_config = ConfigDict(extra="forbid")

    mission: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    kind: TriggerKind
    template: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    priority: Annotated[int, Field(ge=0, le=1000)] | None = None
    delay_s: JsonInt = Field(default=0, ge=0, le=366 * 86400)
    execution_delay_s: JsonInt = Field(default=0, ge=0, le=366 * 86400)
    catch_up: CatchUp = CatchUp.ALL
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _settings(self) -> TriggerSpec:
        try:
            parsed = SETTINGS[self.kind].model_validate(self.settings)
        except ValidationError as error:
            first = error.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise ValueError(
                f"settings.{path}: {first['msg']} (given {first.get('input')!r})"
            ) from None
        self.settings = parsed.model_dump(mode="json", exclude_none=True)
        return self


def parse_trigger_spec(data: Any, source: str = "trigger") -> TriggerSpec:
    """Validate plain data as a :class:`TriggerSpec`.

    :raises InvalidInputError: naming the field path and value."""
    return validate_input(TriggerSpec, data, source)


# -- storing triggers ----------------------------------------------------------------------


def create_trigger(session: Session, spec: TriggerSpec, user: str | None) -> ProductionTrigger:
    """Store a trigger after checking its template and the names its settings use.

    :raises ConflictError: when the mission has a trigger of that name.
    :raises NotFoundError: for an unknown mission or template.
    :raises InvalidInputError: for a product type, spacecraft, file class or mode the
        mission does not have."""
    mission = get_mission(session, spec.mission)
    get_template(session, mission, spec.template)
    if session.scalar(
        select(ProductionTrigger.id).where(
            ProductionTrigger.mission_id == mission.id, ProductionTrigger.name == spec.name
        )
    ):
        raise ConflictError(
            f"mission {mission.code} already has a trigger {spec.name!r}",
            field="name",
            value=spec.name,
        )
    settings = spec.settings
    product_type = settings.get("product_type")
    if product_type is not None and not session.scalar(
        select(ProductClass.id).where(
            ProductClass.mission_id == mission.id, ProductClass.product_type == product_type
        )
    ):
        raise InvalidInputError(
            "settings.product_type", product_type, f"not a product class of {mission.code}"
        )
    spacecraft = settings.get("spacecraft")
    if spacecraft is not None and not session.scalar(
        select(Spacecraft.id).where(
            Spacecraft.mission_id == mission.id, Spacecraft.code == spacecraft
        )
    ):
        raise InvalidInputError(
            "settings.spacecraft", spacecraft, f"not a spacecraft of {mission.code}"
        )
    if settings.get("file_class") not in (None, *mission.file_classes):
        raise InvalidInputError(
            "settings.file_class",
            settings["file_class"],
            f"{mission.code} has {mission.file_classes}",
        )
    if settings.get("mode") not in (None, *mission.processing_modes):
        raise InvalidInputError(
            "settings.mode", settings["mode"], f"{mission.code} has {mission.processing_modes}"
        )
    trigger = ProductionTrigger(
        mission=mission,
        name=spec.name,
        kind=spec.kind,
        template_name=spec.template,
        enabled=spec.enabled,
        priority=spec.priority,
        delay_s=spec.delay_s,
        execution_delay_s=spec.execution_delay_s,
        catch_up=spec.catch_up,
        settings=settings,
        created_by=user,
        active_since=utc_now(),
    )
    session.add(trigger)
    session.flush()
    return trigger


def get_trigger(session: Session, mission: str, name: str) -> ProductionTrigger:
    """:raises NotFoundError: naming the mission and trigger."""
    mission_row = get_mission(session, mission)
    trigger = session.scalar(
        select(ProductionTrigger).where(
            ProductionTrigger.mission_id == mission_row.id, ProductionTrigger.name == name
        )
    )
    if trigger is None:
        raise NotFoundError(f"mission {mission_row.code} has no trigger {name!r}")
    return trigger


def list_triggers(session: Session, mission: str | None = None) -> list[ProductionTrigger]:
    """Every trigger (of one mission, or all), by mission and name."""
    query = select(ProductionTrigger)
    if mission is not None:
        query = query.where(ProductionTrigger.mission_id == get_mission(session, mission).id)
    return list(
        session.scalars(query.order_by(ProductionTrigger.mission_id, ProductionTrigger.name))
    )


def set_enabled(session: Session, trigger: ProductionTrigger, enabled: bool) -> None:
    """Enable or disable a trigger. Enabling a disabled one restarts its watch on arriving
    products from now (products that came while it was off make no orders); its timed
    occurrences missed meanwhile follow its ``catch_up``."""
    if enabled and not trigger.enabled:
        trigger.active_since = utc_now()
    trigger.enabled = enabled


# -- occurrences ---------------------------------------------------------------------------


@dataclass
class Occurrence:
    """One (possible) occurrence of a trigger: its key, when it was due (UTC), the window
    (or orbits) of the order it makes and the order fields it sets beyond the template."""

    key: str
    due: datetime
    start: datetime | None = None
    stop: datetime | None = None
    orbits: list[OrbitRange] = field(default_factory=list)
    dynamic: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def window(self) -> str:
        """The window or orbits as text."""
        if self.orbits:
            return ", ".join(f"{o.spacecraft}:{o.orbit_from}-{o.orbit_to}" for o in self.orbits)
        if self.start is None or self.stop is None:
            return "-"
        return f"{_iso(self.start)} .. {_iso(self.stop)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _newest(session: Session, trigger: ProductionTrigger) -> TriggerOccurrence | None:
    return session.scalar(
        select(TriggerOccurrence)
        .where(TriggerOccurrence.trigger_id == trigger.id)
        .order_by(TriggerOccurrence.due_at.desc())
        .limit(1)
    )


def _setting_time(trigger: ProductionTrigger, name: str) -> datetime | None:
    value = trigger.settings.get(name)
    return None if not value else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _since(session: Session, trigger: ProductionTrigger) -> datetime:
    """After which time a timed trigger looks for occurrences: its newest one, else its
    ``start`` setting, else when it was made active."""
    newest = _newest(session, trigger)
    if newest is not None:
        return newest.due_at
    return _setting_time(trigger, "start") or trigger.active_since


def _floor(moment: datetime, period: str) -> tuple[datetime, datetime]:
    """The period of kind ``period`` that ends at or before ``moment``: (start, stop)."""
    if period == "hour":
        stop = moment.replace(minute=0, second=0, microsecond=0)
        return stop - timedelta(hours=1), stop
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day - timedelta(days=1), day
    if period == "week":
        stop = day - timedelta(days=day.weekday())
        return stop - timedelta(days=7), stop
    stop = day.replace(day=1)
    start = (stop - timedelta(days=1)).replace(day=1)
    return start, stop


def _times(trigger: ProductionTrigger, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(previous, this) occurrence times of an interval or calendar trigger after ``after``."""
    settings = trigger.settings
    end = _setting_time(trigger, "stop")
    if trigger.kind is TriggerKind.TIME_INTERVAL:
        step = timedelta(seconds=int(settings["interval_s"]))
        anchor = _setting_time(trigger, "start") or trigger.created_at
        k = max(1, int((after - anchor) / step) + 1) if after >= anchor else 1
        while True:
            moment = anchor + k * step
            if end is not None and moment > end:
                return
            if moment > after:
                yield moment - step, moment
            k += 1
    cron = _cron_trigger(settings["cron"])
    previous: datetime | None = None
    moment = cron.get_next_fire_time(None, after + timedelta(microseconds=1))
    while moment is not None:
        moment = moment.astimezone(UTC)
        if end is not None and moment > end:
            return
        if moment > after:
            yield (previous or moment), moment
            previous = moment
        moment = cron.get_next_fire_time(moment, moment + timedelta(seconds=1))


def _timed_occurrence(
    trigger: ProductionTrigger, previous: datetime, moment: datetime
) -> Occurrence:
    if (
        trigger.kind is TriggerKind.CALENDAR
        and trigger.settings.get("period") != "previous_occurrence"
    ):
        start, stop = _floor(moment, str(trigger.settings.get("period", "day")))
    else:
        start, stop = previous, moment
    return Occurrence(
        f"time:{_iso(moment)}", moment, start, stop, source=f"{trigger.kind.value} {_iso(moment)}"
    )


def pending_occurrences(
    session: Session, trigger: ProductionTrigger, now: datetime, *, limit: int = MAX_CATCH_UP
) -> list[Occurrence]:
    """The occurrences due now and not yet made, after ``catch_up`` (nothing is written)."""
    delay = timedelta(seconds=trigger.delay_s)
    if trigger.kind in (TriggerKind.TIME_INTERVAL, TriggerKind.CALENDAR):
        since = _since(session, trigger)
        due: list[Occurrence] = []
        previous_due: datetime | None = None
        for previous, moment in _times(trigger, since):
            if moment + delay > now:
                break
            if trigger.kind is TriggerKind.CALENDAR and previous == moment:
                previous = previous_due or since
            due.append(_timed_occurrence(trigger, previous, moment))
            previous_due = moment
            if trigger.catch_up is CatchUp.ALL and len(due) >= limit:
                break
            if len(due) > 10 * limit:  # LATEST/NONE over a very long gap: keep the tail
                due = due[-limit:]
        return _catch_up(trigger, due, now, delay)
    if trigger.kind is TriggerKind.ORBIT:
        since = _since(session, trigger)
        rows = session.execute(
            select(Orbit.orbit_number, Orbit.start_time, Orbit.stop_time)
            .join(Spacecraft)
            .where(
                Spacecraft.mission_id == trigger.mission_id,
                Spacecraft.code == trigger.settings["spacecraft"],
                Orbit.stop_time > since,
                Orbit.stop_time <= now - delay,
            )
            .order_by(Orbit.stop_time)
            .limit(10 * limit)
        ).all()
        spacecraft = str(trigger.settings["spacecraft"])
        due = [
            Occurrence(
                f"orbit:{spacecraft}:{number}",
                stop,
                start,
                stop,
                orbits=[
                    OrbitRange.model_validate(
                        {"spacecraft": spacecraft, "from": number, "to": number}
                    )
                ],
                source=f"orbit {spacecraft}:{number} ended {_iso(stop)}",
            )
            for number, start, stop in rows
        ]
        return _catch_up(trigger, due, now, delay)
    if trigger.kind is TriggerKind.DATA_DRIVEN:
        return _data_driven(session, trigger, limit)
    return _datatakes(session, trigger, now, limit)


def _catch_up(
    trigger: ProductionTrigger, due: list[Occurrence], now: datetime, delay: timedelta
) -> list[Occurrence]:
    if not due or trigger.catch_up is CatchUp.ALL:
        return due[:MAX_CATCH_UP]
    if trigger.catch_up is CatchUp.LATEST:
        return due[-1:]
    return [o for o in due if o.due + delay >= now - GRACE]


def _arrivals(session: Session, trigger: ProductionTrigger) -> datetime:
    newest = _newest(session, trigger)
    if newest is None:
        return trigger.active_since
    return max(trigger.active_since, newest.created_at - LOOK_BACK)


def _fired(session: Session, trigger: ProductionTrigger, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    return set(
        session.scalars(
            select(TriggerOccurrence.occurrence_key).where(
                TriggerOccurrence.trigger_id == trigger.id,
                TriggerOccurrence.occurrence_key.in_(keys),
            )
        )
    )


def _class_id(session: Session, trigger: ProductionTrigger) -> int:
    class_id = session.scalar(
        select(ProductClass.id).where(
            ProductClass.mission_id == trigger.mission_id,
            ProductClass.product_type == trigger.settings["product_type"],
        )
    )
    if class_id is None:
        raise InvalidInputError(
            "settings.product_type", trigger.settings["product_type"], "no longer a product class"
        )
    return class_id


def _data_driven(session: Session, trigger: ProductionTrigger, limit: int) -> list[Occurrence]:
    settings = trigger.settings
    conditions = [
        Product.product_class_id == _class_id(session, trigger),
        ProductFile.created_at >= _arrivals(session, trigger),
    ]
    if settings.get("file_class"):
        conditions.append(Product.file_class == settings["file_class"])
    if settings.get("mode"):
        conditions.append(Product.mode == settings["mode"])
    for key, value in dict(settings.get("parameters") or {}).items():
        conditions.append(
            Product.parameters.any(
                and_(ProductParameter.key == key, ProductParameter.value == value)
            )
        )
    rows = session.execute(
        select(Product.id, Product.uuid, func.min(ProductFile.created_at))
        .join(ProductFile, ProductFile.product_id == Product.id)
        .where(*conditions, Product.enclosing_product_id.is_(None))
        .group_by(Product.id, Product.uuid)
        .order_by(func.min(ProductFile.created_at), Product.id)
        .limit(10 * limit)
    ).all()
    keys = {f"product:{uuid}": (pid, arrived) for pid, uuid, arrived in rows}
    done = _fired(session, trigger, list(keys))
    wanted = [(key, pid, arrived) for key, (pid, arrived) in keys.items() if key not in done][
        :limit
    ]
    if not wanted:
        return []
    products = {
        p.id: p
        for p in session.scalars(select(Product).where(Product.id.in_([w[1] for w in wanted])))
    }
    copy = list(settings.get("copy_parameters") or [])
    out = []
    for key, pid, arrived in wanted:
        product = products[pid]
        occurrence = Occurrence(
            key,
            arrived,
            product.sensing_start,
            product.sensing_stop,
            source=f"product {pid} ({settings['product_type']}) arrived {_iso(arrived)}",
        )
        if settings.get("window") == "orbit" and product.orbit is not None:
            number = product.orbit.orbit_number
            occurrence.orbits = [
                OrbitRange.model_validate(
                    {"spacecraft": product.orbit.spacecraft.code, "from": number, "to": number}
                )
            ]
        values = {p.key: p.value for p in product.parameters}
        occurrence.dynamic = {k: values[k] for k in copy if k in values}
        out.append(occurrence)
    return out


def _datatakes(
    session: Session, trigger: ProductionTrigger, now: datetime, limit: int
) -> list[Occurrence]:
    settings = trigger.settings
    class_id = _class_id(session, trigger)
    groups = session.execute(
        select(
            ProductParameter.value,
            func.count(func.distinct(Product.id)),
            func.min(Product.sensing_start),
            func.max(Product.sensing_stop),
            func.max(ProductFile.created_at),
        )
        .join(Product, Product.id == ProductParameter.product_id)
        .join(ProductFile, ProductFile.product_id == Product.id)
        .where(
            Product.product_class_id == class_id,
            ProductParameter.key == settings["group_parameter"],
        )
        .group_by(ProductParameter.value)
        .having(func.max(ProductFile.created_at) >= _arrivals(session, trigger))
        .limit(10 * limit)
    ).all()
    keys: dict[str, tuple[int, datetime, datetime, datetime]] = {
        f"datatake:{value}": (int(count), start, stop, last)
        for value, count, start, stop, last in groups
    }
    done = _fired(session, trigger, list(keys))
    expected = settings.get("expected_count")
    quiet = settings.get("quiet_s")
    out = []
    for key, (count, start, stop, last) in keys.items():
        if key in done:
            continue
        complete = expected is not None and count >= int(expected)
        settled = quiet is not None and last + timedelta(seconds=int(quiet)) <= now
        if complete or settled:
            why = f"{count} products" + (" (quiet)" if settled and not complete else "")
            out.append(Occurrence(key, last, start, stop, source=f"{key}: {why}"))
    return sorted(out, key=lambda o: o.due)[:limit]


def upcoming_occurrences(
    session: Session, trigger: ProductionTrigger, now: datetime, count: int
) -> list[Occurrence]:
    """The next ``count`` occurrences of a timed trigger after ``now`` (none for data-driven
    and datatake triggers: they wait for products)."""
    if trigger.kind in (TriggerKind.TIME_INTERVAL, TriggerKind.CALENDAR):
        out = []
        previous_due = max(now, _since(session, trigger))
        for previous, moment in _times(trigger, previous_due):
            if trigger.kind is TriggerKind.CALENDAR and previous == moment:
                previous = previous_due
            out.append(_timed_occurrence(trigger, previous, moment))
            previous_due = moment
            if len(out) >= count:
                break
        return out
    if trigger.kind is TriggerKind.ORBIT:
        spacecraft = str(trigger.settings["spacecraft"])
        rows = session.execute(
            select(Orbit.orbit_number, Orbit.start_time, Orbit.stop_time)
            .join(Spacecraft)
            .where(
                Spacecraft.mission_id == trigger.mission_id,
                Spacecraft.code == spacecraft,
                Orbit.stop_time
                > max(now - timedelta(seconds=trigger.delay_s), _since(session, trigger)),
            )
            .order_by(Orbit.stop_time)
            .limit(count)
        ).all()
        return [
            Occurrence(
                f"orbit:{spacecraft}:{n}",
                stop,
                start,
                stop,
                orbits=[OrbitRange.model_validate({"spacecraft": spacecraft, "from": n, "to": n})],
                source=f"orbit {spacecraft}:{n} ends {_iso(stop)}",
            )
            for n, start, stop in rows
        ]
    return []


# -- firing ----------------------------------------------------------------------------------


def _identifier(trigger: ProductionTrigger, occurrence: Occurrence) -> str:
    kind, _, rest = occurrence.key.partition(":")
    if kind == "time":
        rest = rest.replace("-", "").replace(":", "").replace("+0000", "Z")
    elif kind == "product":
        rest = rest[:8] + "-" + _iso(occurrence.due).replace("-", "").replace(":", "")[:15]
    return f"{trigger.name}-{rest.replace(':', '-')}"[:255]


def occurrence_order_spec(
    session: Session, trigger: ProductionTrigger, occurrence: Occurrence
) -> Any:
    """The :class:`~orderman.orders.OrderSpec` an occurrence makes, and the template used.

    :raises NotFoundError: when the trigger's template is gone.
    :raises InvalidInputError: when the template and the occurrence make no valid order."""
    template = get_template(session, trigger.mission, trigger.template_name)
    overrides: dict[str, Any] = {}
    if "production_type" not in template.settings:
        overrides["production_type"] = ProductionType.SYSTEMATIC.value
    if trigger.priority is not None:
        overrides["priority"] = trigger.priority
    if occurrence.dynamic:
        overrides["dynamic_processing_parameters"] = {
            **dict(template.settings.get("dynamic_processing_parameters") or {}),
            **occurrence.dynamic,
        }
    if trigger.execution_delay_s:
        overrides["execution_time"] = utc_now() + timedelta(seconds=trigger.execution_delay_s)
    spec = order_spec(
        template,
        _identifier(trigger, occurrence),
        start=None if occurrence.orbits else occurrence.start,
        stop=None if occurrence.orbits else occurrence.stop,
        orbits=occurrence.orbits,
        overrides=overrides,
    )
    return spec, template


@dataclass
class FireOutcome:
    """What one occurrence did: ``created`` an order, was ``already`` made, or ``failed``."""

    trigger: str
    key: str
    status: Literal["created", "already", "failed"]
    order_id: int | None = None
    identifier: str | None = None
    message: str | None = None


def fire(
    database: Database,
    trigger_id: int,
    occurrence: Occurrence,
    limits: LimitSettings | None = None,
) -> FireOutcome:
    """Make the occurrence's order, exactly once: the occurrence row and the order are
    written in one transaction, and the unique (trigger, key) refuses a second one. An order
    the template cannot make is recorded on the occurrence (``message``), not retried.
    A transaction that lost the SQLite write lock to another runner is tried again (up to
    :data:`BUSY_RETRIES` times), then :class:`~proseo.errors.DatabaseBusyError` is raised."""
    for attempt in range(BUSY_RETRIES):
        try:
            return _fire(database, trigger_id, occurrence, limits)
        except DatabaseBusyError:
            if attempt == BUSY_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


BUSY_RETRIES = 5


def _fire(
    database: Database,
    trigger_id: int,
    occurrence: Occurrence,
    limits: LimitSettings | None,
) -> FireOutcome:
    try:
        with database.transaction() as session:
            trigger = session.get(ProductionTrigger, trigger_id)
            if trigger is None:
                raise NotFoundError(f"no trigger with id {trigger_id}")
            name = trigger.name
            if _fired(session, trigger, [occurrence.key]):
                return FireOutcome(name, occurrence.key, "already")
            row = TriggerOccurrence(
                trigger=trigger,
                occurrence_key=occurrence.key,
                due_at=occurrence.due,
                window_start=occurrence.start,
                window_stop=occurrence.stop,
            )
            session.add(row)
            session.flush()
            try:
                spec, template = occurrence_order_spec(session, trigger, occurrence)
                row.template_version = template.version
                order = create_order(session, spec, TRIGGER_ACTOR + trigger.name, limits)
            except ProseoError as error:
                row.message = error.message
                log.warning("trigger %s, %s: %s", name, occurrence.key, error.message)
                return FireOutcome(name, occurrence.key, "failed", message=error.message)
            row.processing_order = order
            session.flush()
            return FireOutcome(name, occurrence.key, "created", order.id, order.identifier)
    except ConflictError:  # another runner made it between our check and our insert
        return FireOutcome(str(trigger_id), occurrence.key, "already")


@dataclass
class TriggerReport:
    """What one run of the triggers did."""

    outcomes: list[FireOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        """Orders made."""
        return sum(1 for o in self.outcomes if o.status == "created")


def run_triggers(
    database: Database,
    *,
    mission: str | None = None,
    now: datetime | None = None,
    limits: LimitSettings | None = None,
) -> TriggerReport:
    """Fire every enabled trigger's pending occurrences (of one mission, or all). A trigger
    whose evaluation fails is reported and the others go on."""
    report = TriggerReport()
    with database.transaction() as session:
        triggers = [(t.id, t.name) for t in list_triggers(session, mission) if t.enabled]
    for trigger_id, name in triggers:
        moment = now or utc_now()
        try:
            with database.transaction() as session:
                trigger = session.get(ProductionTrigger, trigger_id)
                if trigger is None or not trigger.enabled:
                    continue
                pending = pending_occurrences(session, trigger, moment)
        except ProseoError as error:
            report.errors.append(f"trigger {name}: {error.message}")
            continue
        for occurrence in pending:
            report.outcomes.append(fire(database, trigger_id, occurrence, limits))
    return report


def trigger_view(
    session: Session, trigger: ProductionTrigger, *, occurrences: int = 0
) -> dict[str, Any]:
    """A trigger as JSON data, with its newest ``occurrences``."""
    data: dict[str, Any] = {
        "id": trigger.id,
        "mission": trigger.mission.code,
        "name": trigger.name,
        "kind": trigger.kind.value,
        "template": trigger.template_name,
        "enabled": trigger.enabled,
        "priority": trigger.priority,
        "delay_s": trigger.delay_s,
        "execution_delay_s": trigger.execution_delay_s,
        "catch_up": trigger.catch_up.value,
        "settings": trigger.settings,
        "active_since": _iso(trigger.active_since),
        "created_by": trigger.created_by,
        "occurrences": session.scalar(
            select(func.count(TriggerOccurrence.id)).where(
                TriggerOccurrence.trigger_id == trigger.id
            )
        ),
    }
    if occurrences:
        rows = session.scalars(
            select(TriggerOccurrence)
            .where(TriggerOccurrence.trigger_id == trigger.id)
            .order_by(TriggerOccurrence.due_at.desc(), TriggerOccurrence.id.desc())
            .limit(occurrences)
        ).all()
        data["recent"] = [
            {
                "key": o.occurrence_key,
                "due_at": _iso(o.due_at),
                "window_start": None if o.window_start is None else _iso(o.window_start),
                "window_stop": None if o.window_stop is None else _iso(o.window_stop),
                "template_version": o.template_version,
                "order": None if o.processing_order is None else o.processing_order.identifier,
                "message": o.message,
            }
            for o in rows
        ]
    return data


def preview(
    session: Session, trigger: ProductionTrigger, now: datetime, upcoming: int = 0
) -> list[dict[str, Any]]:
    """The orders the trigger would make now (pending occurrences) and, for timed triggers,
    at its next ``upcoming`` occurrences: writes nothing.

    Each entry: key, due time, ``pending`` or ``upcoming``, window, order identifier, and the
    validation error when the template would not make a valid order."""
    out = []
    for when, items in (
        ("pending", pending_occurrences(session, trigger, now)),
        ("upcoming", upcoming_occurrences(session, trigger, now, upcoming) if upcoming else []),
    ):
        for occurrence in items:
            entry: dict[str, Any] = {
                "key": occurrence.key,
                "due_at": _iso(occurrence.due),
                "when": when,
                "window": occurrence.window(),
                "source": occurrence.source,
            }
            try:
                spec, template = occurrence_order_spec(session, trigger, occurrence)
                entry["order"] = spec.identifier
                entry["template_version"] = template.version
                entry["requested_product_classes"] = spec.requested_product_classes
            except ProseoError as error:
                entry["error"] = error.message
            out.append(entry)
    return out


__all__ = [
    "TIMED",
    "FireOutcome",
    "Occurrence",
    "TriggerReport",
    "TriggerSpec",
    "create_trigger",
    "fire",
    "get_trigger",
    "list_triggers",
    "parse_trigger_spec",
    "pending_occurrences",
    "preview",
    "run_triggers",
    "set_enabled",
    "trigger_view",
    "upcoming_occurrences",
]
