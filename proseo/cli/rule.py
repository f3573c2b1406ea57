"""``proseo rule``: check and pretty-print selection rules."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from proseo.cli.output import FORMAT_OPTION, OutputFormat, make_console
from proseo.rule_language import format_policy, format_rule, format_source, parse_rule

app = typer.Typer(help="Selection rules.", no_args_is_help=True)
console = make_console()


@app.command()
def check(
    rule: str = typer.Argument(..., help='Rule text, e.g. "FOR L1B SELECT ValIntersect(0, 0)".'),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Validate RULE; print its canonical form and what each part selects."""
    parsed = parse_rule(rule)
    if fmt is OutputFormat.JSON:
        data = {
            "canonical": format_rule(parsed),
            "simple_rules": [
                {
                    "source_type": s.source_type,
                    "filters": dict(s.filters),
                    "policies": [
                        {
                            "policy": p.policy_type.value,
                            "delta_before_ms": p.delta_before_ms,
                            "delta_after_ms": p.delta_after_ms,
                        }
                        for p in s.policies
                    ],
                    "mandatory": s.mandatory,
                    "min_coverage": s.min_coverage,
                }
                for s in parsed.simple_rules
            ],
        }
        console.print_json(json.dumps(data))
        return
    console.print("rule is valid; canonical form:")
    console.print(f"  {format_rule(parsed)}", markup=False)
    table = Table(title="Simple rules (tried policy by policy, left to right)")
    for column in ("source", "policies", "requirement"):
        table.add_column(column)
    for s in parsed.simple_rules:
        if not s.mandatory:
            requirement = "optional"
        elif s.min_coverage is not None:
            requirement = f"mandatory, cover >= {s.min_coverage} % of the job window"
        else:
            requirement = "mandatory"
        table.add_row(
            format_source(s), " OR ".join(format_policy(p) for p in s.policies), requirement
        )
    console.print(table)
