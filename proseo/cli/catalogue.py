"""``proseo productclass`` and ``proseo processor``: what the catalogue holds."""

from __future__ import annotations

import typer

from proseo.catalogue.views import list_processors, list_product_classes, product_class_view
from proseo.cli.context import cli_context
from proseo.cli.output import FORMAT_OPTION, OutputFormat, make_console, render, render_fields

MISSION = typer.Option(None, "--mission", "-m", help="Only this mission.")

productclass_app = typer.Typer(
    help="Product classes and their selection rules.", no_args_is_help=True
)
processor_app = typer.Typer(help="Processors and configured processors.", no_args_is_help=True)
console = make_console()


@productclass_app.command("list")
def productclass_list(
    ctx: typer.Context, mission: str | None = MISSION, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """List product classes."""
    with cli_context(ctx).database.transaction() as session:
        rows = list_product_classes(session, mission)
    render(rows, fmt, title="Product classes")


@productclass_app.command("show")
def productclass_show(
    ctx: typer.Context, mission: str, product_type: str, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """Show one product class with its components and selection rules."""
    with cli_context(ctx).database.transaction() as session:
        view = product_class_view(session, mission, product_type)
    if fmt is OutputFormat.JSON:
        render([view], fmt, title="Product class")
        return
    render_fields(view, exclude={"selection_rules"}, title=f"{mission} {product_type}")
    console.print("[bold]selection rules[/]")
    for rule in view.selection_rules or ["(none: an input class)"]:
        console.print(f"  {rule}", markup=False)


@processor_app.command("list")
def processor_list(
    ctx: typer.Context, mission: str | None = MISSION, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """List processor versions with their configured processors."""
    with cli_context(ctx).database.transaction() as session:
        rows = list_processors(session, mission)
    render(rows, fmt, title="Processors")
