"""``proseo mission``: missions in the metadata database and their plug-ins."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import typer

from proseo.catalogue import missions
from proseo.catalogue.sync import SyncReport, export_mission, sync_mission
from proseo.catalogue.views import MissionView, mission_view
from proseo.cli.context import cli_context
from proseo.cli.output import FORMAT_OPTION, OutputFormat, make_console, render, render_fields
from proseo.definitions import dump_definition, load_definition
from proseo.errors import InvalidInputError
from proseo.plugins import get_mission_plugin

app = typer.Typer(help="Missions in the metadata database.", no_args_is_help=True)
console = make_console()

ORBITS = typer.Option(
    None, "--orbits", help="Orbit range FIRST-LAST to create from the nominal orbit source."
)


class FileFormat(StrEnum):
    """Format of exported mission definitions."""

    YAML = "yaml"
    JSON = "json"


def _orbit_range(text: str | None, limit: int) -> tuple[int, int] | None:
    """``FIRST-LAST`` as numbers, at most ``limit`` orbits (``limits.max_orbits_per_sync``)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,9})\s*-\s*(\d{1,9})\s*", text)
    if match is None or int(match[1]) > int(match[2]):
        raise InvalidInputError("--orbits", text, "expected FIRST-LAST, e.g. 8138-14137")
    count = int(match[2]) - int(match[1]) + 1
    if count > limit:
        raise InvalidInputError(
            "--orbits",
            text,
            f"{count} orbits, more than the {limit} one sync may create (setting "
            "limits.max_orbits_per_sync); sync the range in parts",
        )
    return int(match[1]), int(match[2])


def _limit(ctx: typer.Context) -> int:
    return cli_context(ctx).settings.limits.max_orbits_per_sync


def _print_report(report: SyncReport) -> None:
    if not report.changed:
        console.print(f"mission {report.mission}: no changes (database already matches)")
    else:
        console.print(f"mission {report.mission}: {len(report.changes)} change(s)")
        for line in report.changes:
            console.print(f"  {line}")
    for line in report.kept:
        console.print(f"  kept {line}")


@app.command("list")
def list_(ctx: typer.Context, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """List the missions."""
    remote = cli_context(ctx).remote
    if remote is not None:
        rows = [missions.MissionSummary.model_validate(r) for r in remote.get("/missions")]
    else:
        with cli_context(ctx).database.transaction() as session:
            rows = missions.list_missions(session)
    render(rows, fmt, title="Missions")


@app.command()
def show(ctx: typer.Context, code: str, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Show a mission: spacecraft and orbits, counts of classes, processors and products."""
    remote = cli_context(ctx).remote
    if remote is not None:
        view = MissionView.model_validate(remote.get(f"/missions/{code}"))
    else:
        with cli_context(ctx).database.transaction() as session:
            view = mission_view(session, code)
    if fmt is OutputFormat.JSON:
        render([view], fmt, title="Mission")
        return
    render_fields(view, exclude={"spacecraft"}, title=f"Mission {view.code}")
    render(view.spacecraft, OutputFormat.TABLE, title="Spacecraft")


@app.command()
def create(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="Mission code, e.g. S5P."),
    name: str = typer.Option(..., "--name", help="Mission name."),
    file_class: list[str] = typer.Option([], "--file-class", help="A file class (repeatable)."),
    mode: list[str] = typer.Option([], "--mode", help="A processing mode (repeatable)."),
    template: str | None = typer.Option(None, "--file-name-template", help="Jinja2 template."),
) -> None:
    """Create a mission by hand (mission plug-ins are synchronised with 'mission sync')."""
    with cli_context(ctx).database.transaction() as session:
        mission = missions.create_mission(
            session,
            code,
            name,
            file_classes=file_class,
            processing_modes=mode,
            product_file_template=template,
        )
        console.print(f"mission {mission.code} created")


@app.command("set")
def set_(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="Mission code."),
    self_approval: bool | None = typer.Option(
        None,
        "--self-approval/--no-self-approval",
        help="Whether the creator of an order may approve it too (default: no).",
    ),
) -> None:
    """Change a mission's operating rules (kept across 'mission sync')."""
    with cli_context(ctx).database.transaction() as session:
        mission = missions.get_mission(session, code)
        if self_approval is not None:
            mission.allow_self_approval = self_approval
        state = "may" if mission.allow_self_approval else "may not"
        console.print(f"mission {mission.code}: the creator of an order {state} approve it")


@app.command()
def sync(ctx: typer.Context, code: str, orbits: str | None = ORBITS) -> None:
    """Write the installed plug-in of mission CODE into the database (idempotent)."""
    definition = get_mission_plugin(code).definition()
    with cli_context(ctx).database.transaction() as session:
        report = sync_mission(session, definition, orbit_range=_orbit_range(orbits, _limit(ctx)))
    _print_report(report)


@app.command("import")
def import_(ctx: typer.Context, path: Path, orbits: str | None = ORBITS) -> None:
    """Write a mission definition file (YAML or JSON) into the database (idempotent)."""
    definition = load_definition(path)
    with cli_context(ctx).database.transaction() as session:
        report = sync_mission(session, definition, orbit_range=_orbit_range(orbits, _limit(ctx)))
    _print_report(report)


@app.command()
def export(
    ctx: typer.Context,
    code: str,
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    fmt: FileFormat = typer.Option(FileFormat.YAML, "--format", "-f"),
) -> None:
    """Export what the database holds for mission CODE as a definition file."""
    with cli_context(ctx).database.transaction() as session:
        text = dump_definition(export_mission(session, code), fmt.value)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"mission {code} exported to {output}")
