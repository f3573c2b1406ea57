"""Selection rules: the rule language, the reference evaluator and the set-based evaluator."""

from planner.rules.evaluate import ProductInfo, Selection, TimeWindow, evaluate_simple_rule
from proseo.rule_language import (
    Policy,
    Rule,
    SimpleRule,
    format_rule,
    merge_rules,
    parse_rule,
)

__all__ = [
    "Policy",
    "ProductInfo",
    "Rule",
    "Selection",
    "SimpleRule",
    "TimeWindow",
    "evaluate_simple_rule",
    "format_rule",
    "merge_rules",
    "parse_rule",
]
