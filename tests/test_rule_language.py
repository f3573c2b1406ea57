"""The selection-rule parser: every form of the grammar, canonical text, column-accurate errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proseo.enums import PolicyType
from proseo.errors import SelectionRuleError
from proseo.rule_language import (
    POLICIES_WITHOUT_DELTAS,
    Policy,
    Rule,
    SimpleRule,
    format_rule,
    merge_rules,
    parse_rule,
)

DAY, HOUR, MINUTE, SECOND = 86_400_000, 3_600_000, 60_000, 1_000


def test_full_example_with_every_construct() -> None:
    rule = parse_rule(
        "FOR L1B_RA_BD1 SELECT ValIntersect(0, 0) OR LatestValCover(1d, 2H) MINCOVER(80); "
        "for AUX_MET_2D/fileClass:OPER,revision:01 select latestvalidity optional;\n"
        "FOR L0__ODB_1_ SELECT LatestValIntersect(30 m, 500ms) MANDATORY;"
    )
    assert rule == Rule(
        (
            SimpleRule(
                "L1B_RA_BD1",
                (
                    Policy(PolicyType.VAL_INTERSECT, 0, 0),
                    Policy(PolicyType.LATEST_VAL_COVER, DAY, 2 * HOUR),
                ),
                (),
                True,
                80,
            ),
            SimpleRule(
                "AUX_MET_2D",
                (Policy(PolicyType.LATEST_VALIDITY),),
                (("fileClass", "OPER"), ("revision", "01")),
                False,
                None,
            ),
            SimpleRule("L0__ODB_1_", (Policy(PolicyType.LATEST_VAL_INTERSECT, 30 * MINUTE, 500),)),
        )
    )


@pytest.mark.parametrize("policy", list(PolicyType))
def test_every_policy_name_in_any_case(policy: PolicyType) -> None:
    for spelling in (policy.value, policy.value.upper(), policy.value.lower()):
        (simple,) = parse_rule(f"FOR X SELECT {spelling}").simple_rules
        assert simple.policies == (Policy(policy),)


@pytest.mark.parametrize(
    ("delta", "ms"),
    [
        ("3", 3 * DAY),
        ("3d", 3 * DAY),
        ("3D", 3 * DAY),
        ("2h", 2 * HOUR),
        ("5m", 5 * MINUTE),
        ("7s", 7 * SECOND),
        ("250ms", 250),
        ("250 MS", 250),
        ("0", 0),
    ],
)
def test_delta_units(delta: str, ms: int) -> None:
    (simple,) = parse_rule(f"FOR X SELECT ValCover({delta}, {delta})").simple_rules
    assert simple.policies[0] == Policy(PolicyType.VAL_COVER, ms, ms)


def test_rules_for_the_same_filtered_source_are_merged_and_windows_widened() -> None:
    rule = parse_rule(
        "FOR X SELECT ValIntersect(1h, 0) OPTIONAL; FOR X/fileClass:OPER SELECT ValCover; "
        "FOR X SELECT ValIntersect(0, 2h) OR LastCreated MINCOVER(50)"
    )
    assert [format_rule(Rule((s,))) for s in rule.simple_rules] == [
        "FOR X SELECT ValIntersect(1h, 2h) OR LastCreated MINCOVER(50)",
        "FOR X/fileClass:OPER SELECT ValCover(0, 0)",
    ]


def test_canonical_text() -> None:
    text = "for X/b:2,a:1 select valcover(24h,90000ms) or lastcreated optional"
    assert format_rule(parse_rule(text)) == (
        "FOR X/a:1,b:2 SELECT ValCover(1d, 90s) OR LastCreated OPTIONAL"
    )


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("", 1, "FOR"),
        ("FOR", 4, "a product type"),
        ("FOR X SELCT ValCover", 7, "SELECT"),
        ("FOR X SELECT", 13, "a policy name"),
        ("FOR X SELECT ValCovr", 14, "a policy name"),
        ("FOR X SELECT ValCover(1x, 2)", 24, "a delta unit"),
        ("FOR X SELECT ValCover(1d 2d)", 26, "',' between the two deltas"),
        ("FOR X SELECT ValCover(-1, 2)", 23, "a delta"),
        ("FOR X SELECT ValCover(1, 2", 27, "')' after the deltas"),
        ("FOR X SELECT LatestValidity(1, 1)", 28, "LatestValidity takes no deltas"),
        ("FOR X/ SELECT ValCover", 7, "a filter key"),
        ("FOR X/a SELECT ValCover", 8, "':' after the filter key"),
        ("FOR X/a:1,a:2 SELECT ValCover", 11, "given twice"),
        ("FOR X SELECT ValCover MINCOVER 5", 32, "'(' after MINCOVER"),
        ("FOR X SELECT ValCover MINCOVER(101)", 32, "a percentage 0-100"),
        ("FOR X SELECT ValCover OR", 25, "a policy name"),
        ("FOR X SELECT ValCover OPTIONAL MANDATORY", 32, "';', OR, OPTIONAL"),
        ("FOR X SELECT ValCover; FOR Y", 29, "SELECT"),
        ("FOR X SELECT ValCover;; FOR Y SELECT ValCover", 23, "FOR"),
    ],
)
def test_malformed_rules_are_rejected_at_the_right_column(
    text: str, column: int, expected: str
) -> None:
    with pytest.raises(SelectionRuleError) as info:
        parse_rule(text)
    error = info.value
    assert error.column == column, str(error)
    assert expected in str(error)
    lines = str(error).splitlines()
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * (column - 1) + "^"


policies = st.builds(
    lambda kind, a, b: Policy(kind) if kind in POLICIES_WITHOUT_DELTAS else Policy(kind, a, b),
    st.sampled_from(list(PolicyType)),
    st.integers(0, 10 * DAY),
    st.integers(0, 10 * DAY),
)
simple_rules = st.builds(
    SimpleRule,
    source_type=st.sampled_from(["L0", "L1B_RA_BD1", "AUX_MET_2D", "x.y-z"]),
    policies=st.lists(policies, min_size=1, max_size=4, unique_by=lambda p: p.policy_type).map(
        tuple
    ),
    filters=st.dictionaries(
        st.sampled_from(["fileClass", "revision", "mode"]),
        st.sampled_from(["OPER", "01", "x-1.2"]),
        max_size=2,
    ).map(lambda d: tuple(sorted(d.items()))),
    mandatory=st.booleans(),
    min_coverage=st.one_of(st.none(), st.integers(0, 100)),
).map(lambda s: s if s.mandatory else SimpleRule(s.source_type, s.policies, s.filters, False))


@given(st.lists(simple_rules, min_size=1, max_size=4))
def test_parse_format_parse_round_trip(simples: list[SimpleRule]) -> None:
    rule = merge_rules(simples)
    text = format_rule(rule)
    assert parse_rule(text) == rule
    assert format_rule(parse_rule(text)) == text
