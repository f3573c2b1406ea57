"""``proseo campaign``: reprocessing campaigns (local mode).

A campaign's batches are ordered, planned and released by ``proseo serve`` (or ``proseo
trigger run``) as its limit of job steps in flight allows.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from proseo.cli.context import cli_context, local_actor
from proseo.cli.output import make_console, say
from proseo.errors import InvalidInputError

app = typer.Typer(
    help="Reprocessing campaigns: years of data, batch by batch.", no_args_is_help=True
)
console = make_console()
MISSION = typer.Option(..., "--mission", "-m", help="Mission code.")
JSON_OUTPUT = typer.Option(False, "--json", help="Print JSON.")


def _orbits(value: str | None) -> dict[str, Any]:
    if value is None:
        return {}
    match = re.fullmatch(r"([A-Za-z0-9_-]+):(\d+)-(\d+)", value)
    if match is None:
        raise InvalidInputError("--orbits", value, "expected SPACECRAFT:FIRST-LAST")
    return {"spacecraft": match[1], "orbit_from": int(match[2]), "orbit_to": int(match[3])}


@app.command("create")
def campaign_create(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Campaign name (or in --file)."),
    file: Path | None = typer.Option(None, "--file", help="Campaign as YAML or JSON."),
    mission: str | None = typer.Option(None, "--mission", "-m"),
    template: str | None = typer.Option(None, "--template", help="Order template to use."),
    start: datetime | None = typer.Option(None, "--start", help="Period start, UTC."),
    stop: datetime | None = typer.Option(None, "--stop", help="Period stop, UTC."),
    orbits: str | None = typer.Option(None, "--orbits", help="SPACECRAFT:FIRST-LAST."),
    spacecraft: str | None = typer.Option(
        None, "--spacecraft", help="For ORBITS batches over a period."
    ),
    batch_unit: str = typer.Option("MONTH", "--batch-unit", help="DAY, MONTH or ORBITS."),
    batch_size: int = typer.Option(1, "--batch-size", help="Days, months or orbits a batch."),
    facility: list[str] = typer.Option([], "--facility", help="Facility (repeatable)."),
    max_in_flight: int = typer.Option(
        1000, "--max-in-flight", help="Its job steps READY, waiting or running per facility."
    ),
    priority: int = typer.Option(20, "--priority", help="Its orders' priority."),
    description: str | None = typer.Option(None, "--description"),
    dry: bool = typer.Option(
        False, "--dry-run", help="Plan every batch and say what it would make; write nothing."
    ),
) -> None:
    """Create a campaign (state CREATED; 'proseo campaign start' starts it)."""
    from orderman.campaigns import CampaignSpec, create_campaign, dry_run, parse_campaign_spec

    context = cli_context(ctx)
    if file is not None:
        from proseo.validation import load_input

        spec = load_input(CampaignSpec, file, "campaign file")
    else:
        given: dict[str, Any] = {
            "mission": mission,
            "name": name,
            "description": description,
            "template": template,
            "start_time": None if start is None else start.isoformat(),
            "stop_time": None if stop is None else stop.isoformat(),
            "spacecraft": spacecraft,
            "batch_unit": batch_unit.upper(),
            "batch_size": batch_size,
            "facilities": facility,
            "max_in_flight": max_in_flight,
            "priority": priority,
            **_orbits(orbits),
        }
        spec = parse_campaign_spec(
            {k: v for k, v in given.items() if v is not None}, source="options"
        )
    if dry:
        result = dry_run(context.database, spec, context.settings.limits)
        say(
            f"campaign {spec.name} (dry run): {result.batches} batches, {result.orders} orders, "
            f"{result.jobs} jobs, {result.job_steps} job steps (one product each); "
            f"{result.products_found} requested products exist, "
            f"{result.products_in_production} being produced; {result.seconds:.1f} s"
        )
        for product_type, count in sorted(result.steps_per_class.items()):
            say(f"  {product_type}: {count} job steps")
        return
    with context.database.transaction() as session:
        campaign = create_campaign(session, spec, local_actor(), context.settings.limits)
        batches = len(campaign.batches)
    say(f"campaign {spec.name} of {spec.mission} created: {batches} batches (state CREATED)")


@app.command("list")
def campaign_list(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """List campaigns with their progress."""
    from orderman.campaigns import campaign_view, list_campaigns

    with cli_context(ctx).database.transaction() as session:
        views = [campaign_view(session, c) for c in list_campaigns(session, mission)]
    if as_json:
        console.print_json(json.dumps(views))
        return
    if not views:
        say("no campaigns")
    for v in views:
        say(
            f"{v['mission']} {v['name']}: {v['state']}, {v['batches_done']}/{v['batches']} "
            f"batches done ({v['percent_done']} %), {v['job_steps_produced']}/"
            f"{v['job_steps_planned']} job steps produced, {v['job_steps_failed']} failed"
        )


@app.command("show")
def campaign_show(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    mission: str = MISSION,
    batches: bool = typer.Option(False, "--batches", help="One line per batch."),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Show a campaign: state, progress, throughput and estimated end (and its batches)."""
    from orderman.campaigns import campaign_view, get_campaign

    with cli_context(ctx).database.transaction() as session:
        view = campaign_view(session, get_campaign(session, mission, name), batches=batches)
    if as_json:
        console.print_json(json.dumps(view))
        return
    rows = view.pop("batch_list", [])
    for key, value in view.items():
        say(f"{key.replace('_', ' ')}: {value}")
    for row in rows:
        say(
            f"  #{row['number']} {row['window']} at {row['facility']}: "
            f"{row['order'] or '-'} {row['order_state'] or 'not ordered'}, "
            f"{row['produced']}/{row['job_steps']} produced, {row['failed']} failed"
            + (f" ({row['message']})" if row["message"] else "")
        )


def _command(command: str, help_text: str) -> None:
    def run_command(
        ctx: typer.Context, name: str = typer.Argument(...), mission: str = MISSION
    ) -> None:
        from orderman.campaigns import run_campaign_command

        state, result = run_campaign_command(
            cli_context(ctx).database, mission, name, command, local_actor()
        )
        extra = "" if result is None else f" ({result} orders)"
        say(f"campaign {name}: {command} done, now {state.value}{extra}")

    run_command.__doc__ = help_text
    app.command(command)(run_command)


_command("start", "Start a campaign: its batches are ordered as its limit allows.")
_command("pause", "Pause: no new batch; its released orders are suspended.")
_command("resume", "Resume a paused campaign: its suspended orders are released again.")
_command("cancel", "Cancel: no further batch; its orders not yet run are cancelled.")
_command("retry", "Retry and release the campaign's failed orders.")


reprocess_app = typer.Typer(
    help="Targeted reprocessing after a corrected input or a new configured processor."
)


@reprocess_app.command()
def reprocess(
    ctx: typer.Context,
    mission: str = MISSION,
    after_aux: int | None = typer.Option(
        None, "--after-aux", min=1, help="Id of the corrected input (e.g. AUX) product."
    ),
    after_processor: str | None = typer.Option(
        None, "--after-processor", help="Identifier of the new configured processor."
    ),
    campaign: str | None = typer.Option(
        None, "--campaign", help="Name of the campaign to create (default: REPROCESS-<time>)."
    ),
    facility: str | None = typer.Option(None, "--facility"),
    max_in_flight: int = typer.Option(1000, "--max-in-flight"),
    priority: int = typer.Option(20, "--priority"),
    dry: bool = typer.Option(
        False, "--dry-run", help="Show what would be made again; change nothing."
    ),
) -> None:
    """Find every product whose lineage used the replaced input or processor, show the
    difference, and (unless --dry-run) mark them superseded and create a campaign that makes
    exactly those again ('proseo campaign start' starts it)."""
    from orderman.reprocess import affected_by_input, affected_by_processor, targeted_campaign
    from proseo.model.base import utc_now

    if (after_aux is None) == (after_processor is None):
        raise InvalidInputError(
            "--after-aux/--after-processor", None, "give exactly one of the two"
        )
    context = cli_context(ctx)
    with context.database.transaction() as session:
        affected = (
            affected_by_input(session, after_aux)
            if after_aux is not None
            else affected_by_processor(session, after_processor or "")
        )
        say(f"{affected.reason}: {len(affected.replaced)} products replaced")
        say(
            f"{len(affected.products)} products to make again over {affected.windows()} "
            "sensing windows:"
        )
        for product_type, count in affected.by_class().items():
            say(f"  {product_type}: {count}")
        if dry:
            return
        name = campaign or f"REPROCESS-{utc_now():%Y%m%dT%H%M%S}"
        made = targeted_campaign(
            session, mission, name, affected, local_actor(), facility=facility,
            priority=priority, max_in_flight=max_in_flight, processor=after_processor,
        )  # fmt: skip
        batches = len(made.batches)
    say(
        f"campaign {name} created: {batches} batches (state CREATED); the products are marked "
        f"superseded; 'proseo campaign start {name} -m {mission}' makes them again"
    )
