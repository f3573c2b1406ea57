"""Processing orders: specification, validation and creation; look-up and listing.

An :class:`OrderSpec` is what an operator gives (CLI flags, a YAML/JSON file or the REST API).
:func:`create_order` validates it against the catalogue and stores the order in state
INITIAL. Every refusal names the field and the value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from planner.slicing import count_job_windows
from proseo.catalogue.facilities import get_facility
from proseo.catalogue.missions import get_mission
from proseo.config import LimitSettings
from proseo.db.wakeup import ORDERS, announce
from proseo.enums import (
    ParameterType,
    ProductionType,
    ProductQuality,
    SlicingType,
    StatefulEntity,
)
from proseo.errors import ConflictError, InvalidInputError, NotFoundError
from proseo.model import (
    ConfiguredProcessor,
    Mission,
    Orbit,
    OrderInputFilter,
    OrderOrbitRange,
    OrderOutputParameter,
    ProcessingOrder,
    ProductClass,
    Spacecraft,
)
from proseo.model.history import StateHistory
from proseo.validation import JsonInt, load_input, validate_input


class OrbitRange(BaseModel):
    """Orbits ``from``..``to`` (inclusive) of one spacecraft."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    spacecraft: str = Field(min_length=1, max_length=100)
    orbit_from: JsonInt = Field(alias="from", ge=0, le=2**31 - 1)
    orbit_to: JsonInt = Field(alias="to", ge=0, le=2**31 - 1)


class OrderSettings(BaseModel):
    """Every setting of a processing order but its mission, identifier and window: what an
    order template holds (:mod:`orderman.templates`).

    ``input_filters`` maps a product type to ``key: value`` conditions its input products
    must meet; ``output_parameters`` are given to every output product;
    ``input_product_classes`` is the stop list (never produced by this order);
    ``file_class`` of the outputs defaults to the mission's first file class (output file
    names must follow the mission's own naming pattern). ``auto_release``: released as soon
    as planned; ``auto_close``: closed as soon as completed; ``product_retention_s``: how
    long the outputs are kept (seconds).
    """

    model_config = ConfigDict(extra="forbid")

    requested_product_classes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    slicing_type: SlicingType = SlicingType.NONE
    slice_duration_s: float | None = Field(default=None, ge=0.001, le=1e10)
    slice_overlap_s: float = Field(default=0, ge=0, le=1e10)
    file_class: str | None = None
    processing_mode: str | None = None
    product_quality: ProductQuality = ProductQuality.NOMINAL
    priority: JsonInt = Field(default=50, ge=0, le=1000)
    production_type: ProductionType = ProductionType.ON_DEMAND_DEFAULT
    input_filters: dict[str, dict[str, str]] = Field(default_factory=dict)
    output_parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    dynamic_processing_parameters: dict[str, str] = Field(default_factory=dict)
    configured_processors: list[str] = Field(default_factory=list)
    input_product_classes: list[str] = Field(default_factory=list)
    processing_facility: str | None = None
    input_data_timeout_s: JsonInt | None = Field(
        default=None, gt=0, le=2**31 - 1, json_schema_extra={"minimum": 1, "maximum": 2**31 - 1}
    )
    release_on_input_timeout: bool = False
    max_retries: JsonInt = Field(default=0, ge=0, le=100)
    notification_endpoint: str | None = Field(
        default=None, max_length=2000, pattern=r"^https?://[^\s/]+"
    )
    auto_release: bool = False
    auto_close: bool = False
    product_retention_s: JsonInt | None = Field(
        default=None,
        ge=1,
        le=100 * 366 * 86400,
        json_schema_extra={"minimum": 1, "maximum": 100 * 366 * 86400},
    )

    @field_validator("dynamic_processing_parameters", "output_parameters", "input_filters")
    @classmethod
    def _job_order_text(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            texts = [key, *(item.keys() if isinstance(item, dict) else ())]
            texts += [str(v) for v in (item.values() if isinstance(item, dict) else [item])]
            for text in texts:
                bad = _XML_FORBIDDEN.search(text)
                if bad is not None:
                    raise ValueError(
                        f"{text!r} holds the control character {bad.group()!r}, which a Job "
                        "Order File (XML 1.0) cannot carry"
                    )
        return value


class OrderSpec(OrderSettings):
    """A processing order as an operator writes it (times UTC, ISO 8601 in files): its
    settings (:class:`OrderSettings`), mission, identifier, and time window or orbits.
    ``execution_time``: none of its job steps starts before (UTC)."""

    mission: str = Field(min_length=1, max_length=20)
    identifier: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    start_time: datetime | None = None
    stop_time: datetime | None = None
    orbits: list[OrbitRange] = Field(default_factory=list)
    execution_time: datetime | None = None

    @field_validator("start_time", "stop_time", "execution_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone (use Z for UTC)")
        return None if value is None else value.astimezone(UTC)


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot hold (W3C XML 1.0, section 2.2 "Characters")."""


def parse_order_spec(data: Any, source: str = "order") -> OrderSpec:
    """Validate plain data as an :class:`OrderSpec`.

    :raises InvalidInputError: naming the field path and value.
    """
    return validate_input(OrderSpec, data, source)


def _check_size(session: Session, spec: OrderSpec, mission: Mission, limits: LimitSettings) -> None:
    """Refuse orbits the catalogue lacks and orders larger than ``limits.max_job_windows``."""
    orbits = 0
    for r in spec.orbits:
        wanted = r.orbit_to - r.orbit_from + 1
        stored = session.scalar(
            select(func.count(Orbit.id))
            .join(Spacecraft)
            .where(
                Spacecraft.mission_id == mission.id,
                Spacecraft.code == r.spacecraft,
                Orbit.orbit_number.between(r.orbit_from, r.orbit_to),
            )
        )
        if stored != wanted:
            known = session.execute(
                select(func.min(Orbit.orbit_number), func.max(Orbit.orbit_number))
                .join(Spacecraft)
                .where(Spacecraft.mission_id == mission.id, Spacecraft.code == r.spacecraft)
            ).one()
            have = f"{known[0]}-{known[1]}" if known[0] is not None else "none"
            raise InvalidInputError(
                "orbits",
                f"{r.spacecraft}:{r.orbit_from}-{r.orbit_to}",
                f"only {stored} of these {wanted} orbits are in the catalogue (stored: {have}; "
                f"'proseo mission sync {mission.code} --orbits FIRST-LAST' adds more)",
            )
        orbits += wanted
    if spec.slicing_type is SlicingType.ORBIT and not spec.orbits and spec.start_time:
        orbits = (
            session.scalar(
                select(func.count(Orbit.id))
                .join(Spacecraft)
                .where(
                    Spacecraft.mission_id == mission.id,
                    Orbit.start_time < spec.stop_time,
                    Orbit.stop_time > spec.start_time,
                )
            )
            or 0
        )
    duration = None if spec.slice_duration_s is None else timedelta(seconds=spec.slice_duration_s)
    windows = count_job_windows(
        spec.slicing_type, spec.start_time, spec.stop_time, duration, orbits
    )
    if windows > limits.max_job_windows:
        raise InvalidInputError(
            "slicing_type",
            spec.slicing_type.value,
            f"gives {windows} job windows, more than the {limits.max_job_windows} one order "
            "may have (setting limits.max_job_windows); split the production into several "
            "orders (a reprocessing campaign)",
        )


def load_order_spec(path: Path) -> OrderSpec:
    """Read an order from a YAML or JSON file. :raises InvalidInputError: naming file/field."""
    return load_input(OrderSpec, path, "order file")


def _parameter(value: str | int | float | bool) -> tuple[ParameterType, str]:
    if isinstance(value, bool):
        return ParameterType.BOOLEAN, str(value).lower()
    if isinstance(value, int):
        return ParameterType.INTEGER, str(value)
    if isinstance(value, float):
        return ParameterType.DOUBLE, repr(value)
    return ParameterType.STRING, value


def create_order(
    session: Session,
    spec: OrderSpec,
    user: str | None = None,
    limits: LimitSettings | None = None,
) -> ProcessingOrder:
    """Validate ``spec`` against the catalogue and store the order (state INITIAL), created
    by ``user`` (recorded in the order and its state history).

    :raises: as :func:`build_order`.
    """
    order = build_order(session, spec, user, limits)
    session.add(order)
    session.flush()
    session.add(
        StateHistory(
            entity_type=StatefulEntity.PROCESSING_ORDER,
            entity_id=order.id,
            from_state=None,
            to_state=order.state.value,
            changed_by=user,
            reason="created",
        )
    )
    announce(session, ORDERS)
    return order


def build_order(
    session: Session,
    spec: OrderSpec,
    user: str | None = None,
    limits: LimitSettings | None = None,
    *,
    check_identifier: bool = True,
) -> ProcessingOrder:
    """Validate ``spec`` against the catalogue and build the order (not added to the
    session); ``check_identifier`` refuses an identifier the mission already has.

    :raises NotFoundError: for an unknown mission.
    :raises InvalidInputError: naming the field and value that is wrong (unknown product
        class, a requested class nothing produces, window or slicing inconsistencies,
        unknown file class, mode, configured processor, facility or spacecraft).
    :raises ConflictError: when the mission has an order with this identifier.
    :raises InvalidInputError: when requested orbits are not in the catalogue, or the order
        would have more job windows than ``limits.max_job_windows`` allows (default
        settings when ``limits`` is not given).
    """
    mission = get_mission(session, spec.mission)
    classes = {
        pc.product_type: pc
        for pc in session.scalars(select(ProductClass).where(ProductClass.mission_id == mission.id))
    }

    def product_class(field: str, product_type: str) -> ProductClass:
        if product_type not in classes:
            raise InvalidInputError(
                field, product_type, f"not a product class of mission {mission.code}"
            )
        return classes[product_type]

    requested = [
        product_class("requested_product_classes", t) for t in spec.requested_product_classes
    ]
    for pc in requested:
        if pc.processor_class_id is None:
            raise InvalidInputError(
                "requested_product_classes",
                pc.product_type,
                "no processor produces it (an input class)",
            )
    stop_list = [product_class("input_product_classes", t) for t in spec.input_product_classes]
    if (spec.start_time is None) != (spec.stop_time is None):
        raise InvalidInputError(
            "start_time/stop_time", (spec.start_time, spec.stop_time), "give both or neither"
        )
    if spec.start_time and spec.stop_time and spec.stop_time < spec.start_time:
        raise InvalidInputError(
            "stop_time",
            spec.stop_time.isoformat(),
            f"is before start_time {spec.start_time.isoformat()}",
        )
    if spec.slicing_type is SlicingType.ORBIT and not spec.orbits and spec.start_time is None:
        raise InvalidInputError("orbits", [], "ORBIT slicing needs orbits or a time window")
    if spec.slicing_type is not SlicingType.ORBIT and spec.start_time is None:
        raise InvalidInputError(
            "start_time", None, f"{spec.slicing_type.value} slicing needs a time window"
        )
    if spec.slicing_type is SlicingType.TIME_SLICE and spec.slice_duration_s is None:
        raise InvalidInputError(
            "slice_duration_s", None, "TIME_SLICE slicing needs a slice duration"
        )
    if spec.file_class is not None and spec.file_class not in mission.file_classes:
        raise InvalidInputError(
            "file_class", spec.file_class, f"mission {mission.code} has {mission.file_classes}"
        )
    if spec.processing_mode is not None and spec.processing_mode not in mission.processing_modes:
        raise InvalidInputError(
            "processing_mode",
            spec.processing_mode,
            f"mission {mission.code} has {mission.processing_modes}",
        )
    spacecraft_codes = {
        s.code
        for s in session.scalars(select(Spacecraft).where(Spacecraft.mission_id == mission.id))
    }
    for orbit_range in spec.orbits:
        if orbit_range.spacecraft not in spacecraft_codes:
            raise InvalidInputError(
                "orbits.spacecraft",
                orbit_range.spacecraft,
                f"not a spacecraft of mission {mission.code}",
            )
        if orbit_range.orbit_to < orbit_range.orbit_from:
            raise InvalidInputError(
                "orbits", f"{orbit_range.orbit_from}-{orbit_range.orbit_to}", "to is below from"
            )
    _check_size(session, spec, mission, limits or LimitSettings())
    configured = []
    for identifier in spec.configured_processors:
        cp = session.scalar(
            select(ConfiguredProcessor).where(ConfiguredProcessor.identifier == identifier)
        )
        if cp is None or not cp.enabled:
            raise InvalidInputError(
                "configured_processors", identifier, "no such enabled configured processor"
            )
        configured.append(cp)
    facility = get_facility(session, spec.processing_facility)
    filters = []
    for product_type, conditions in spec.input_filters.items():
        pc = product_class("input_filters", product_type)
        for key, value in conditions.items():
            filters.append(OrderInputFilter(product_class=pc, key=key, value=str(value)))
    if check_identifier and session.scalar(
        select(ProcessingOrder.id).where(
            ProcessingOrder.mission_id == mission.id, ProcessingOrder.identifier == spec.identifier
        )
    ):
        raise ConflictError(
            f"mission {mission.code} already has an order {spec.identifier!r}",
            field="identifier",
            value=spec.identifier,
        )
    order = ProcessingOrder(
        mission=mission,
        identifier=spec.identifier,
        created_by=user,
        processing_facility=facility,
        start_time=spec.start_time,
        stop_time=spec.stop_time,
        slicing_type=spec.slicing_type,
        slice_duration_ms=None
        if spec.slice_duration_s is None
        else round(spec.slice_duration_s * 1000),
        slice_overlap_ms=round(spec.slice_overlap_s * 1000),
        file_class=spec.file_class or next(iter(mission.file_classes), None),
        processing_mode=spec.processing_mode,
        product_quality=spec.product_quality,
        priority=spec.priority,
        production_type=spec.production_type,
        input_data_timeout_s=spec.input_data_timeout_s,
        release_on_input_timeout=spec.release_on_input_timeout,
        max_retries=spec.max_retries,
        dynamic_processing_parameters=dict(spec.dynamic_processing_parameters),
        notification_endpoint=spec.notification_endpoint,
        execution_time=spec.execution_time,
        auto_release=spec.auto_release,
        auto_close=spec.auto_close,
        product_retention_s=spec.product_retention_s,
        requested_product_classes=requested,
        input_product_classes=stop_list,
        requested_configured_processors=configured,
        orbit_ranges=[
            OrderOrbitRange(
                spacecraft_code=o.spacecraft, orbit_from=o.orbit_from, orbit_to=o.orbit_to
            )
            for o in spec.orbits
        ],
        input_filters=filters,
        output_parameters=[
            OrderOutputParameter(key=k, parameter_type=t, value=v)
            for k, (t, v) in ((k, _parameter(v)) for k, v in spec.output_parameters.items())
        ],
    )
    return order


def get_order(session: Session, order_id: int, *, lock: bool = False) -> ProcessingOrder:
    """The order with ``order_id`` (locked ``FOR UPDATE`` when ``lock``).

    :raises NotFoundError: naming the id.
    """
    query = select(ProcessingOrder).where(ProcessingOrder.id == order_id)
    if lock:
        query = query.with_for_update()
    order = session.scalar(query)
    if order is None:
        raise NotFoundError(f"no processing order with id {order_id}")
    return order
