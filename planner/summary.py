"""What a plan made: counts, seconds per phase and, for a dry run, the planned job steps with
their inputs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from planner.slicing import JobWindow


class QueryRow(NamedTuple):
    """One product query of a plan, as written."""

    job_step_id: int
    source_class_id: int
    """The requested (source) product class."""
    rule_id: int | None
    """The stored simple selection rule it comes from (``None`` when merged from several)."""
    rule_text: str
    mandatory: bool
    min_coverage: int | None
    """MINCOVER percentage, if any."""
    satisfied: bool


@dataclass
class StepInputs:
    """Dry-run detail of one job step's input (one simple rule)."""

    source_type: str
    rule: str
    mandatory: bool
    satisfied: bool
    found: int
    in_production: int


@dataclass
class PlannedStep:
    """Dry-run detail of one planned job step."""

    job: int
    product_type: str
    configured_processor: str
    level: int
    inputs: list[StepInputs] = field(default_factory=list)


@dataclass
class PlanSummary:
    """What a plan made: counts, seconds, and per-step details when asked for."""

    order_id: int
    jobs: int = 0
    job_steps: int = 0
    steps_per_class: dict[str, int] = field(default_factory=dict)
    skipped_existing: int = 0
    """Requested products found: an equivalent product has a file at the facility."""
    in_production: int = 0
    """Requested products another job step (of another order, or not failed) is already
    producing: reused, not planned again (:mod:`planner.equivalence`)."""
    producers: set[str] = field(default_factory=set)
    """Identifiers of the orders producing those."""
    product_queries: int = 0
    unsatisfied_queries: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of planning, in order (for operators and the benchmark)."""
    integrity: str = ""
    """How the references of the written rows were checked: per row by the database's
    foreign-key triggers, or set-based by the planner (which then writes without them)."""
    windows: list[JobWindow] = field(default_factory=list)
    steps: list[PlannedStep] = field(default_factory=list)
    _clock: float = field(default_factory=time.perf_counter, repr=False)
    progress: Callable[[str, float], None] | None = field(default=None, repr=False)
    """Told each phase as it ends, with its seconds (the CLI prints it for long plans)."""

    def mark(self, phase: str) -> None:
        """Record the seconds since the previous mark (or the start) under ``phase``."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._clock
        if self.progress is not None:
            self.progress(phase, now - self._clock)
        self._clock = now


def add_details(
    summary: PlanSummary,
    step_ids: dict[tuple[int, int], int],
    level_of: dict[int, int],
    query_rows: Sequence[QueryRow],
    selections: Sequence[frozenset[int]],
    with_files: set[int],
    *,
    product_type: Callable[[int], str],
    configured_processor: Callable[[int], str],
) -> None:
    """Per-step details of a plan for ``--dry-run``: ``step_ids`` by (produced class, job
    index); ``query_rows`` with the product ids each selected; ``with_files`` the selected
    products that already have a file (the others are being produced)."""
    by_step = {v: k for k, v in step_ids.items()}
    detail: dict[tuple[int, int], PlannedStep] = {
        key: PlannedStep(
            job=key[1],
            product_type=product_type(key[0]),
            configured_processor=configured_processor(key[0]),
            level=level_of.get(key[0], 0),
        )
        for key in step_ids
    }
    for row, chosen in zip(query_rows, selections, strict=True):
        detail[by_step[row.job_step_id]].inputs.append(
            StepInputs(
                source_type=product_type(row.source_class_id),
                rule=row.rule_text,
                mandatory=row.mandatory,
                satisfied=row.satisfied,
                found=len(chosen & with_files),
                in_production=len(chosen - with_files),
            )
        )
    summary.steps = sorted(detail.values(), key=lambda s: (s.job, -s.level, s.product_type))
