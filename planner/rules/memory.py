"""In-memory evaluation of simple selection rules for every job window of a plan.

The planner fetches the products a rule may select once per (source class, filters) — one
query, see :mod:`planner.plan` — and evaluates the rule for all job windows here. The products
are kept sorted by sensing start (and by sensing stop when a policy needs that order), so each
policy is answered for a window by the reference semantics
(:func:`planner.rules.evaluate.select_policy_us`) over only the few products that can matter:

* intersect policies (ValIntersect, ValIntersectWithoutDuplicates, LatestValIntersect,
  LargestOverlap, LargestOverlap85): products starting in [ws - longest, we];
* cover policies (ValCover, LatestValCover, BestCenteredCover, LatestValCoverClosest):
  products starting in [we - longest, ws];
* "closest" policies: every product at the nearest start (or stop) at or below the target
  and every product at the nearest one at or above it;
* policies without a window (LatestValidity, LatestStartValidity, LatestStopValidity,
  LastCreated): the one best product of the whole index, found once;
* LatestValCoverNewestValidity: the cover candidates plus that best product.

``longest`` is the longest validity in the index (µs), so no product left out can intersect
or cover the search window. All times are integer microseconds since the epoch (UTC). The
property tests check this evaluator against the reference one on generated catalogues.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter

from planner.rules.evaluate import (
    Candidate,
    Selection,
    accumulate_us,
    select_policy_us,
)
from proseo.enums import PolicyType
from proseo.rule_language import Policy, SimpleRule

_INTERSECT = frozenset(
    {
        PolicyType.VAL_INTERSECT,
        PolicyType.VAL_INTERSECT_WITHOUT_DUPLICATES,
        PolicyType.LATEST_VAL_INTERSECT,
        PolicyType.LARGEST_OVERLAP,
        PolicyType.LARGEST_OVERLAP_85,
    }
)
_COVER = frozenset(
    {
        PolicyType.VAL_COVER,
        PolicyType.LATEST_VAL_COVER,
        PolicyType.BEST_CENTERED_COVER,
        PolicyType.LATEST_VAL_COVER_CLOSEST,
    }
)
WINDOW_INDEPENDENT = frozenset(
    {
        PolicyType.LATEST_VALIDITY,
        PolicyType.LATEST_START_VALIDITY,
        PolicyType.LATEST_STOP_VALIDITY,
        PolicyType.LAST_CREATED,
    }
)
"""Policies that choose among all products of the source class, whatever the window."""

NEAREST = frozenset(
    {
        PolicyType.LATEST_VALIDITY_CLOSEST,
        PolicyType.CLOSEST_START_VALIDITY,
        PolicyType.CLOSEST_STOP_VALIDITY,
    }
)
"""Policies that may choose a product far outside the search window."""


_SATISFIED_EMPTY = Selection(True, frozenset())
_UNSATISFIED = Selection(False, frozenset())


def reaches_far(policy_type: PolicyType) -> bool:
    """Whether a policy of this type may select a product far from the job window (outside
    [start - delta_before, stop + delta_after])."""
    return (
        policy_type in WINDOW_INDEPENDENT
        or policy_type in NEAREST
        or policy_type is PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY
    )


def needs_whole_class(rule: SimpleRule) -> bool:
    """Whether some policy of ``rule`` may select a product far from every job window, so
    the index must hold every candidate of the class rather than those near the windows."""
    return any(reaches_far(p.policy_type) for p in rule.policies)


class CandidateIndex:
    """The products one simple rule may select (already filtered by class, filters and
    availability), indexed by sensing start and stop.

    :param candidates: the products; ids must be distinct.
    """

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._by_start: list[Candidate] = sorted(candidates, key=attrgetter("start", "id"))
        self._starts = [c.start for c in self._by_start]
        self._validity = {c.id: (c.start, c.stop) for c in self._by_start}
        if len(self._validity) != len(self._by_start):
            raise ValueError("candidate product ids must be distinct")
        self.longest = max((c.stop - c.start for c in self._by_start), default=0)
        """The longest validity in the index (µs)."""
        self._by_stop: list[Candidate] | None = None
        self._stops: list[int] = []
        self._best: dict[PolicyType, list[Candidate]] = {}

    def __len__(self) -> int:
        return len(self._by_start)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._validity

    def merged(self, more: Iterable[Candidate]) -> CandidateIndex:
        """A new index of these candidates and ``more`` (whose ids must be new)."""
        return CandidateIndex([*self._by_start, *more])

    def validity(self, product_id: int) -> tuple[int, int]:
        """(start, stop) in µs of a product in the index. :raises KeyError: if it is not."""
        return self._validity[product_id]

    def _starting(self, lo: int, hi: int) -> list[Candidate]:
        return self._by_start[bisect_left(self._starts, lo) : bisect_right(self._starts, hi)]

    def _sorted_by_stop(self) -> tuple[list[int], list[Candidate]]:
        if self._by_stop is None:
            self._by_stop = sorted(self._by_start, key=attrgetter("stop", "id"))
            self._stops = [c.stop for c in self._by_stop]
        return self._stops, self._by_stop

    @staticmethod
    def _nearest(
        values: list[int], ordered: list[Candidate], below: int, above: int
    ) -> list[Candidate]:
        """Every candidate at the largest value <= ``below`` and at the smallest value >=
        ``above`` (``below <= above``)."""
        found: list[Candidate] = []
        upper = bisect_right(values, below)
        low_value = None
        if upper:
            low_value = values[upper - 1]
            found += ordered[bisect_left(values, low_value) : upper]
        lower = bisect_left(values, above)
        if lower < len(values) and values[lower] != low_value:
            found += ordered[lower : bisect_right(values, values[lower])]
        return found

    def _global_best(self, kind: PolicyType) -> list[Candidate]:
        if kind not in self._best:
            chosen = select_policy_us(Policy(kind), 0, 0, self._by_start)
            self._best[kind] = [c for c in self._by_start if c.id in chosen]
        return self._best[kind]

    def relevant(self, policy: Policy, ws: int, we: int) -> Sequence[Candidate]:
        """The candidates that can matter to ``policy`` for the search window [ws, we] (µs,
        deltas applied): given to :func:`select_policy_us`, they give the answer all the
        candidates would."""
        kind = policy.policy_type
        if kind in _INTERSECT:
            return self._starting(ws - self.longest, we)
        if kind in _COVER:
            return self._starting(we - self.longest, ws)
        if kind is PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY:
            covering = self._starting(we - self.longest, ws)
            extra = [c for c in self._global_best(PolicyType.LATEST_VALIDITY) if c not in covering]
            return covering + extra
        if kind in WINDOW_INDEPENDENT:
            return self._global_best(kind)
        if kind is PolicyType.LATEST_VALIDITY_CLOSEST:
            doubled_centre = ws + we
            return self._nearest(
                self._starts, self._by_start, doubled_centre // 2, -(-doubled_centre // 2)
            )
        if kind is PolicyType.CLOSEST_START_VALIDITY:
            return self._nearest(self._starts, self._by_start, ws, ws)
        if kind is PolicyType.CLOSEST_STOP_VALIDITY:
            stops, by_stop = self._sorted_by_stop()
            return self._nearest(stops, by_stop, we, we)
        raise AssertionError(f"unhandled policy {kind}")  # pragma: no cover

    def _per_policy(self, rule: SimpleRule, start: int, stop: int) -> Iterator[set[int]]:
        for policy in rule.policies:
            ws = start - policy.delta_before_ms * 1000
            we = stop + policy.delta_after_ms * 1000
            yield select_policy_us(policy, ws, we, self.relevant(policy, ws, we))

    def evaluate(self, rule: SimpleRule, start: int, stop: int) -> Selection:
        """Evaluate ``rule`` for the job window [start, stop] (µs since the epoch)."""
        if len(rule.policies) == 1 and not rule.min_coverage:
            # The common case, without the accumulation: one policy, no coverage to reach.
            (policy,) = rule.policies
            ws = start - policy.delta_before_ms * 1000
            we = stop + policy.delta_after_ms * 1000
            chosen = select_policy_us(policy, ws, we, self.relevant(policy, ws, we))
            if chosen:
                return Selection(True, frozenset(chosen))
            return _SATISFIED_EMPTY if not rule.mandatory else _UNSATISFIED
        return accumulate_us(rule, start, stop, self._per_policy(rule, start, stop), self.validity)

    def evaluate_windows(
        self, rule: SimpleRule, windows: Iterable[tuple[int, int, int]]
    ) -> dict[int, Selection]:
        """Evaluate ``rule`` for job windows given as (key, start, stop) in µs.

        :returns: the :class:`Selection` per window key."""
        evaluate = self.evaluate
        return {key: evaluate(rule, start, stop) for key, start, stop in windows}
