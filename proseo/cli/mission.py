"""``proseo mission``: missions in the metadata database."""

from __future__ import annotations

import typer

from proseo.catalogue import missions
from proseo.cli.context import cli_context
from proseo.cli.output import OutputFormat, make_console, render

app = typer.Typer(help="Missions in the metadata database.", no_args_is_help=True)
console = make_console()

FORMAT = typer.Option(
    OutputFormat.TABLE, "--format", "-f", help="table for humans, json for scripts"
)


@app.command("list")
def list_(ctx: typer.Context, fmt: OutputFormat = FORMAT) -> None:
    """List the missions."""
    with cli_context(ctx).database.transaction() as session:
        rows = missions.list_missions(session)
    render(rows, fmt, title="Missions")


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
