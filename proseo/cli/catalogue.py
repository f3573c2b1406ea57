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


@productclass_app.command("retention")
def productclass_retention(
    ctx: typer.Context,
    mission: str,
    product_type: str,
    keep_days: float | None = typer.Option(
        None, "--keep-days", min=0, help="Days a product is kept after it was catalogued."
    ),
    keep_superseded_days: float | None = typer.Option(
        None, "--keep-superseded-days", min=0, help="Days a superseded product is kept."
    ),
    forever: bool = typer.Option(False, "--forever", help="Keep products for ever."),
    evict: str | None = typer.Option(
        None, "--evict", help="What eviction leaves: tombstone (the row) or remove."
    ),
) -> None:
    """Set how long products of a class are kept, and what eviction leaves."""
    from sqlalchemy import select

    from proseo.catalogue.missions import get_mission
    from proseo.errors import InvalidInputError, NotFoundError
    from proseo.model import ProductClass

    if evict is not None and evict.upper() not in ("TOMBSTONE", "REMOVE"):
        raise InvalidInputError("--evict", evict, "expected tombstone or remove")
    with cli_context(ctx).database.transaction() as session:
        pc = session.scalar(
            select(ProductClass).where(
                ProductClass.mission_id == get_mission(session, mission).id,
                ProductClass.product_type == product_type,
            )
        )
        if pc is None:
            raise NotFoundError(f"mission {mission} has no product class {product_type!r}")
        if forever:
            pc.retention_s = pc.superseded_retention_s = None
        if keep_days is not None:
            pc.retention_s = round(keep_days * 86400)
        if keep_superseded_days is not None:
            pc.superseded_retention_s = round(keep_superseded_days * 86400)
        if evict is not None:
            pc.eviction_mode = evict.upper()
        shown = (
            f"{mission} {product_type}: kept "
            + ("for ever" if pc.retention_s is None else f"{pc.retention_s / 86400:g} days")
            + (
                ""
                if pc.superseded_retention_s is None
                else f", superseded {pc.superseded_retention_s / 86400:g} days"
            )
            + f"; eviction leaves {pc.eviction_mode.lower()}"
        )
    console.print(shown, markup=False)


@processor_app.command("list")
def processor_list(
    ctx: typer.Context, mission: str | None = MISSION, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """List processor versions with their configured processors."""
    with cli_context(ctx).database.transaction() as session:
        rows = list_processors(session, mission)
    render(rows, fmt, title="Processors")
