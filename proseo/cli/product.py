"""``proseo product``: list, show and fetch products of the catalogue."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

import typer

from proseo.catalogue.products import (
    ProductPage,
    ProductView,
    fetch_product_file,
    list_products,
    product_view,
)
from proseo.cli.context import cli_context
from proseo.cli.output import (
    FORMAT_OPTION,
    OutputFormat,
    id_argument,
    make_console,
    render,
    render_fields,
)
from proseo.errors import InvalidInputError
from proseo.plugins import get_mission_plugin

app = typer.Typer(help="Products in the catalogue.", no_args_is_help=True)
console = make_console()


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(field, value, "is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInputError(field, value, "needs a time zone (e.g. Z for UTC)")
    return moment


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@app.command("list")
def product_list(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m", help="Only this mission."),
    product_type: str | None = typer.Option(None, "--class", "-c", help="Only this class."),
    sensing_from: str | None = typer.Option(None, "--from", help="Sensing stop after (UTC)."),
    sensing_to: str | None = typer.Option(None, "--to", help="Sensing start before (UTC)."),
    with_files: bool = typer.Option(
        False, "--with-files", help="Only products with files (no placeholders)."
    ),
    offset: int = typer.Option(0, "--offset", help="Skip this many."),
    limit: int = typer.Option(50, "--limit", help="At most this many."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List products, newest sensing first, with paging."""
    start, stop = _time(sensing_from, "--from"), _time(sensing_to, "--to")
    remote = cli_context(ctx).remote
    if remote is not None:
        page = ProductPage.model_validate(
            remote.get(
                "/products",
                mission=mission,
                product_class=product_type,
                sensing_from=_iso(start),
                sensing_to=_iso(stop),
                with_files=with_files,
                offset=offset,
                limit=limit,
            )
        )
    else:
        with cli_context(ctx).database.transaction() as session:
            page = list_products(
                session,
                mission=mission,
                product_type=product_type,
                sensing_from=start,
                sensing_to=stop,
                with_files_only=with_files,
                offset=offset,
                limit=limit,
            )
    render(
        page.products,
        fmt,
        title=f"Products {offset + 1}-{offset + len(page.products)} of {page.total}",
    )


@app.command("show")
def product_show(
    ctx: typer.Context,
    product_id: int = id_argument("Product id."),
    stats: bool = typer.Option(
        False, "--stats", help="Statistics of the main file (from the mission plug-in)."
    ),
    quicklook: Path | None = typer.Option(
        None, "--quicklook", help="Write a PNG quicklook here (from the mission plug-in)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show a product: files with sizes and MD5, parameters, and its lineage (--stats and
    --quicklook read the file: local mode only)."""
    context = cli_context(ctx)
    if context.remote is not None and not (stats or quicklook is not None):
        view = ProductView.model_validate(context.remote.get(f"/products/{product_id}"))
    else:
        with context.database.transaction() as session:
            view = product_view(session, product_id)
    statistics: dict[str, str] = {}
    written = None
    if stats or quicklook is not None:
        with tempfile.TemporaryDirectory(prefix="proseo-product-") as folder:
            mission, product_type, path = fetch_product_file(
                context.database, context.settings, product_id, Path(folder)
            )
            plugin = get_mission_plugin(mission)
            if stats:
                statistics = plugin.product_statistics(product_type, path)
            if quicklook is not None and plugin.quicklook(product_type, path, quicklook):
                written = quicklook
    if fmt is OutputFormat.JSON:
        document = view.model_dump(mode="json")
        if stats:
            document["statistics"] = statistics
        if written is not None:
            document["quicklook"] = str(written)
        typer.echo(json.dumps([document], indent=1))
        return
    render_fields(view, exclude={"files", "inputs", "parameters"}, title=f"Product {product_id}")
    for file in view.files:
        console.print(
            f"[bold]file[/] {file.file_name} ({file.size_bytes} bytes, MD5 {file.md5}) "
            f"at {file.facility}: {file.storage_path}"
            + (f" + {len(file.auxiliary_files)} auxiliary" if file.auxiliary_files else ""),
            markup=True,
            highlight=False,
        )
    for key, value in sorted(view.parameters.items()):
        console.print(f"[bold]parameter[/] {key} = {value}", highlight=False)
    for used in view.inputs:
        console.print(
            f"[bold]made from[/] {used.id} {used.product_type} {used.file_name or '(no file)'}",
            highlight=False,
        )
    for key, value in statistics.items():
        console.print(f"[bold]statistic[/] {key} = {value}", highlight=False)
    if stats and not statistics:
        console.print("no statistics for this product class")
    if quicklook is not None:
        console.print(
            f"quicklook written to {written}" if written else "no quicklook for this product class"
        )


@app.command("fetch")
def product_fetch(
    ctx: typer.Context,
    product_id: int = id_argument("Product id."),
    target: Path = typer.Argument(Path("."), help="Folder to copy the main file into."),
) -> None:
    """Copy a product's main file out of storage."""
    context = cli_context(ctx)
    target.mkdir(parents=True, exist_ok=True)
    _, _, path = fetch_product_file(context.database, context.settings, product_id, target)
    console.print(f"{path}")


@app.command("delete")
def product_delete(
    ctx: typer.Context,
    product_ids: list[int] = typer.Argument(..., min=1, help="Product ids."),
    files_only: bool = typer.Option(
        False, "--files-only", help="Delete only the files (the catalogue rows stay)."
    ),
    facility: str | None = typer.Option(
        None, "--facility", help="With --files-only: only the files at this facility."
    ),
) -> None:
    """Delete products with their files (refused while an unfinished job step needs one)."""
    from proseo.catalogue.retention import delete_products

    context = cli_context(ctx)
    done = delete_products(
        context.database, context.settings, product_ids, files_only=files_only, facility=facility
    )
    what = "files of" if files_only else "products"
    console.print(
        f"deleted {what} {', '.join(map(str, product_ids))}: {done.files} files, "
        f"{done.bytes} bytes",
        markup=False,
    )
    for failure in done.failures:
        console.print(f"not deleted from storage: {failure}", markup=False)


@app.command("evict")
def product_evict(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go; change nothing."),
) -> None:
    """Evict the products whose retention period is over (see 'proseo productclass
    retention'); those an unfinished job step needs stay until it is done."""
    from proseo.catalogue.retention import evict

    context = cli_context(ctx)
    done = evict(context.database, context.settings, dry_run=dry_run)
    head = "would evict" if dry_run else "evicted"
    console.print(
        f"{head} {len(done.evicted)} products (tombstones) and {len(done.deleted)} removed, "
        f"{done.files} files{'' if dry_run else f', {done.bytes} bytes'}; "
        f"{len(done.kept)} kept for unfinished job steps",
        markup=False,
    )
    for failure in done.failures:
        console.print(f"not deleted from storage: {failure}", markup=False)
