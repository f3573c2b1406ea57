"""The selection-rule language: parser, merging and canonical text form.

Grammar (shared DOMAIN.md, "Selection-rule language")::

    rule        ::= simple_rule { ";" simple_rule }
    simple_rule ::= "FOR" source_type "SELECT" policy { "OR" policy }
                    [ "OPTIONAL" | "MANDATORY" | "MINCOVER" "(" n ")" ]
    policy      ::= name [ "(" delta "," delta ")" ]
    source_type ::= product_type [ "/" key ":" value { "," key ":" value } ]
    delta       ::= integer [ unit ]        unit: d | h | m | s | ms (default d)

Keywords, policy names and units are case-insensitive; product types, filter keys and values
are case-sensitive. MANDATORY is the default. A trailing ``;`` is allowed. Simple rules for
the same filtered source type are merged (see :func:`merge_simple_rules`).

A malformed rule raises :class:`~proseo.errors.SelectionRuleError`, which quotes the rule and
points at the 1-based column where something else was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from proseo.enums import PolicyType
from proseo.errors import InvalidInputError, SelectionRuleError

MS_PER_UNIT: dict[str, int] = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
MAX_DELTA_MS = 36_500 * 86_400_000
"""Longest delta a rule may give (100 years; a longer one cannot be a real search window,
and would overflow the time arithmetic of the planner and the database)."""

POLICIES_WITHOUT_DELTAS = frozenset(
    {
        PolicyType.LATEST_VALIDITY,
        PolicyType.LATEST_START_VALIDITY,
        PolicyType.LATEST_STOP_VALIDITY,
        PolicyType.LAST_CREATED,
    }
)
_POLICY_BY_NAME = {p.value.lower(): p for p in PolicyType}
_POLICY_NAMES = ", ".join(p.value for p in PolicyType)


@dataclass(frozen=True)
class Policy:
    """One selection policy with its deltas (milliseconds, both >= 0).

    For a job window [start, stop] the search window is
    [start - delta_before_ms, stop + delta_after_ms].
    """

    policy_type: PolicyType
    delta_before_ms: int = 0
    delta_after_ms: int = 0

    @property
    def takes_deltas(self) -> bool:
        """Whether the policy uses a search window (LatestValidity & co. do not)."""
        return self.policy_type not in POLICIES_WITHOUT_DELTAS


@dataclass(frozen=True)
class SimpleRule:
    """The part of a rule for one (filtered) source product type.

    ``filters`` are ``(key, value)`` pairs sorted by key; ``min_coverage`` is the MINCOVER
    percentage (``None`` when not given); ``mandatory`` is False for OPTIONAL.
    """

    source_type: str
    policies: tuple[Policy, ...]
    filters: tuple[tuple[str, str], ...] = ()
    mandatory: bool = True
    min_coverage: int | None = None

    @property
    def source_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Identity of the filtered source type (rules with equal keys are merged)."""
        return (self.source_type, self.filters)


@dataclass(frozen=True)
class Rule:
    """A parsed selection rule: its simple rules in order of first appearance."""

    simple_rules: tuple[SimpleRule, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return format_rule(self)


def merge_simple_rules(first: SimpleRule, second: SimpleRule) -> SimpleRule:
    """Merge two simple rules for the same filtered source type.

    Policies of ``second`` not in ``first`` are appended; a policy in both keeps its place
    and gets the wider of each delta (two LatestValidityClosest policies only when they aim
    at the same time, see :func:`_check_same_target`). The result is mandatory if either is, and its
    MINCOVER is the larger of the two.

    :raises ValueError: when the source keys differ.
    :raises InvalidInputError: for LatestValidityClosest policies aiming at different times.
    """
    if first.source_key != second.source_key:
        raise ValueError(f"cannot merge rules for {first.source_key} and {second.source_key}")
    policies = list(first.policies)
    for policy in second.policies:
        for i, existing in enumerate(policies):
            if existing.policy_type is policy.policy_type:
                _check_same_target(first.source_type, existing, policy)
                policies[i] = replace(
                    existing,
                    delta_before_ms=max(existing.delta_before_ms, policy.delta_before_ms),
                    delta_after_ms=max(existing.delta_after_ms, policy.delta_after_ms),
                )
                break
        else:
            policies.append(policy)
    coverages = [c for c in (first.min_coverage, second.min_coverage) if c is not None]
    return replace(
        first,
        policies=tuple(policies),
        mandatory=first.mandatory or second.mandatory,
        min_coverage=max(coverages) if coverages else None,
    )


def _check_same_target(source_type: str, one: Policy, other: Policy) -> None:
    """Refuse merging two LatestValidityClosest policies that aim at different times.

    The policy selects the product closest to the centre of the widened window; merging
    widens each delta to the larger one, which moves that centre unless both policies aim
    at the same offset (``delta_after - delta_before``). prosEO refuses such a merge too.
    """
    if one.policy_type is not PolicyType.LATEST_VALIDITY_CLOSEST:
        return
    if one.delta_after_ms - one.delta_before_ms != other.delta_after_ms - other.delta_before_ms:
        raise InvalidInputError(
            "selection rule",
            f"{source_type}: {one.policy_type.value}({format_delta(one.delta_before_ms)}, "
            f"{format_delta(one.delta_after_ms)}) and ({format_delta(other.delta_before_ms)}, "
            f"{format_delta(other.delta_after_ms)})",
            "two LatestValidityClosest policies for the same source aim at different times "
            "and cannot be merged; give one",
        )


def merge_rules(simple_rules: list[SimpleRule] | tuple[SimpleRule, ...]) -> Rule:
    """Merge simple rules for equal filtered source types, keeping first-appearance order."""
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], SimpleRule] = {}
    for simple in simple_rules:
        key = simple.source_key
        merged[key] = merge_simple_rules(merged[key], simple) if key in merged else simple
    return Rule(tuple(merged.values()))


# --- parsing ---------------------------------------------------------------------------

_WS = re.compile(r"\s*")
_PRODUCT_TYPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_VALUE = re.compile(r"[^\s,;:()/]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_INTEGER = re.compile(r"\d+")
_UNIT = re.compile(r"(ms|d|h|m|s)(?![A-Za-z0-9])", re.IGNORECASE)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.shown = text.replace("\n", " ").replace("\t", " ").replace("\r", " ")
        self.pos = 0

    def fail(self, expected: str, pos: int | None = None) -> SelectionRuleError:
        return SelectionRuleError(self.shown, (self.pos if pos is None else pos) + 1, expected)

    def skip(self) -> None:
        match = _WS.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        self.skip()
        end = self.pos + len(word)
        if self.text[self.pos : end].upper() == word and not (
            end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_")
        ):
            self.pos = end
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail(word)

    def char(self, symbol: str) -> bool:
        self.skip()
        if self.text.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        return False

    def expect_char(self, symbol: str, what: str | None = None) -> None:
        if not self.char(symbol):
            raise self.fail(what or f"'{symbol}'")

    def token(self, pattern: re.Pattern[str], what: str, *, skip: bool = True) -> str:
        if skip:
            self.skip()
        match = pattern.match(self.text, self.pos)
        if match is None:
            raise self.fail(what)
        self.pos = match.end()
        return match.group(0)

    def rule(self) -> Rule:
        simple_rules = [self.simple_rule()]
        while self.char(";"):
            if self.at_end():
                break
            simple_rules.append(self.simple_rule())
        if not self.at_end():
            raise self.fail("';', OR, OPTIONAL, MANDATORY, MINCOVER or the end of the rule")
        return merge_rules(simple_rules)

    def simple_rule(self) -> SimpleRule:
        self.expect_keyword("FOR")
        source_type = self.token(_PRODUCT_TYPE, "a product type")
        filters: tuple[tuple[str, str], ...] = ()
        if self.text.startswith("/", self.pos):
            self.pos += 1
            filters = self.filters()
        self.expect_keyword("SELECT")
        policies = [self.policy()]
        while self.keyword("OR"):
            policies.append(self.policy())
        mandatory, min_coverage = True, None
        if self.keyword("OPTIONAL"):
            mandatory = False
        elif self.keyword("MANDATORY"):
            pass
        elif self.keyword("MINCOVER"):
            self.expect_char("(", "'(' after MINCOVER")
            self.skip()
            start = self.pos
            value = int(self.token(_INTEGER, "a percentage 0-100"))
            if value > 100:
                raise self.fail("a percentage 0-100", start)
            self.expect_char(")")
            min_coverage = value
        rule = SimpleRule(source_type, (), filters, mandatory, min_coverage)
        merged = rule
        for policy in policies:  # repeated policies within one rule widen each other
            merged = merge_simple_rules(merged, replace(rule, policies=(policy,)))
        return merged

    def filters(self) -> tuple[tuple[str, str], ...]:
        """``key:value{,key:value}`` right after the ``/``, without blanks (part of the type)."""
        pairs: dict[str, str] = {}
        while True:
            start = self.pos
            key = self.token(_KEY, "a filter key", skip=False)
            if key in pairs:
                raise self.fail(f"a filter key other than {key!r} (given twice)", start)
            if not self.text.startswith(":", self.pos):
                raise self.fail("':' after the filter key")
            self.pos += 1
            pairs[key] = self.token(_VALUE, "a filter value", skip=False)
            if not self.text.startswith(",", self.pos):
                return tuple(sorted(pairs.items()))
            self.pos += 1

    def policy(self) -> Policy:
        self.skip()
        start = self.pos
        name = self.token(_NAME, f"a policy name ({_POLICY_NAMES})")
        policy_type = _POLICY_BY_NAME.get(name.lower())
        if policy_type is None:
            raise self.fail(f"a policy name ({_POLICY_NAMES})", start)
        if policy_type in POLICIES_WITHOUT_DELTAS:
            self.skip()
            if self.text.startswith("(", self.pos):
                raise self.fail(f"';', OR or the end: {policy_type.value} takes no deltas")
            return Policy(policy_type)
        if not self.char("("):
            return Policy(policy_type)
        before = self.delta()
        self.expect_char(",", "',' between the two deltas")
        after = self.delta()
        self.expect_char(")", "')' after the deltas")
        return Policy(policy_type, before, after)

    def delta(self) -> int:
        start = self.pos
        number = int(
            self.token(_INTEGER, "a delta: a non-negative integer with unit d, h, m, s or ms")
        )
        match = _UNIT.match(self.text, self.pos)
        if match is None:
            self.skip()
            match = _UNIT.match(self.text, self.pos)
        unit = "d"
        if match is None and self.pos < len(self.text) and self.text[self.pos].isalpha():
            raise self.fail("a delta unit: d, h, m, s or ms")
        if match is not None:
            unit = match.group(1).lower()
            self.pos = match.end()
        if number * MS_PER_UNIT[unit] > MAX_DELTA_MS:
            raise self.fail(f"a delta of at most {MAX_DELTA_MS // MS_PER_UNIT['d']} d", start)
        return number * MS_PER_UNIT[unit]


def parse_rule(text: str) -> Rule:
    """Parse a selection rule text.

    :returns: the rule, with simple rules for equal filtered source types merged.
    :raises SelectionRuleError: quoting the rule, with the column and what was expected.
    """
    return _Parser(text).rule()


# --- canonical text ----------------------------------------------------------------------


def format_delta(ms: int) -> str:
    """A delta in the largest unit that expresses it exactly: ``1d``, ``90s``, ``1500ms``."""
    if ms == 0:
        return "0"
    for unit in ("d", "h", "m", "s"):
        if ms % MS_PER_UNIT[unit] == 0:
            return f"{ms // MS_PER_UNIT[unit]}{unit}"
    return f"{ms}ms"


def format_policy(policy: Policy) -> str:
    """Canonical text of a policy: name, and ``(before, after)`` where it takes deltas."""
    if not policy.takes_deltas:
        return policy.policy_type.value
    return (
        f"{policy.policy_type.value}"
        f"({format_delta(policy.delta_before_ms)}, {format_delta(policy.delta_after_ms)})"
    )


def format_source(simple: SimpleRule) -> str:
    """``TYPE`` or ``TYPE/key:value,...`` (keys sorted)."""
    if not simple.filters:
        return simple.source_type
    return simple.source_type + "/" + ",".join(f"{k}:{v}" for k, v in simple.filters)


def format_simple_rule(simple: SimpleRule) -> str:
    """Canonical text of one simple rule (MANDATORY is implied, so never written)."""
    text = f"FOR {format_source(simple)} SELECT " + " OR ".join(
        format_policy(p) for p in simple.policies
    )
    if not simple.mandatory:
        text += " OPTIONAL"
    elif simple.min_coverage is not None:
        text += f" MINCOVER({simple.min_coverage})"
    return text


def format_rule(rule: Rule) -> str:
    """Canonical text of a rule: ``parse_rule(format_rule(r)) == r`` for every parsed rule."""
    return "; ".join(format_simple_rule(s) for s in rule.simple_rules)
