"""Reference evaluation of selection rules over a plain list of products.

This is the executable specification of the policy semantics in shared DOMAIN.md; the
set-based evaluator (:mod:`planner.rules.sql`) must agree with it on every case.

Conventions (all times UTC, compared in integer microseconds):

* A validity [start, stop] with start < stop is the half-open interval [start, stop); a
  zero-length one is the instant {start}. Two validities *intersect* when they share an
  instant, so consecutive granules that only touch do not intersect, and a zero-length
  window intersects the product whose validity contains that instant.
* A product *covers* W when start <= W.start and stop >= W.stop.
* "Latest" is the latest generation time; products without one count as oldest. Every
  remaining tie is broken by the highest product id (the most recently catalogued).
* Policies without deltas (LatestValidity, LatestStartValidity, LatestStopValidity,
  LastCreated) and the "closest" policies LatestValidityClosest, ClosestStartValidity and
  ClosestStopValidity choose among all products of the source type (that pass the filters);
  the others among those intersecting or covering the search window W.
* Coverage is the share of the *job* window covered by the union of the selected validities;
  for a zero-length job window it is 100 % when a selected validity contains the instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from proseo.enums import PolicyType
from proseo.rule_language import Policy, SimpleRule

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Product attributes that filter keys can name (other keys name product parameters).
PRODUCT_FIELD_FILTERS: dict[str, str] = {
    "fileClass": "file_class",
    "mode": "mode",
    "productQuality": "product_quality",
}


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00Z of an aware datetime (exact)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class TimeWindow:
    """A job window [start, stop] (UTC); ``key`` identifies it in set-based results."""

    start: datetime
    stop: datetime
    key: int = 0

    def __post_init__(self) -> None:
        if self.stop < self.start:
            raise ValueError(f"time window stops ({self.stop}) before it starts ({self.start})")


@dataclass(frozen=True)
class ProductInfo:
    """What selection needs to know of a product (plain data, no ORM)."""

    id: int
    product_type: str
    sensing_start: datetime
    sensing_stop: datetime
    generation_time: datetime | None = None
    file_class: str | None = None
    mode: str | None = None
    product_quality: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def matches(self, filters: Iterable[tuple[str, str]]) -> bool:
        """Whether every ``key:value`` filter holds (product fields first, else parameters)."""
        fields = {name: getattr(self, name) for name in PRODUCT_FIELD_FILTERS.values()}
        return filters_hold(filters, fields, self.parameters)


def filters_hold(
    filters: Iterable[tuple[str, str]], fields: Mapping[str, Any], parameters: Mapping[str, Any]
) -> bool:
    """Whether every ``key:value`` filter of a selection rule holds for a product whose
    fields (by attribute name: the values of :data:`PRODUCT_FIELD_FILTERS`) and parameters
    are given:
    a key naming a product field (:data:`PRODUCT_FIELD_FILTERS`) compares that field, any
    other key the parameter of that name; a missing value never matches."""
    for key, value in filters:
        attribute = PRODUCT_FIELD_FILTERS.get(key)
        actual = fields.get(attribute) if attribute else parameters.get(key)
        if actual is None or str(actual) != value:
            return False
    return True


@dataclass(frozen=True)
class Selection:
    """Result of one simple rule for one job window.

    ``satisfied`` False only for a mandatory rule whose policies found nothing sufficient;
    ``product_ids`` are the selected products (empty for an unsatisfied or empty optional
    rule).
    """

    satisfied: bool
    product_ids: frozenset[int]


class Candidate(NamedTuple):
    """A product as selection sees it: id, validity [start, stop] and generation time, all
    times in µs since the epoch (generation ``None`` when unknown: counts as oldest)."""

    id: int
    start: int
    stop: int
    generation: int | None


_P = Candidate


def intersects(a_start: int, a_stop: int, b_start: int, b_stop: int) -> bool:
    """Whether validities [a_start, a_stop] and [b_start, b_stop] (µs) share an instant: a
    non-empty one is half-open, a zero-length one is the instant itself."""
    if a_start < a_stop and b_start < b_stop:
        return a_start < b_stop and b_start < a_stop
    if a_start == a_stop and b_start == b_stop:
        return a_start == b_start
    if a_start == a_stop:
        return b_start <= a_start < b_stop
    return a_start <= b_start < a_stop


def _newest_first(p: _P) -> tuple[bool, int, int]:
    return (p.generation is None, -(p.generation or 0), -p.id)


def _best(candidates: Iterable[_P], key: Callable[[_P], tuple[int, ...]] | None) -> set[int]:
    """The id of the first candidate by ``key`` (``None``: no key of its own), then newest
    generation, then highest id (a total order: the id breaks every tie), or nothing without
    candidates."""
    if key is None:
        best = min(candidates, key=_newest_first, default=None)
    else:
        best = min(candidates, key=lambda p: (*key(p), *_newest_first(p)), default=None)
    return set() if best is None else {best.id}


_COVERING = frozenset(
    {
        PolicyType.VAL_COVER,
        PolicyType.LATEST_VAL_COVER,
        PolicyType.BEST_CENTERED_COVER,
        PolicyType.LATEST_VAL_COVER_CLOSEST,
        PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY,
    }
)


def select_policy(policy: Policy, window: TimeWindow, products: Sequence[_P]) -> set[int]:
    """Products one policy selects for one job window (``products`` already filtered)."""
    return select_policy_us(
        policy,
        epoch_us(window.start) - policy.delta_before_ms * 1000,
        epoch_us(window.stop) + policy.delta_after_ms * 1000,
        products,
    )


def select_policy_us(policy: Policy, ws: int, we: int, products: Sequence[_P]) -> set[int]:
    """Products one policy selects for the search window [ws, we] (µs since the epoch, the
    policy's deltas already applied) among ``products`` (already filtered).

    A caller may pass fewer products than the whole source class only when the ones left out
    cannot change the answer (see :mod:`planner.rules.memory`)."""
    kind = policy.policy_type
    # intersects() for a non-empty window is inlined below (the most common case): a product
    # intersects when it starts before the window's end and stops after its start, or is an
    # instant at the window's start.
    if kind is PolicyType.VAL_INTERSECT:
        if ws < we:
            return {
                p.id for p in products if p.start < we and (ws < p.stop or p.start == p.stop == ws)
            }
        return {p.id for p in products if intersects(p.start, p.stop, ws, we)}
    if kind in _COVERING:
        covering = [p for p in products if p.start <= ws and p.stop >= we]
    elif ws < we:
        intersecting = [
            p for p in products if p.start < we and (ws < p.stop or p.start == p.stop == ws)
        ]
    else:
        intersecting = [p for p in products if intersects(p.start, p.stop, ws, we)]
    if kind is PolicyType.VAL_COVER:
        return {p.id for p in covering}
    if kind is PolicyType.LATEST_VAL_COVER:
        return _best(covering, None)
    if kind is PolicyType.VAL_INTERSECT_WITHOUT_DUPLICATES:
        per_validity: dict[tuple[int, int], list[_P]] = {}
        for p in intersecting:
            per_validity.setdefault((p.start, p.stop), []).append(p)
        return {next(iter(_best(group, None))) for group in per_validity.values()}
    if kind is PolicyType.LATEST_VAL_INTERSECT:
        return _best(intersecting, None)
    if kind is PolicyType.LATEST_VALIDITY_CLOSEST:
        return _best(products, lambda p: (abs(2 * p.start - (ws + we)),))
    if kind is PolicyType.BEST_CENTERED_COVER:
        return _best(covering, lambda p: (-min(ws - p.start, p.stop - we),))
    if kind is PolicyType.LATEST_VAL_COVER_CLOSEST:
        return _best(covering, lambda p: (ws - p.start,))
    if kind is PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY:
        return _best(covering, None) or _best(products, lambda p: (-p.start,))
    if kind in (PolicyType.LARGEST_OVERLAP, PolicyType.LARGEST_OVERLAP_85):
        candidates = intersecting
        if kind is PolicyType.LARGEST_OVERLAP_85:
            candidates = [
                p
                for p in intersecting
                if 100 * (min(p.stop, we) - max(p.start, ws)) >= 85 * (we - ws)
            ]
        return _best(
            candidates, lambda p: (-(min(p.stop, we) - max(p.start, ws)), abs(p.start - ws))
        )
    if kind in (PolicyType.LATEST_VALIDITY, PolicyType.LATEST_START_VALIDITY):
        return _best(products, lambda p: (-p.start,))
    if kind is PolicyType.LATEST_STOP_VALIDITY:
        return _best(products, lambda p: (-p.stop,))
    if kind is PolicyType.CLOSEST_START_VALIDITY:
        return _best(products, lambda p: (abs(p.start - ws),))
    if kind is PolicyType.CLOSEST_STOP_VALIDITY:
        return _best(products, lambda p: (abs(p.stop - we),))
    if kind is PolicyType.LAST_CREATED:
        return _best(products, None)
    raise AssertionError(f"unhandled policy {kind}")  # pragma: no cover


def covers_enough_us(
    intervals: Iterable[tuple[int, int]], start: int, stop: int, min_coverage: int | None
) -> bool:
    """Whether the union of ``intervals`` covers ``min_coverage`` % of the job window
    [start, stop] (all µs since the epoch)."""
    needed = min_coverage or 0
    if needed == 0:
        return True
    if start == stop:
        return any(intersects(a, b, start, stop) for a, b in intervals)
    covered, reach = 0, start
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, stop)
        if b > a:
            covered += b - a
            reach = b
    return 100 * covered >= needed * (stop - start)


def accumulate(
    rule: SimpleRule,
    window: TimeWindow,
    per_policy: Iterable[set[int]],
    validity: Callable[[int], tuple[int, int]],
) -> Selection:
    """Combine the policies' selections in order until non-empty and covering enough.

    Shared by all evaluators: only how each policy's selection is found differs.
    """
    return accumulate_us(rule, epoch_us(window.start), epoch_us(window.stop), per_policy, validity)


def accumulate_us(
    rule: SimpleRule,
    start: int,
    stop: int,
    per_policy: Iterable[set[int]],
    validity: Callable[[int], tuple[int, int]],
) -> Selection:
    """:func:`accumulate` for the job window [start, stop] in µs since the epoch.

    ``per_policy`` may be lazy: policies after the first sufficient one are not asked."""
    chosen: set[int] = set()
    for selected in per_policy:
        chosen |= selected
        if chosen and covers_enough_us(
            (validity(i) for i in chosen), start, stop, rule.min_coverage
        ):
            return Selection(True, frozenset(chosen))
    return Selection(not rule.mandatory, frozenset())


def evaluate_simple_rule(
    rule: SimpleRule, window: TimeWindow, products: Iterable[ProductInfo]
) -> Selection:
    """Evaluate one simple rule for one job window over ``products`` (any product types).

    :returns: the :class:`Selection`; an unsatisfied mandatory rule selects nothing.
    """
    candidates = [
        _P(
            p.id,
            epoch_us(p.sensing_start),
            epoch_us(p.sensing_stop),
            epoch_us(p.generation_time) if p.generation_time else None,
        )
        for p in products
        if p.product_type == rule.source_type and p.matches(rule.filters)
    ]
    by_id = {p.id: (p.start, p.stop) for p in candidates}
    per_policy = [select_policy(policy, window, candidates) for policy in rule.policies]
    return accumulate(rule, window, per_policy, by_id.__getitem__)
