"""Every (from, to) pair of the order, job and job step state machines.

The expected legal moves are transcribed here from the domain reference (DOMAIN.md,
"States") as text, independently of the tables in proseo.model.states.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise, product
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proseo.db import Database
from proseo.errors import InvalidInputError, InvalidStateTransition
from proseo.model import (
    JOB_STATE_MACHINE,
    JOB_STEP_STATE_MACHINE,
    ORDER_STATE_MACHINE,
    Job,
    JobState,
    JobStep,
    JobStepState,
    Mission,
    OrderState,
    ProcessingOrder,
    StateHistory,
    StateMachine,
    transition,
)

DOMAIN_ORDER = (
    "INITIAL -> APPROVED; APPROVED -> INITIAL | PLANNING; PLANNING -> APPROVED | PLANNED | "
    "COMPLETED | PLANNING_FAILED; PLANNING_FAILED -> APPROVED | PLANNING; PLANNED -> INITIAL | "
    "RELEASING | FAILED; RELEASING -> PLANNED | RELEASED | COMPLETED; RELEASED -> PLANNED | "
    "RUNNING; RUNNING -> SUSPENDING | COMPLETED | FAILED; SUSPENDING -> PLANNED | COMPLETED | "
    "FAILED; COMPLETED -> CLOSED; FAILED -> PLANNED | CLOSED"
)
DOMAIN_JOB = (
    "INITIAL -> PLANNED -> RELEASED | FAILED; RELEASED -> PLANNED | STARTED; STARTED -> "
    "ON_HOLD | COMPLETED | FAILED; ON_HOLD -> PLANNED | COMPLETED | FAILED; COMPLETED -> CLOSED; "
    "FAILED -> PLANNED | CLOSED"
)
DOMAIN_JOB_STEP = (
    "PLANNED -> WAITING_INPUT | READY | FAILED; WAITING_INPUT -> PLANNED | READY; READY -> "
    "PLANNED | RUNNING; RUNNING -> PLANNED | COMPLETED | FAILED; COMPLETED -> CLOSED; FAILED -> "
    "PLANNED | CLOSED"
)


def _legal_moves(text: str) -> set[tuple[str, str]]:
    """Parse 'A -> B | C; D -> E -> F' chains into (from, to) pairs."""
    moves: set[tuple[str, str]] = set()
    for clause in text.split(";"):
        stages = [[s.strip() for s in part.split("|")] for part in clause.split("->")]
        for sources, targets in pairwise(stages):
            # In a chain 'A -> B -> C | D' only the last state of a stage leads on.
            moves.update((sources[-1], t) for t in targets)
    return moves


CASES: list[tuple[str, StateMachine[StrEnum], str]] = [
    ("order", ORDER_STATE_MACHINE, DOMAIN_ORDER),  # type: ignore[list-item]
    ("job", JOB_STATE_MACHINE, DOMAIN_JOB),  # type: ignore[list-item]
    ("job step", JOB_STEP_STATE_MACHINE, DOMAIN_JOB_STEP),  # type: ignore[list-item]
]
ALL_PAIRS = [
    pytest.param(machine, text, a, b, id=f"{name}:{a.value}->{b.value}")
    for name, machine, text in CASES
    for a, b in product(machine.all_states, repeat=2)
]


@pytest.mark.parametrize(("machine", "text", "source", "target"), ALL_PAIRS)
def test_every_pair_matches_the_domain_reference(
    machine: StateMachine[StrEnum], text: str, source: StrEnum, target: StrEnum
) -> None:
    expected = (source.value, target.value) in _legal_moves(text)
    assert machine.is_legal(source, target) is expected


def test_domain_transcription_names_only_known_states() -> None:
    for _name, machine, text in CASES:
        names = {s for pair in _legal_moves(text) for s in pair}
        assert names <= {s.value for s in machine.states}


T0 = datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC)


def _entities(session: Session) -> tuple[ProcessingOrder, Job, JobStep]:
    mission = Mission(code="TST", name="Test mission")
    order = ProcessingOrder(mission=mission, identifier="ORD-1", start_time=T0, stop_time=T0)
    job = Job(processing_order=order, start_time=T0, stop_time=T0)
    step = JobStep(job=job)
    session.add_all([mission, order, job, step])
    session.flush()
    return order, job, step


def test_transition_walks_every_pair_on_the_database(database: Database) -> None:
    """Legal moves change the state and are recorded; illegal ones raise and change nothing."""
    with database.transaction() as session:
        order, job, step = _entities(session)
        pairs: list[tuple[Any, StateMachine[Any]]] = [
            (order, ORDER_STATE_MACHINE),
            (job, JOB_STATE_MACHINE),
            (step, JOB_STEP_STATE_MACHINE),
        ]
        for entity, machine in pairs:
            for source, target in product(machine.all_states, repeat=2):
                entity.state = source
                before = session.scalar(select(StateHistory.id).order_by(StateHistory.id.desc()))
                if machine.is_legal(source, target):
                    history = transition(session, entity, target, changed_by="test", reason="t")
                    session.flush()
                    assert entity.state == target
                    assert (history.entity_type, history.entity_id) == (machine.entity, entity.id)
                    assert (history.from_state, history.to_state) == (source.value, target.value)
                else:
                    with pytest.raises(InvalidStateTransition) as info:
                        transition(session, entity, target)
                    assert entity.state == source
                    assert info.value.from_state == source.value
                    assert info.value.to_state == target.value
                    assert f"{source.value} -> {target.value}" in str(info.value)
                    session.flush()
                    after = session.scalar(select(StateHistory.id).order_by(StateHistory.id.desc()))
                    assert after == before
    with database.transaction() as session:
        recorded = session.scalars(select(StateHistory)).all()
        legal = sum(
            machine.is_legal(a, b)
            for _n, machine, _t in CASES
            for a, b in product(machine.all_states, repeat=2)
        )
        assert len(recorded) == legal
        assert all(h.changed_at.tzinfo is not None for h in recorded)


def test_illegal_transition_message_names_entity_and_allowed_states(database: Database) -> None:
    with database.transaction() as session:
        order, _job, _step = _entities(session)
        with pytest.raises(InvalidStateTransition) as info:
            transition(session, order, OrderState.RELEASED)
        message = str(info.value)
        assert f"processing order {order.id} (ORD-1)" in message
        assert "INITIAL -> RELEASED" in message
        assert "APPROVED" in message


def test_final_state_says_so(database: Database) -> None:
    with database.transaction() as session:
        _order, job, _step = _entities(session)
        job.state = JobState.CLOSED
        with pytest.raises(InvalidStateTransition, match="CLOSED is a final state"):
            transition(session, job, JobState.PLANNED)


def test_unknown_state_names_field_and_value(database: Database) -> None:
    with database.transaction() as session:
        _order, _job, step = _entities(session)
        with pytest.raises(InvalidInputError) as info:
            transition(session, step, "DONE")
        assert info.value.field == "job_step state"
        assert "'DONE'" in str(info.value)
        assert "WAITING_INPUT" in str(info.value)
        assert step.state == JobStepState.PLANNED


def test_states_given_as_text_are_accepted_case_insensitively(database: Database) -> None:
    with database.transaction() as session:
        order, _job, _step = _entities(session)
        transition(session, order, "approved")
        assert order.state is OrderState.APPROVED
