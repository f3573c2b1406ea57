"""State machines of processing order, job and job step, as data, and :func:`transition`.

The transition tables are those of the domain reference (shared DOMAIN.md, "States").
:func:`transition` is the only place that changes a state: it checks the table, sets the
state and records a :class:`~proseo.model.history.StateHistory` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import String, Text, and_, insert, literal, select, update
from sqlalchemy.orm import Session

from proseo.db import wakeup
from proseo.db.types import UTCDateTime
from proseo.enums import JobState, JobStepState, OrderState, StatefulEntity
from proseo.errors import InvalidInputError, InvalidStateTransition
from proseo.model.base import utc_now
from proseo.model.history import STATE_CHANGE_COLUMNS, StateHistory
from proseo.model.order import Job, JobStep, ProcessingOrder

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    """The legal moves of one kind of entity: ``transitions[from] = {to, ...}``."""

    entity: StatefulEntity
    states: type[S]
    transitions: Mapping[S, frozenset[S]]

    @property
    def all_states(self) -> tuple[S, ...]:
        """Every state of the machine, in declaration order."""
        return tuple(self.states)

    def allowed(self, from_state: S) -> frozenset[S]:
        """States reachable in one move from ``from_state``."""
        return self.transitions.get(from_state, frozenset())

    def is_legal(self, from_state: S, to_state: S) -> bool:
        """Whether ``from_state -> to_state`` is a legal move."""
        return to_state in self.allowed(from_state)

    def parse(self, value: str | S, field: str = "state") -> S:
        """Turn ``value`` into a state of this machine.

        :raises InvalidInputError: naming ``field`` and the value when it is no such state.
        """
        if isinstance(value, self.states):
            return value
        try:
            return self.states(str(value).strip().upper())
        except ValueError:
            names = ", ".join(member.value for member in self.states)
            raise InvalidInputError(
                field, value, f"not a {self.entity.value.lower()} state; expected one of {names}"
            ) from None


def _table(pairs: dict[S, tuple[S, ...]]) -> dict[S, frozenset[S]]:
    return {state: frozenset(targets) for state, targets in pairs.items()}


ORDER_STATE_MACHINE: StateMachine[OrderState] = StateMachine(
    StatefulEntity.PROCESSING_ORDER,
    OrderState,
    _table(
        {
            OrderState.INITIAL: (OrderState.APPROVED,),
            OrderState.APPROVED: (OrderState.INITIAL, OrderState.PLANNING),
            OrderState.PLANNING: (
                OrderState.APPROVED,
                OrderState.PLANNED,
                OrderState.COMPLETED,
                OrderState.PLANNING_FAILED,
            ),
            OrderState.PLANNING_FAILED: (OrderState.APPROVED, OrderState.PLANNING),
            OrderState.PLANNED: (OrderState.INITIAL, OrderState.RELEASING, OrderState.FAILED),
            OrderState.RELEASING: (OrderState.PLANNED, OrderState.RELEASED, OrderState.COMPLETED),
            OrderState.RELEASED: (OrderState.PLANNED, OrderState.RUNNING),
            OrderState.RUNNING: (OrderState.SUSPENDING, OrderState.COMPLETED, OrderState.FAILED),
            OrderState.SUSPENDING: (OrderState.PLANNED, OrderState.COMPLETED, OrderState.FAILED),
            OrderState.COMPLETED: (OrderState.CLOSED,),
            OrderState.FAILED: (OrderState.PLANNED, OrderState.CLOSED),
            OrderState.CLOSED: (),
        }
    ),
)

JOB_STATE_MACHINE: StateMachine[JobState] = StateMachine(
    StatefulEntity.JOB,
    JobState,
    _table(
        {
            JobState.INITIAL: (JobState.PLANNED,),
            JobState.PLANNED: (JobState.RELEASED, JobState.FAILED),
            JobState.RELEASED: (JobState.PLANNED, JobState.STARTED),
            JobState.STARTED: (JobState.ON_HOLD, JobState.COMPLETED, JobState.FAILED),
            JobState.ON_HOLD: (JobState.PLANNED, JobState.COMPLETED, JobState.FAILED),
            JobState.COMPLETED: (JobState.CLOSED,),
            JobState.FAILED: (JobState.PLANNED, JobState.CLOSED),
            JobState.CLOSED: (),
        }
    ),
)

JOB_STEP_STATE_MACHINE: StateMachine[JobStepState] = StateMachine(
    StatefulEntity.JOB_STEP,
    JobStepState,
    _table(
        {
            JobStepState.PLANNED: (
                JobStepState.WAITING_INPUT,
                JobStepState.READY,
                JobStepState.FAILED,
            ),
            JobStepState.WAITING_INPUT: (JobStepState.PLANNED, JobStepState.READY),
            JobStepState.READY: (JobStepState.PLANNED, JobStepState.RUNNING),
            JobStepState.RUNNING: (
                JobStepState.PLANNED,
                JobStepState.COMPLETED,
                JobStepState.FAILED,
            ),
            JobStepState.COMPLETED: (JobStepState.CLOSED,),
            JobStepState.FAILED: (JobStepState.PLANNED, JobStepState.CLOSED),
            JobStepState.CLOSED: (),
        }
    ),
)

STATE_MACHINES: dict[type[Any], StateMachine[Any]] = {
    ProcessingOrder: ORDER_STATE_MACHINE,
    Job: JOB_STATE_MACHINE,
    JobStep: JOB_STEP_STATE_MACHINE,
}

Stateful = ProcessingOrder | Job | JobStep


def describe(entity: Stateful) -> str:
    """A human-readable name of ``entity`` for messages, e.g. ``processing order 3 (ORD-1)``."""
    if isinstance(entity, ProcessingOrder):
        return f"processing order {entity.id} ({entity.identifier})"
    if isinstance(entity, Job):
        return f"job {entity.id}"
    return f"job step {entity.id}"


def transition(
    session: Session,
    entity: Stateful,
    to_state: str | StrEnum,
    *,
    changed_by: str | None = None,
    reason: str | None = None,
) -> StateHistory:
    """Move ``entity`` to ``to_state`` if its state machine allows it, and record the move.

    Flushes the session when the entity has no id yet. The caller owns the transaction.

    :returns: the new state history row (added to the session).
    :raises InvalidInputError: when ``to_state`` is not a state of the entity's machine.
    :raises InvalidStateTransition: naming the entity, the current and the requested state,
        and the states that are allowed from the current one.
    """
    machine = STATE_MACHINES[type(entity)]
    target = machine.parse(to_state, field=f"{machine.entity.value.lower()} state")
    current = machine.parse(entity.state)
    if entity.id is None:
        session.flush()
    if not machine.is_legal(current, target):
        raise InvalidStateTransition(
            describe(entity),
            current.value,
            target.value,
            (s.value for s in machine.allowed(current)),
        )
    entity.state = target
    history = StateHistory(
        entity_type=machine.entity,
        entity_id=entity.id,
        from_state=current.value,
        to_state=target.value,
        changed_by=changed_by,
        reason=reason,
    )
    session.add(history)
    _announce(session, machine.entity, target)
    return history


_WAKES = {
    (StatefulEntity.JOB_STEP, "READY"): wakeup.READY,
    **{
        (StatefulEntity.PROCESSING_ORDER, state): wakeup.ORDERS
        for state in ("APPROVED", "PLANNED", "COMPLETED", "FAILED")
    },
}
"""Moves that give a waiting worker something to do (:mod:`proseo.db.wakeup`)."""


def _announce(session: Session, entity: StatefulEntity, target: StrEnum) -> None:
    topic = _WAKES.get((entity, target.value))
    if topic is not None:
        wakeup.announce(session, topic)


def bulk_transition(
    session: Session,
    model: type[Job] | type[JobStep],
    where: Any,
    from_states: Iterable[StrEnum],
    to_state: StrEnum,
    *,
    changed_by: str | None = None,
    reason: str | None = None,
) -> int:
    """Move every ``model`` row matching ``where`` and in one of ``from_states`` to
    ``to_state`` in two set-based statements (history ``INSERT ... SELECT``, then ``UPDATE``).

    For bulk work (a release of 10^5 job steps) where :func:`transition` per row would be one
    round trip each. Every ``from -> to`` is checked against the state machine first.

    :param where: an SQL condition on ``model`` selecting the rows.
    :returns: the number of rows moved.
    :raises InvalidStateTransition: when some ``from -> to`` is not a legal move.
    """
    machine = STATE_MACHINES[model]
    sources = [machine.parse(s) for s in from_states]
    target = machine.parse(to_state)
    for source in sources:
        if not machine.is_legal(source, target):
            allowed = (state.value for state in machine.allowed(source))
            raise InvalidStateTransition(
                f"{machine.entity.value.lower()}s", source.value, target.value, allowed
            )
    table: Any = model
    selected = and_(where, table.state.in_(sources))
    history = select(
        literal(machine.entity.value),
        table.id,
        table.state,
        literal(target.value),
        literal(utc_now(), UTCDateTime()),
        literal(changed_by, String()),
        literal(reason, Text()),
    ).where(selected)
    session.execute(
        insert(StateHistory).from_select(
            list(STATE_CHANGE_COLUMNS),
            history,
        )
    )
    result = session.execute(
        update(model)
        .where(selected)
        .values(state=target)
        .execution_options(synchronize_session=False)
    )
    moved = int(getattr(result, "rowcount", 0) or 0)
    if moved:
        _announce(session, machine.entity, target)
    return moved
