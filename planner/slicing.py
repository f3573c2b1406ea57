"""Cutting a processing order's window into job windows (shared DOMAIN.md, "Slicing").

All times are UTC. Every time slicing (ORBIT, CALENDAR_*, TIME_SLICE) widens each slice by
half the order's slice overlap on both sides; NONE gives one job for the whole window.
Calendar units and time slices are half-open: a unit that only touches the window's stop is
not included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from proseo.enums import SlicingType
from proseo.errors import InvalidInputError


@dataclass(frozen=True)
class JobWindow:
    """One job: its window (UTC) and, for ORBIT slicing, the orbit (database id and number)."""

    start: datetime
    stop: datetime
    orbit_id: int | None = None
    orbit_number: int | None = None


@dataclass(frozen=True)
class OrbitInfo:
    """An orbit as slicing needs it."""

    id: int
    number: int
    start: datetime
    stop: datetime


def _widen(window: JobWindow, overlap: timedelta) -> JobWindow:
    if not overlap:
        return window
    half = overlap / 2
    return JobWindow(window.start - half, window.stop + half, window.orbit_id, window.orbit_number)


def _calendar_start(moment: datetime, unit: SlicingType) -> datetime:
    moment = moment.astimezone(UTC)
    if unit is SlicingType.CALENDAR_DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit is SlicingType.CALENDAR_MONTH:
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_unit(start: datetime, unit: SlicingType) -> datetime:
    if unit is SlicingType.CALENDAR_DAY:
        return start + timedelta(days=1)
    if unit is SlicingType.CALENDAR_MONTH:
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def slice_order(
    slicing: SlicingType,
    start: datetime | None,
    stop: datetime | None,
    *,
    slice_duration: timedelta | None = None,
    overlap: timedelta = timedelta(0),
    orbits: Sequence[OrbitInfo] = (),
) -> list[JobWindow]:
    """The job windows of an order.

    :param orbits: for ORBIT slicing, the requested orbits (already resolved).
    :raises InvalidInputError: naming the field that makes slicing impossible (no window,
        stop before start, missing or non-positive slice duration, no orbits).
    """
    if slicing is SlicingType.ORBIT:
        if not orbits:
            raise InvalidInputError("orbits", [], "ORBIT slicing needs requested orbits")
        return [
            _widen(JobWindow(o.start, o.stop, o.id, o.number), overlap)
            for o in sorted(orbits, key=lambda o: o.number)
        ]
    if start is None or stop is None:
        raise InvalidInputError("start_time/stop_time", (start, stop), f"{slicing} needs a window")
    if stop < start:
        raise InvalidInputError("stop_time", stop, f"is before start_time {start.isoformat()}")
    if slicing is SlicingType.NONE:
        return [JobWindow(start, stop)]
    try:
        windows = _time_windows(slicing, start, stop, slice_duration)
    except (OverflowError, ValueError):  # a date past 9999-12-31
        raise InvalidInputError(
            "stop_time", stop.isoformat(), f"{slicing.value} slicing runs past the year 9999"
        ) from None
    return [_widen(w, overlap) for w in windows]


def count_job_windows(
    slicing: SlicingType,
    start: datetime | None,
    stop: datetime | None,
    slice_duration: timedelta | None = None,
    orbit_count: int = 0,
) -> int:
    """How many job windows :func:`slice_order` would make, computed without making them
    (to refuse an order that is too large before anything is built). ``orbit_count`` is the
    number of requested orbits for ORBIT slicing."""
    if slicing is SlicingType.ORBIT:
        return orbit_count
    if start is None or stop is None or stop < start:
        return 0
    if slicing is SlicingType.NONE:
        return 1
    if slicing is SlicingType.TIME_SLICE:
        if slice_duration is None or slice_duration <= timedelta(0):
            return 0
        return max(1, -(-(stop - start) // slice_duration))
    first = _calendar_start(start, slicing)
    if slicing is SlicingType.CALENDAR_DAY:
        return max(1, -(-(stop - first) // timedelta(days=1)))
    partial = stop > _calendar_start(stop, slicing)  # the last unit is only begun
    if slicing is SlicingType.CALENDAR_MONTH:
        months = (stop.year - first.year) * 12 + stop.month - first.month
        return max(1, months + partial)
    return max(1, stop.year - first.year + partial)


def _time_windows(
    slicing: SlicingType, start: datetime, stop: datetime, slice_duration: timedelta | None
) -> list[JobWindow]:
    windows: list[JobWindow] = []
    if slicing is SlicingType.TIME_SLICE:
        if slice_duration is None or slice_duration <= timedelta(0):
            raise InvalidInputError(
                "slice_duration", slice_duration, "TIME_SLICE needs a positive slice duration"
            )
        cursor = start
        while True:
            windows.append(JobWindow(cursor, cursor + slice_duration))
            cursor += slice_duration
            if cursor >= stop:
                break
    else:
        cursor = _calendar_start(start, slicing)
        while True:
            following = _next_unit(cursor, slicing)
            windows.append(JobWindow(cursor, following))
            cursor = following
            if cursor >= stop:
                break
    return windows
