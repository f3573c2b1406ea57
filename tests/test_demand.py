"""The planner's demand pass over plain data: no database, no ORM.

A toy mission: L2 <- L1B <- L0 (+ AUX, optional for L1B), L1B made of a component class
L1B_PART, and a stop list. "Existing" products are a set of (product type, job index)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from planner.demand import Demand, plan_demand
from planner.rules.evaluate import Selection
from proseo.errors import PlanningError
from proseo.rule_language import SimpleRule, parse_rule

L0, AUX, L1B, L1B_PART, L2, L3 = 1, 2, 3, 4, 5, 6
TYPES = {"L0": L0, "AUX": AUX, "L1B": L1B, "L1B_PART": L1B_PART, "L2": L2, "L3": L3}
PRODUCIBLE = {L1B, L2, L3}
ENCLOSING = {L1B_PART: L1B}


@dataclass
class ToyCatalogue:
    rules_of: dict[int, str]
    stop_list: set[int] = field(default_factory=set)

    def producer(self, class_id: int) -> int | None:
        target = ENCLOSING.get(class_id, class_id)
        if target not in PRODUCIBLE or {class_id, target} & self.stop_list:
            return None
        return target

    def rules(self, class_id: int) -> Sequence[tuple[SimpleRule, int | None]]:
        text = self.rules_of.get(class_id)
        return [] if text is None else [(s, None) for s in parse_rule(text).simple_rules]

    def source_class_id(self, product_type: str) -> int:
        if product_type not in TYPES:
            raise PlanningError(f"unknown product type {product_type}")
        return TYPES[product_type]


class Existing:
    """Evaluation against a set of existing (product type, job) pairs, recording calls."""

    def __init__(self, present: set[tuple[str, int]]) -> None:
        self.present = present
        self.calls: list[tuple[str, frozenset[int]]] = []

    def __call__(self, simple: SimpleRule, jobs: set[int]) -> Mapping[int, Selection]:
        self.calls.append((simple.source_type, frozenset(jobs)))
        return {
            j: Selection(
                (simple.source_type, j) in self.present or not simple.mandatory, frozenset()
            )
            for j in jobs
        }


CHAIN = {
    L3: "FOR L2 SELECT ValIntersect(0, 0)",
    L2: "FOR L1B_PART SELECT ValCover(0, 0)",
    L1B: "FOR L0 SELECT ValIntersect(0, 0); FOR AUX SELECT LatestValIntersect(1d, 1d) OPTIONAL",
}


def test_backward_chain_plans_only_what_is_missing() -> None:
    evaluate = Existing({("L1B_PART", 1), ("L0", 0), ("L0", 2)})
    demand = plan_demand(ToyCatalogue(CHAIN), {L2: {0, 1, 2}}, evaluate)
    # L2 everywhere; L1B (the enclosing class of the missing component) where it is missing
    assert demand.planned == {L2: {0, 1, 2}, L1B: {0, 2}}
    assert demand.level_of == {L2: 0, L1B: 1}
    assert demand.job_steps == 5
    # L0 is not producible: its rule is never evaluated; optional AUX never either
    assert [c[0] for c in evaluate.calls] == ["L1B_PART"]


def test_three_levels_and_one_evaluation_per_open_window() -> None:
    evaluate = Existing(set())
    demand = plan_demand(ToyCatalogue(CHAIN), {L3: {0, 1}}, evaluate)
    assert demand.planned == {L3: {0, 1}, L2: {0, 1}, L1B: {0, 1}}
    assert demand.level_of == {L3: 0, L2: 1, L1B: 2}
    assert evaluate.calls == [("L2", frozenset({0, 1})), ("L1B_PART", frozenset({0, 1}))]


def test_windows_already_planned_upstream_are_not_evaluated_again() -> None:
    # L1B (planned first) and L2 both requested: L2's rule need not look at the windows
    # where L1B is already planned
    evaluate = Existing(set())
    demand = plan_demand(ToyCatalogue(CHAIN), {L1B: {0, 1}, L2: {0, 1, 2}}, evaluate)
    assert demand.planned == {L2: {0, 1, 2}, L1B: {0, 1, 2}}
    assert evaluate.calls == [("L1B_PART", frozenset({2}))]


def test_stop_list_stops_upstream_production() -> None:
    evaluate = Existing(set())
    demand = plan_demand(ToyCatalogue(CHAIN, stop_list={L1B}), {L2: {0}}, evaluate)
    assert demand.planned == {L2: {0}}
    assert evaluate.calls == []


def test_nothing_wanted_plans_nothing() -> None:
    demand = plan_demand(ToyCatalogue(CHAIN), {L2: set()}, Existing(set()))
    assert demand == Demand()


@dataclass
class DeepCatalogue:
    """T0 <- T1 <- ... <- T{depth}: every class but T0 producible, each needing the one below."""

    depth: int

    def producer(self, class_id: int) -> int | None:
        return class_id if class_id > 0 else None

    def rules(self, class_id: int) -> Sequence[tuple[SimpleRule, int | None]]:
        rule = parse_rule(f"FOR T{class_id - 1} SELECT ValCover(0, 0)").simple_rules[0]
        return [(rule, None)] if class_id > 0 else []

    def source_class_id(self, product_type: str) -> int:
        return int(product_type[1:])


def test_rules_nesting_deeper_than_the_limit_fail_with_the_mission_named() -> None:
    catalogue = DeepCatalogue(depth=6)
    demand = plan_demand(catalogue, {6: {0}}, Existing(set()), mission="TST", max_depth=6)
    assert demand.level_of == {6: 0, 5: 1, 4: 2, 3: 3, 2: 4, 1: 5}
    with pytest.raises(PlanningError, match=r"mission TST nest deeper than 3 levels"):
        plan_demand(catalogue, {6: {0}}, Existing(set()), mission="TST", max_depth=3)


def test_a_cycle_over_the_same_windows_ends_when_everything_is_planned() -> None:
    # A <-> B over one window: both get planned once, then nothing is new
    cycle = {L2: "FOR L1B SELECT ValCover(0, 0)", L1B: "FOR L2 SELECT ValCover(0, 0)"}
    demand = plan_demand(ToyCatalogue(cycle), {L2: {0}}, Existing(set()))
    assert demand.planned == {L2: {0}, L1B: {0}}


def test_unknown_source_type_is_a_planning_error() -> None:
    rules = {L2: "FOR L9 SELECT ValCover(0, 0)"}
    with pytest.raises(PlanningError, match="L9"):
        plan_demand(ToyCatalogue(rules), {L2: {0}}, Existing(set()))
