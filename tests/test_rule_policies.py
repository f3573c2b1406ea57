"""Hand-computed selections for every policy, touching intervals, zero-length windows,
coverage gaps and accumulation, checked with both evaluators on both databases.

Catalogue (hours after 2020-01-01T00:00Z; g = generation hour, - = none):

    A1 [0,2) g1   A2 [2,4) g1   A3 [1,5) g2   A4 [1,5) g3   A5 [6,6] g1
    A6 [0,10) g0  A7 [8,9) -
    B1 [0,2) g1   B2 [2,4) g1   B3 [5,8) g1      (a gap [4,5) in the B coverage)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from planner.rules.evaluate import ProductInfo, TimeWindow, epoch_us, evaluate_simple_rule
from planner.rules.sql import evaluate_simple_rule_for_windows
from proseo.db import Database
from proseo.model import Mission, Product, ProductClass
from proseo.rule_language import parse_rule
from tests.test_rule_evaluators import _memory_index

BASE = datetime(2020, 1, 1, tzinfo=UTC)


def _h(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


CATALOGUE = {
    "A1": ("A", 0, 2, 1),
    "A2": ("A", 2, 4, 1),
    "A3": ("A", 1, 5, 2),
    "A4": ("A", 1, 5, 3),
    "A5": ("A", 6, 6, 1),
    "A6": ("A", 0, 10, 0),
    "A7": ("A", 8, 9, None),
    "B1": ("B", 0, 2, 1),
    "B2": ("B", 2, 4, 1),
    "B3": ("B", 5, 8, 1),
}

# (rule, job window in hours, expected satisfied, expected product names)
CASES = [
    ("FOR A SELECT ValCover", (2, 4), True, {"A2", "A3", "A4", "A6"}),
    ("FOR A SELECT LatestValCover", (2, 4), True, {"A4"}),
    ("FOR A SELECT ValIntersect", (2, 4), True, {"A2", "A3", "A4", "A6"}),
    ("FOR A SELECT ValIntersectWithoutDuplicates", (2, 4), True, {"A2", "A4", "A6"}),
    ("FOR A SELECT LatestValIntersect", (2, 4), True, {"A4"}),
    ("FOR A SELECT LatestValidityClosest", (2, 4), True, {"A2"}),
    ("FOR A SELECT BestCenteredCover", (2, 4), True, {"A6"}),
    ("FOR A SELECT LatestValCoverClosest", (2, 4), True, {"A2"}),
    ("FOR A SELECT LatestValCoverNewestValidity", (2, 4), True, {"A4"}),
    ("FOR A SELECT LatestValCoverNewestValidity", (11, 12), True, {"A7"}),
    ("FOR A SELECT LargestOverlap", (2, 4), True, {"A2"}),
    ("FOR A SELECT LargestOverlap", (9, 11), True, {"A6"}),
    ("FOR A SELECT LargestOverlap85", (3, 7), True, {"A6"}),
    ("FOR A SELECT LargestOverlap85", (9, 11), False, set()),
    ("FOR A SELECT LatestValidity", (2, 4), True, {"A7"}),
    ("FOR A SELECT LatestStartValidity", (0, 0), True, {"A7"}),
    ("FOR A SELECT LatestStopValidity", (2, 4), True, {"A6"}),
    ("FOR A SELECT ClosestStartValidity", (2, 4), True, {"A2"}),
    ("FOR A SELECT ClosestStopValidity", (2, 4), True, {"A2"}),
    ("FOR A SELECT LastCreated", (2, 4), True, {"A4"}),
    # touching validities do not intersect; deltas widen the search window
    ("FOR A SELECT ValIntersect", (4, 6), True, {"A3", "A4", "A6"}),
    ("FOR A SELECT ValIntersect(1h, 0)", (4, 6), True, {"A2", "A3", "A4", "A6"}),
    ("FOR A SELECT ValIntersect(0, 1H)", (4, 6), True, {"A3", "A4", "A5", "A6"}),
    ("FOR A SELECT ValCover(0, 6h)", (2, 4), True, {"A6"}),
    # zero-length job windows
    ("FOR A SELECT ValIntersect", (6, 6), True, {"A5", "A6"}),
    ("FOR A SELECT ValIntersect", (2, 2), True, {"A2", "A3", "A4", "A6"}),
    ("FOR A SELECT ValCover MINCOVER(100)", (6, 6), True, {"A5", "A6"}),
    # nothing found: mandatory is unsatisfied, optional yields nothing
    ("FOR A SELECT ValIntersect", (20, 21), False, set()),
    ("FOR A SELECT ValIntersect OPTIONAL", (20, 21), True, set()),
    # coverage gaps: B covers 7 of the 8 hours of [0, 8]
    ("FOR B SELECT ValIntersect MINCOVER(87)", (0, 8), True, {"B1", "B2", "B3"}),
    ("FOR B SELECT ValIntersect MINCOVER(88)", (0, 8), False, set()),
    ("FOR B SELECT ValIntersect MINCOVER(100)", (4, 5), False, set()),
    # accumulation: policies add up until the selection covers enough
    ("FOR B SELECT LatestValIntersect MINCOVER(30)", (0, 8), True, {"B3"}),
    (
        "FOR B SELECT LatestValIntersect OR ValIntersect MINCOVER(80)",
        (0, 8),
        True,
        {"B1", "B2", "B3"},
    ),
    ("FOR B SELECT ValCover OR LatestValIntersect", (1, 3), True, {"B2"}),
    ("FOR B SELECT ValCover OR ValIntersect", (1, 2), True, {"B1"}),
]


@pytest.fixture
def catalogue(
    database: Database,
) -> tuple[Database, dict[str, int], dict[str, int], list[ProductInfo]]:
    with database.transaction() as session:
        mission = Mission(code="TST", name="Test")
        classes = {t: ProductClass(mission=mission, product_type=t) for t in ("A", "B")}
        products = {}
        for name, (ptype, start, stop, generation) in CATALOGUE.items():
            products[name] = Product(
                product_class=classes[ptype],
                sensing_start=_h(start),
                sensing_stop=_h(stop),
                generation_time=None if generation is None else _h(100 + generation),
            )
        session.add_all(products.values())
        session.flush()
        ids = {name: p.id for name, p in products.items()}
        class_ids = {t: c.id for t, c in classes.items()}
        infos = [
            ProductInfo(p.id, CATALOGUE[n][0], p.sensing_start, p.sensing_stop, p.generation_time)
            for n, p in products.items()
        ]
    return database, ids, class_ids, infos


@pytest.mark.parametrize(("text", "window", "satisfied", "expected"), CASES)
def test_hand_computed_selection(
    catalogue: tuple[Database, dict[str, int], dict[str, int], list[ProductInfo]],
    text: str,
    window: tuple[float, float],
    satisfied: bool,
    expected: set[str],
) -> None:
    database, ids, class_ids, infos = catalogue
    (simple,) = parse_rule(text).simple_rules
    job_window = TimeWindow(_h(window[0]), _h(window[1]), key=7)
    names = {v: k for k, v in ids.items()}

    reference = evaluate_simple_rule(simple, job_window, infos)
    assert reference.satisfied is satisfied
    assert {names[i] for i in reference.product_ids} == expected

    with database.transaction() as session:
        set_based = evaluate_simple_rule_for_windows(
            session, simple, class_ids[simple.source_type], [job_window]
        )
    assert set_based == {7: reference}
    in_memory = _memory_index(infos, simple).evaluate_windows(
        simple, [(7, epoch_us(job_window.start), epoch_us(job_window.stop))]
    )
    assert in_memory == {7: reference}


def test_every_policy_has_a_hand_computed_case() -> None:
    from proseo.enums import PolicyType

    covered = {parse_rule(text).simple_rules[0].policies[0].policy_type for text, *_ in CASES}
    assert covered == set(PolicyType)


def test_set_based_answers_many_windows_at_once(
    catalogue: tuple[Database, dict[str, int], dict[str, int], list[ProductInfo]],
) -> None:
    database, _ids, class_ids, infos = catalogue
    (simple,) = parse_rule("FOR A SELECT LatestValIntersect OR ValCover").simple_rules
    windows = [TimeWindow(_h(h), _h(h + 1), key=h) for h in range(0, 12)]
    with database.transaction() as session:
        answers = evaluate_simple_rule_for_windows(session, simple, class_ids["A"], windows)
    assert answers == {w.key: evaluate_simple_rule(simple, w, infos) for w in windows}
    assert {k for k, s in answers.items() if not s.satisfied} == {10, 11}
