"""Set-based evaluation of a simple selection rule for many job windows at once, in SQL.

Used by the readiness re-checks (:mod:`planner.readiness`: waiting job steps after an
ingestion); the planner itself evaluates rules in memory (:mod:`planner.rules.memory`). A
rule is evaluated for many job windows in a handful of queries: the windows go into a
temporary table, and each policy is one query over the join of windows and
products (window functions pick the "latest" / "closest" / "largest" product per window).
Nearest-neighbour policies look up, per window, only the products next to the target time
through the (class, sensing start) and (class, sensing stop) indexes. The accumulation of
policies and the MINCOVER check are shared with the reference evaluator
(:func:`planner.rules.evaluate.accumulate`), so the two can only differ in what each policy
selects, and the property tests check they do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from planner.rules.evaluate import (
    PRODUCT_FIELD_FILTERS,
    Selection,
    TimeWindow,
    accumulate,
    epoch_us,
)
from proseo.db.bulk import bulk_insert
from proseo.db.functions import epoch_us as sql_epoch_us
from proseo.db.functions import sensing_length
from proseo.db.types import UTCDateTime
from proseo.enums import PolicyType
from proseo.model import Product, ProductParameter
from proseo.rule_language import Policy, SimpleRule

_scratch = MetaData()
rule_windows = Table(
    "proseo_rule_window",
    _scratch,
    Column("policy", Integer, nullable=False),
    Column("key", BigInteger, nullable=False),
    Column("ws", UTCDateTime, nullable=False),
    Column("we", UTCDateTime, nullable=False),
    Column("ws_us", BigInteger, nullable=False),
    Column("we_us", BigInteger, nullable=False),
    Column("lo", UTCDateTime, nullable=False),
    Column("hi", UTCDateTime, nullable=False),
    Column("reach", UTCDateTime, nullable=False),
    Column("cover_reach", UTCDateTime, nullable=False),
    prefixes=["TEMPORARY"],
)
"""Scratch table of search windows, one row per (policy position, job window)."""

_WINDOW_INDEPENDENT = {
    PolicyType.LATEST_VALIDITY,
    PolicyType.LATEST_START_VALIDITY,
    PolicyType.LATEST_STOP_VALIDITY,
    PolicyType.LAST_CREATED,
}
_NEAREST = {
    PolicyType.LATEST_VALIDITY_CLOSEST,
    PolicyType.CLOSEST_START_VALIDITY,
    PolicyType.CLOSEST_STOP_VALIDITY,
}


def _least(a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    return case((a < b, a), else_=b)


def _greatest(a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    return case((a > b, a), else_=b)


def longest_us(
    session: Session | Connection, start: Any, stop: Any, *where: ColumnElement[bool]
) -> int:
    """The longest ``stop - start`` of the rows matching ``where``, in microseconds (0 when
    none): one probe of an index on (..., :class:`~proseo.db.functions.sensing_length`), so
    it costs the same however many rows there are."""
    row = session.execute(
        select(start, stop).where(*where).order_by(sensing_length(start, stop).desc()).limit(1)
    ).first()
    if row is None:
        return 0
    length: timedelta = row[1] - row[0]
    return max(0, length // timedelta(microseconds=1))


def longest_validity_us(session: Session | Connection, product_class_id: int) -> int:
    """The longest validity (sensing stop - start) of any product of the class, in
    microseconds (0 for an empty class): how far before a window a product may start and
    still reach into it. One probe of ``ix_product_class_length`` (it was a scan of the
    class, which made each campaign batch slower than the one before). An upper bound over
    the whole class, superseded products and those without files included: a wider reach only
    fetches more candidates, never fewer."""
    return longest_us(
        session,
        Product.sensing_start,
        Product.sensing_stop,
        Product.product_class_id == product_class_id,
    )


def product_conditions(
    product: Any, source_class_id: int, rule: SimpleRule
) -> list[ColumnElement[bool]]:
    """The conditions a candidate ``product`` of a simple rule meets: its source class, not
    superseded, and the rule's filters (product fields or parameters)."""
    p = product
    conditions: list[ColumnElement[bool]] = [
        p.product_class_id == source_class_id,
        p.superseded_at.is_(None),  # replaced, or waiting to be made again: never an input
    ]
    for key, value in rule.filters:
        attribute = PRODUCT_FIELD_FILTERS.get(key)
        if attribute is not None:
            conditions.append(getattr(p, attribute) == value)
        else:
            conditions.append(
                exists().where(
                    ProductParameter.product_id == p.id,
                    ProductParameter.key == key,
                    ProductParameter.value == value,
                )
            )
    return conditions


def _newest_first(p: Any) -> list[Any]:
    return [p.generation_time.desc().nulls_last(), p.id.desc()]


def _intersects(p: Any, w: Table) -> ColumnElement[bool]:
    start, stop = p.sensing_start, p.sensing_stop
    ws, we = w.c.ws, w.c.we
    return or_(
        and_(start < we, ws < stop),
        and_(start == stop, ws == we, start == ws),
        and_(start == stop, ws < we, ws <= start, start < we),
        and_(ws == we, start < stop, start <= ws, ws < stop),
    )


def _covers(p: Any, w: Table) -> ColumnElement[bool]:
    # The lower bound on the start keeps the index range scan tight (see _window_rows).
    return and_(
        p.sensing_start <= w.c.ws, p.sensing_start >= w.c.cover_reach, p.sensing_stop >= w.c.we
    )


def _pairs(
    condition: ColumnElement[bool],
    position: int,
    conditions: list[ColumnElement[bool]],
    metrics: Sequence[ColumnElement[Any]],
    lateral: bool,
) -> Any:
    """(window key, product) pairs meeting ``condition``, with the product's validity,
    generation time and the ``metrics`` (columns ``m0``, ``m1``, ...) per pair.

    On PostgreSQL the products are a ``LATERAL`` subquery per window, so each window is one
    index range scan; a plain join let the planner loop over products outside and scan the
    window table inside (quadratic). SQLite has no LATERAL and loops over the windows anyway.
    """
    w = rule_windows
    p = Product
    columns: list[Any] = [
        p.id.label("id"),
        p.sensing_start.label("start"),
        p.sensing_stop.label("stop"),
        p.generation_time.label("generation"),
        *(metric.label(f"m{i}") for i, metric in enumerate(metrics)),
    ]
    if lateral:
        # OFFSET 0 keeps PostgreSQL from flattening the subquery back into a plain join.
        per_window = select(*columns).where(*conditions, condition).offset(0).lateral("matches")
        return (
            select(w.c.key.label("key"), *per_window.c)
            .select_from(w.join(per_window, true()))
            .where(w.c.policy == position)
            .subquery("pairs")
        )
    return (
        select(w.c.key.label("key"), *columns)
        .select_from(w)
        .join(p, and_(w.c.policy == position, *conditions, condition))
        .subquery("pairs")
    )


def _ranked(
    condition: ColumnElement[bool],
    order: Sequence[tuple[ColumnElement[Any], bool]],
    position: int,
    conditions: list[ColumnElement[bool]],
    lateral: bool,
    *,
    per_validity: bool = False,
) -> Select[Any]:
    """Per window (and per distinct validity when ``per_validity``), the first product by
    ``order`` (expression, descending?) among those meeting ``condition``; ties go to the
    latest generation, then the highest id."""
    pairs = _pairs(condition, position, conditions, [e for e, _ in order], lateral)
    ordering = [
        pairs.c[f"m{i}"].desc() if descending else pairs.c[f"m{i}"].asc()
        for i, (_, descending) in enumerate(order)
    ]
    partition = [pairs.c.key, *((pairs.c.start, pairs.c.stop) if per_validity else ())]
    rank = func.row_number().over(
        partition_by=partition,
        order_by=[*ordering, pairs.c.generation.desc().nulls_last(), pairs.c.id.desc()],
    )
    ranked = select(pairs.c.key, pairs.c.id, pairs.c.start, pairs.c.stop, rank.label("rank"))
    inner = ranked.subquery("ranked")
    return select(inner.c.key, inner.c.id, inner.c.start, inner.c.stop).where(inner.c.rank == 1)


def _policy_query(
    policy: Policy,
    position: int,
    conditions: list[ColumnElement[bool]],
    conditions_for: Callable[[Any], list[ColumnElement[bool]]],
    lateral: bool,
) -> Select[Any]:
    w = rule_windows
    p = Product
    kind = policy.policy_type
    start_us, stop_us = sql_epoch_us(p.sensing_start), sql_epoch_us(p.sensing_stop)
    coarse = and_(p.sensing_start <= w.c.we, p.sensing_start >= w.c.reach, p.sensing_stop >= w.c.ws)
    intersecting = and_(coarse, _intersects(p, w))
    if kind in (PolicyType.VAL_COVER, PolicyType.VAL_INTERSECT):
        condition = _covers(p, w) if kind is PolicyType.VAL_COVER else intersecting
        pairs = _pairs(condition, position, conditions, [], lateral)
        return select(pairs.c.key, pairs.c.id, pairs.c.start, pairs.c.stop)
    if kind in (PolicyType.LATEST_VAL_COVER, PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY):
        return _ranked(_covers(p, w), [], position, conditions, lateral)
    if kind is PolicyType.BEST_CENTERED_COVER:
        margin = _least(w.c.ws_us - start_us, stop_us - w.c.we_us)
        return _ranked(_covers(p, w), [(margin, True)], position, conditions, lateral)
    if kind is PolicyType.LATEST_VAL_COVER_CLOSEST:
        return _ranked(_covers(p, w), [(start_us, True)], position, conditions, lateral)
    if kind is PolicyType.LATEST_VAL_INTERSECT:
        return _ranked(intersecting, [], position, conditions, lateral)
    if kind is PolicyType.VAL_INTERSECT_WITHOUT_DUPLICATES:
        return _ranked(intersecting, [], position, conditions, lateral, per_validity=True)
    if kind in (PolicyType.LARGEST_OVERLAP, PolicyType.LARGEST_OVERLAP_85):
        overlap = _least(stop_us, w.c.we_us) - _greatest(start_us, w.c.ws_us)
        condition = intersecting
        if kind is PolicyType.LARGEST_OVERLAP_85:
            condition = and_(intersecting, 100 * overlap >= 85 * (w.c.we_us - w.c.ws_us))
        return _ranked(
            condition,
            [(overlap, True), (func.abs(start_us - w.c.ws_us), False)],
            position,
            conditions,
            lateral,
        )
    if kind in _NEAREST:
        column_name = (
            "sensing_stop" if kind is PolicyType.CLOSEST_STOP_VALIDITY else "sensing_start"
        )
        other = aliased(Product)
        other_conditions = conditions_for(other)
        column = getattr(p, column_name)
        other_column = getattr(other, column_name)
        below = (
            select(func.max(other_column))
            .where(*other_conditions, other_column <= w.c.lo)
            .correlate(w)
            .scalar_subquery()
        )
        above = (
            select(func.min(other_column))
            .where(*other_conditions, other_column >= w.c.hi)
            .correlate(w)
            .scalar_subquery()
        )
        value_us = sql_epoch_us(column)
        if kind is PolicyType.LATEST_VALIDITY_CLOSEST:
            distance = func.abs(2 * value_us - (w.c.ws_us + w.c.we_us))
        elif kind is PolicyType.CLOSEST_START_VALIDITY:
            distance = func.abs(value_us - w.c.ws_us)
        else:
            distance = func.abs(value_us - w.c.we_us)
        return _ranked(
            or_(column == below, column == above),
            [(distance, False)],
            position,
            conditions,
            lateral,
        )
    raise AssertionError(f"unhandled policy {kind}")  # pragma: no cover


def _window_independent(
    session: Session, policy: Policy, conditions: list[ColumnElement[bool]]
) -> list[tuple[int, datetime, datetime]]:
    p = Product
    if policy.policy_type is PolicyType.LAST_CREATED:
        order: list[Any] = []
    elif policy.policy_type is PolicyType.LATEST_STOP_VALIDITY:
        order = [p.sensing_stop.desc()]
    else:
        order = [p.sensing_start.desc()]
    row = session.execute(
        select(p.id, p.sensing_start, p.sensing_stop)
        .where(*conditions)
        .order_by(*order, *_newest_first(p))
        .limit(1)
    ).first()
    return [] if row is None else [(row[0], row[1], row[2])]


def _clear_windows(session: Session, postgresql: bool) -> None:
    """Empty the search-window table. On PostgreSQL with ``TRUNCATE``: a ``DELETE`` leaves
    the dead rows of every earlier evaluation of the transaction in the table, and the next
    fill and window scans wade through them."""
    if postgresql:
        session.execute(text(f"TRUNCATE {rule_windows.name}"))
    else:
        session.execute(delete(rule_windows))


def _window_rows(
    rule: SimpleRule, windows: Sequence[TimeWindow], longest_us: int
) -> tuple[list[dict[str, object]], dict[int, int]]:
    """Search windows per (policy, job window). ``reach`` and ``cover_reach`` are the earliest
    start a product no longer than ``longest_us`` can have and still intersect or cover the
    search window: without them an interval join scans every product starting before the
    window's end (quadratic in the campaign length).

    Policies with equal deltas and target share one group of rows; returns the rows and the
    group of each policy position."""
    longest = timedelta(microseconds=longest_us)
    rows: list[dict[str, object]] = []
    groups: dict[tuple[int, int, str], int] = {}
    group_of: dict[int, int] = {}
    for position, policy in enumerate(rule.policies):
        if policy.policy_type in _WINDOW_INDEPENDENT:
            continue
        target = {
            PolicyType.LATEST_VALIDITY_CLOSEST: "centre",
            PolicyType.CLOSEST_STOP_VALIDITY: "stop",
        }.get(policy.policy_type, "start")
        key = (policy.delta_before_ms, policy.delta_after_ms, target)
        if key in groups:
            group_of[position] = groups[key]
            continue
        groups[key] = group_of[position] = len(groups)
        before = timedelta(milliseconds=policy.delta_before_ms)
        after = timedelta(milliseconds=policy.delta_after_ms)
        for window in windows:
            ws, we = window.start - before, window.stop + after
            ws_us, we_us = epoch_us(ws), epoch_us(we)
            if policy.policy_type is PolicyType.LATEST_VALIDITY_CLOSEST:
                lo = ws + timedelta(microseconds=(we_us - ws_us) // 2)
                hi = ws + timedelta(microseconds=-((ws_us - we_us) // 2))
            elif policy.policy_type is PolicyType.CLOSEST_STOP_VALIDITY:
                lo = hi = we
            else:
                lo = hi = ws
            rows.append(
                {
                    "policy": group_of[position],
                    "key": window.key,
                    "ws": ws,
                    "we": we,
                    "ws_us": ws_us,
                    "we_us": we_us,
                    "lo": lo,
                    "hi": hi,
                    "reach": ws - longest,
                    "cover_reach": we - longest,
                }
            )
    return rows, group_of


def evaluate_simple_rule_for_windows(
    session: Session,
    rule: SimpleRule,
    source_class_id: int,
    windows: Sequence[TimeWindow],
    *,
    candidates: Callable[[Any], ColumnElement[bool]] | None = None,
) -> dict[int, Selection]:
    """Evaluate ``rule`` for every job window against the products in the database.

    :param source_class_id: id of the product class named by ``rule.source_type``.
    :param windows: job windows with distinct ``key`` values.
    :returns: the :class:`Selection` per window key.
    :param candidates: an extra condition on the product table (given the ``Product`` class
        or an alias of it) that limits which products count, e.g. "has a file at the
        facility or is being produced".
    :raises ValueError: when window keys repeat.

    Runs inside the caller's transaction; uses a temporary table on the session's
    connection (emptied before and after use).
    """
    keys = [w.key for w in windows]
    if len(set(keys)) != len(keys):
        raise ValueError("job window keys must be distinct")
    if not windows:
        return {}

    def conditions_for(product: Any) -> list[ColumnElement[bool]]:
        found = product_conditions(product, source_class_id, rule)
        if candidates is not None:
            found.append(candidates(product))
        return found

    connection = session.connection()
    lateral = connection.dialect.name == "postgresql"
    rule_windows.create(connection, checkfirst=True)
    _clear_windows(session, lateral)
    conditions = conditions_for(Product)
    rows, group_of = _window_rows(rule, windows, longest_validity_us(session, source_class_id))
    if rows:
        bulk_insert(session, rule_windows, rows)
        if session.get_bind().dialect.name == "postgresql":
            # Temporary tables are never auto-analyzed: without statistics PostgreSQL plans
            # the window join as if the table had a few rows.
            session.execute(text(f"ANALYZE {rule_windows.name}"))
    validity: dict[int, tuple[int, int]] = {}
    per_window: dict[int, list[set[int]]] = {w.key: [] for w in windows}
    newest_validity: list[tuple[int, datetime, datetime]] | None = None
    for position, policy in enumerate(rule.policies):
        selected: dict[int, set[int]] = {key: set() for key in per_window}
        if policy.policy_type in _WINDOW_INDEPENDENT:
            found = _window_independent(session, policy, conditions)
            for product_id, start, stop in found:
                validity[product_id] = (epoch_us(start), epoch_us(stop))
                for key in selected:
                    selected[key].add(product_id)
        else:
            query = _policy_query(policy, group_of[position], conditions, conditions_for, lateral)
            for key, product_id, start, stop in session.execute(query):
                validity[product_id] = (epoch_us(start), epoch_us(stop))
                selected[key].add(product_id)
            if policy.policy_type is PolicyType.LATEST_VAL_COVER_NEWEST_VALIDITY:
                if newest_validity is None:
                    newest_validity = _window_independent(
                        session, Policy(PolicyType.LATEST_VALIDITY), conditions
                    )
                for product_id, start, stop in newest_validity:
                    validity[product_id] = (epoch_us(start), epoch_us(stop))
                    for chosen in selected.values():
                        if not chosen:
                            chosen.add(product_id)
        for key, chosen in selected.items():
            per_window[key].append(chosen)
    _clear_windows(session, lateral)
    by_key = {w.key: w for w in windows}
    return {
        key: accumulate(rule, by_key[key], policies, validity.__getitem__)
        for key, policies in per_window.items()
    }
