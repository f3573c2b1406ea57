"""The demand pass of the backward planner: which (product class, job window) job steps an
order needs, level by level, as plain logic over plain data (no database).

Start from the requested classes and the job windows not yet produced. For every planned
(class, window), each *mandatory* simple selection rule is evaluated for the windows where
its source class is not already being planned; where it is unsatisfied and a processor can
make the source class (and the order's stop list allows it), that source class's producer is
planned for the same window one level deeper. Optional and MINCOVER-only inputs never cause
upstream production. Down to L0 and AUX, which no processor makes.

The caller supplies the catalogue (:class:`DemandCatalogue`) and the rule evaluation (a
function of a simple rule and a set of job indexes), so the pass is testable with plain
objects and the planner can answer evaluations from memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from planner.rules.evaluate import Selection
from proseo.errors import PlanningError
from proseo.rule_language import SimpleRule

MAX_DEPTH = 16
"""Levels of upstream production at most (L3 <- L2 <- L1B <- L0 needs 3); deeper means a
cycle in the selection rules."""

Evaluate = Callable[[SimpleRule, set[int]], Mapping[int, Selection]]
"""The selection of a simple rule for each of the given job indexes."""


class DemandCatalogue(Protocol):
    """What the demand pass needs to know of a mission's product classes (by id)."""

    def producer(self, class_id: int) -> int | None:
        """The class a job step must produce to make ``class_id`` (its enclosing class for a
        component), or ``None`` when no processor makes it or the order's stop list forbids
        it."""

    def rules(self, class_id: int) -> Sequence[tuple[SimpleRule, int | None]]:
        """The merged simple selection rules of a producible class for the order, each with
        the id of a stored simple rule (``None`` when not stored)."""

    def source_class_id(self, product_type: str) -> int:
        """The id of the product class ``product_type`` of the mission.

        :raises PlanningError: for a product type the mission does not have."""


@dataclass
class Demand:
    """The job steps to plan: per producing class the job indexes, and the level at which a
    class was first needed (0 for the requested classes)."""

    planned: dict[int, set[int]] = field(default_factory=dict)
    level_of: dict[int, int] = field(default_factory=dict)

    @property
    def job_steps(self) -> int:
        """How many job steps the demand makes."""
        return sum(len(jobs) for jobs in self.planned.values())


def plan_demand(
    catalogue: DemandCatalogue,
    wanted: Mapping[int, set[int]],
    evaluate: Evaluate,
    *,
    mission: str = "",
    max_depth: int = MAX_DEPTH,
) -> Demand:
    """The demand pass (see the module docstring).

    :param wanted: per class to produce (the requested class, or its enclosing class) the
        indexes of the job windows to produce it in.
    :param evaluate: evaluates a simple rule for a set of job indexes; called only for
        mandatory rules whose source class is producible, and only for the windows where the
        source's producer is not planned yet.
    :param mission: the mission code, for the error message.
    :raises PlanningError: when the rules nest deeper than ``max_depth`` levels (a cycle),
        or a rule names a product type the mission does not have.
    """
    demand = Demand()
    planned: dict[int, set[int]] = defaultdict(set)
    frontier: dict[int, set[int]] = defaultdict(set)
    for class_id, jobs in wanted.items():
        frontier[class_id] |= jobs
    level = 0
    while frontier:
        if level > max_depth:
            raise PlanningError(
                f"selection rules of mission {mission} nest deeper than {max_depth} "
                "levels (a cycle?)"
            )
        next_frontier: dict[int, set[int]] = defaultdict(set)
        for class_id, jobs in frontier.items():
            new_jobs = jobs - planned[class_id]
            if not new_jobs:
                continue
            planned[class_id] |= new_jobs
            demand.level_of.setdefault(class_id, level)
            for simple, _rule_id in catalogue.rules(class_id):
                if not simple.mandatory:
                    continue
                producer = catalogue.producer(catalogue.source_class_id(simple.source_type))
                if producer is None:
                    continue
                # Jobs where the producer is already planned need no evaluation now.
                open_jobs = new_jobs - planned[producer] - next_frontier[producer]
                if not open_jobs:
                    continue
                found = evaluate(simple, open_jobs)
                next_frontier[producer] |= {j for j, s in found.items() if not s.satisfied}
        frontier = {k: v for k, v in next_frontier.items() if v}
        level += 1
    demand.planned = {k: v for k, v in planned.items() if v}
    return demand
