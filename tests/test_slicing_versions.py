"""Slicing an order window into jobs, and comparing versions as versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planner.slicing import JobWindow, OrbitInfo, slice_order
from planner.versions import version_key
from proseo.enums import SlicingType
from proseo.errors import InvalidInputError


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def spans(windows: list[JobWindow]) -> list[tuple[datetime, datetime]]:
    return [(w.start, w.stop) for w in windows]


def test_none_is_one_job() -> None:
    assert spans(slice_order(SlicingType.NONE, t(2020, 1, 1), t(2020, 3, 1))) == [
        (t(2020, 1, 1), t(2020, 3, 1))
    ]


def test_calendar_day_touching_units_only() -> None:
    windows = slice_order(SlicingType.CALENDAR_DAY, t(2020, 1, 1, 12), t(2020, 1, 3))
    assert spans(windows) == [(t(2020, 1, 1), t(2020, 1, 2)), (t(2020, 1, 2), t(2020, 1, 3))]
    zero = slice_order(SlicingType.CALENDAR_DAY, t(2020, 1, 1, 12), t(2020, 1, 1, 12))
    assert spans(zero) == [(t(2020, 1, 1), t(2020, 1, 2))]


def test_calendar_month_and_year_across_year_end() -> None:
    months = slice_order(SlicingType.CALENDAR_MONTH, t(2019, 11, 15), t(2020, 1, 1, 0, 0, 1))
    assert spans(months) == [
        (t(2019, 11, 1), t(2019, 12, 1)),
        (t(2019, 12, 1), t(2020, 1, 1)),
        (t(2020, 1, 1), t(2020, 2, 1)),
    ]
    years = slice_order(SlicingType.CALENDAR_YEAR, t(2019, 6, 1), t(2020, 6, 1))
    assert spans(years) == [(t(2019, 1, 1), t(2020, 1, 1)), (t(2020, 1, 1), t(2021, 1, 1))]


def test_time_slice_with_overlap_widens_each_slice() -> None:
    windows = slice_order(
        SlicingType.TIME_SLICE,
        t(2020, 1, 1),
        t(2020, 1, 1, 5),
        slice_duration=timedelta(hours=2),
        overlap=timedelta(minutes=20),
    )
    assert spans(windows) == [
        (t(2020, 1, 1, 0) - timedelta(minutes=10), t(2020, 1, 1, 2, 10)),
        (t(2020, 1, 1, 1, 50), t(2020, 1, 1, 4, 10)),
        (t(2020, 1, 1, 3, 50), t(2020, 1, 1, 6, 10)),
    ]


def test_orbit_slicing_with_overlap() -> None:
    orbits = [
        OrbitInfo(7, 101, t(2020, 1, 1, 1), t(2020, 1, 1, 2)),
        OrbitInfo(6, 100, t(2020, 1, 1, 0), t(2020, 1, 1, 1)),
    ]
    windows = slice_order(
        SlicingType.ORBIT, None, None, orbits=orbits, overlap=timedelta(minutes=2)
    )
    assert [(w.orbit_number, w.orbit_id) for w in windows] == [(100, 6), (101, 7)]
    assert windows[0].start == t(2020, 1, 1) - timedelta(minutes=1)
    assert windows[0].stop == t(2020, 1, 1, 1, 1)


@pytest.mark.parametrize(
    ("slicing", "kwargs", "field"),
    [
        (SlicingType.ORBIT, {}, "orbits"),
        (SlicingType.TIME_SLICE, {"slice_duration": timedelta(0)}, "slice_duration"),
        (SlicingType.CALENDAR_DAY, {"start": None}, "start_time/stop_time"),
    ],
)
def test_slicing_refuses_what_it_cannot_cut(
    slicing: SlicingType, kwargs: dict[str, object], field: str
) -> None:
    start = kwargs.pop("start", t(2020, 1, 1))
    with pytest.raises(InvalidInputError) as info:
        slice_order(slicing, start, t(2020, 1, 2), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_versions_compare_as_versions() -> None:
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("10.0") > version_key("9.2")
    assert version_key("02.04.00") == version_key("2.4")
    assert version_key("1.0.0-rc1") < version_key("1.0.0")
    assert version_key("OFFL_1.0") < version_key("OFFL_1.1")
    assert max(["1.9.0", "1.10.0", "1.2"], key=version_key) == "1.10.0"
