"""``proseo order`` and ``proseo jobstep``: processing orders from the command line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from orderman.registry import ORDER_COMMANDS
from proseo.cli import order_options as o
from proseo.cli.context import cli_context, local_actor
from proseo.cli.output import (
    FORMAT_OPTION,
    OutputFormat,
    id_argument,
    make_console,
    render,
    render_fields,
)
from proseo.errors import InvalidInputError

if TYPE_CHECKING:
    from orderman.orders import OrderSpec
    from planner.summary import PlanSummary

app = typer.Typer(help="Processing orders: create, plan, release, ...", no_args_is_help=True)
jobstep_app = typer.Typer(help="Job steps.", no_args_is_help=True)
console = make_console()
ORDER_ID = id_argument("Order id (see 'proseo order list').")


def _orbit_ranges(values: list[str]) -> list[dict[str, object]]:
    ranges = []
    for value in values:
        match = re.fullmatch(r"([A-Za-z0-9_-]+):(\d+)(?:-(\d+))?", value)
        if match is None:
            raise InvalidInputError("--orbits", value, "expected SPACECRAFT:FIRST[-LAST]")
        first = int(match[2])
        ranges.append({"spacecraft": match[1], "from": first, "to": int(match[3] or first)})
    return ranges


@app.command()
def create(
    ctx: typer.Context,
    file: Path | None = typer.Option(None, "--file", help="Order as YAML or JSON (OrderSpec)."),
    mission: str | None = typer.Option(None, "--mission", "-m"),
    identifier: str | None = typer.Option(
        None, "--id", help="Order identifier (unique per mission)."
    ),
    product_class: list[str] = o.CLASSES,
    start: datetime | None = typer.Option(None, "--start", help="Window start, UTC (ISO 8601)."),
    stop: datetime | None = typer.Option(None, "--stop", help="Window stop, UTC (ISO 8601)."),
    orbits: list[str] = typer.Option([], "--orbits", help="SPACECRAFT:FIRST[-LAST] (repeatable)."),
    slicing: str = o.SLICING,
    slice_duration: float | None = o.SLICE_DURATION,
    overlap: float = o.OVERLAP,
    mode: str | None = o.MODE,
    file_class: str | None = o.FILE_CLASS,
    priority: int = o.PRIORITY,
    stop_list: list[str] = o.STOP_LIST,
    processor: list[str] = o.PROCESSORS,
    facility: str | None = o.FACILITY,
    parameter: list[str] = o.PARAMETERS,
    output_parameter: list[str] = o.OUTPUT_PARAMETERS,
    production_type: str = o.PRODUCTION_TYPE,
    input_timeout: int | None = o.INPUT_TIMEOUT,
    max_retries: int = o.MAX_RETRIES,
    auto_release: bool = o.AUTO_RELEASE,
    auto_close: bool = o.AUTO_CLOSE,
    notify: str | None = o.NOTIFY,
    execution_time: datetime | None = typer.Option(
        None, "--execution-time", help="No job step starts before, UTC (ISO 8601)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the new order's id."),
) -> None:
    """Create a processing order (state INITIAL) from a file or from options."""
    from orderman.orders import load_order_spec, parse_order_spec

    if file is not None:
        spec = load_order_spec(file)
    else:

        def utc(value: datetime | None, name: str) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise InvalidInputError(name, value.isoformat(), "give a time zone, e.g. ...Z")
            return value.isoformat()

        spec = parse_order_spec(
            {
                "mission": mission,
                "identifier": identifier,
                "start_time": utc(start, "--start"),
                "stop_time": utc(stop, "--stop"),
                "orbits": _orbit_ranges(orbits),
                "execution_time": utc(execution_time, "--execution-time"),
                **o.settings_from_options(ctx.params),
            },
            source="options",
        )
    _create(ctx, spec, quiet)


def _create(ctx: typer.Context, spec: OrderSpec, quiet: bool = False) -> None:
    from orderman.orders import create_order

    remote = cli_context(ctx).remote
    if remote is not None:
        made = remote.post("/orders", json=spec.model_dump(mode="json", by_alias=True))
        if quiet:
            typer.echo(made["id"])
            return
        console.print(f"order {made['id']} ({made['identifier']}) created in state {made['state']}")
        return
    context = cli_context(ctx)
    with context.database.transaction() as session:
        order = create_order(session, spec, local_actor(), context.settings.limits)
        if quiet:
            session.flush()
            typer.echo(order.id)
            return
        console.print(f"order {order.id} ({order.identifier}) created in state {order.state.value}")


@app.command("list")
def list_(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", "-m"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List processing orders, newest first."""
    from orderman.views import OrderRow, list_orders

    remote = cli_context(ctx).remote
    if remote is not None:
        rows = [OrderRow.model_validate(r) for r in remote.get("/orders", mission=mission)]
    else:
        with cli_context(ctx).database.transaction() as session:
            rows = list_orders(session, mission)
    render(
        rows,
        fmt,
        title="Processing orders",
        columns=[
            "id",
            "mission",
            "identifier",
            "state",
            "requested",
            "slicing",
            "jobs",
            "job_steps",
        ],
    )


@app.command()
def show(
    ctx: typer.Context,
    order_id: int = ORDER_ID,
    fmt: OutputFormat = FORMAT_OPTION,
    limit: int = typer.Option(200, "--limit", help="Job steps to list."),
    products: bool = typer.Option(
        False, "--products", help="Also the products made, with sizes, MD5 and lineage."
    ),
) -> None:
    """Show an order: its state, jobs and job steps with states, inputs and durations."""
    from orderman.views import OrderProductRow, OrderView, order_products, order_view

    remote = cli_context(ctx).remote
    if remote is not None:
        view = OrderView.model_validate(remote.get(f"/orders/{order_id}", limit=limit))
        made = (
            [OrderProductRow.model_validate(r) for r in remote.get(f"/orders/{order_id}/products")]
            if products
            else []
        )
    else:
        with cli_context(ctx).database.transaction() as session:
            view = order_view(session, order_id, limit=limit)
            made = order_products(session, order_id) if products else []
    if fmt is OutputFormat.JSON:
        document = view.model_dump(mode="json")
        if products:
            document["products"] = [row.model_dump(mode="json") for row in made]
        typer.echo(json.dumps([document], indent=1))
        return
    render_fields(view, exclude={"job_steps_detail"}, title=f"Order {view.id} ({view.identifier})")
    render(view.job_steps_detail, OutputFormat.TABLE, title="Job steps")
    if products:
        render(made, OutputFormat.TABLE, title="Products made")


def _print_plan(summary: PlanSummary, *, dry_run: bool, limit: int) -> None:
    head = "dry run, nothing written: " if dry_run else ""
    console.print(
        f"{head}{summary.jobs} jobs, {summary.job_steps} job steps, "
        f"{summary.product_queries} product queries ({summary.unsatisfied_queries} mandatory "
        f"unsatisfied), {summary.skipped_existing} job windows already produced; "
        f"{summary.seconds:.2f} s"
    )
    if summary.in_production:
        console.print(
            f"  {summary.in_production} requested products are being produced by "
            f"{', '.join(sorted(summary.producers)) or 'other orders'}: reused"
        )
    for product_type, count in sorted(summary.steps_per_class.items()):
        console.print(f"  {product_type}: {count} job steps")
    if summary.integrity:
        console.print(f"  references: {summary.integrity}")
    if summary.phases:
        console.print(
            "  phases: " + ", ".join(f"{name} {s:.2f} s" for name, s in summary.phases.items())
        )
    current_job = None
    for shown, step in enumerate(summary.steps):
        if shown >= limit:
            console.print(f"  ... {len(summary.steps) - shown} more job steps (use --limit)")
            break
        if step.job != current_job:
            window = summary.windows[step.job]
            console.print(
                f"job {step.job + 1}: {window.start.isoformat()} .. {window.stop.isoformat()}"
            )
            current_job = step.job
        indent = "  " * step.level
        console.print(f"  {indent}{step.product_type} by {step.configured_processor}", markup=False)
        for i in step.inputs:
            status = "ok" if i.satisfied else ("missing" if i.mandatory else "optional, none")
            console.print(
                f"  {indent}  <- {i.source_type}: {i.found} found, "
                f"{i.in_production} to be produced [{status}]",
                markup=False,
            )


@app.command()
def plan(
    ctx: typer.Context,
    order_id: int = ORDER_ID,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; write nothing."),
    limit: int = typer.Option(50, "--limit", help="Job steps to print in detail."),
) -> None:
    """Plan an order backwards through the selection rules (APPROVED -> PLANNED). Each phase
    is reported on standard error as it ends; Ctrl-C stops planning and writes nothing."""
    from orderman.service import run_plan

    remote = cli_context(ctx).remote
    if remote is not None:  # the server sends the summary, not the job steps in detail
        done = remote.post(f"/orders/{order_id}/plan", params={"dry_run": dry_run})
        head = "dry run, nothing written: " if dry_run else ""
        console.print(
            f"{head}{done['jobs']} jobs, {done['job_steps']} job steps, "
            f"{done['product_queries']} product queries ({done['unsatisfied_queries']} "
            f"mandatory unsatisfied), {done['skipped_existing']} job windows already "
            f"produced; {done['seconds']:.2f} s"
        )
        if done.get("in_production"):
            console.print(
                f"  {done['in_production']} requested products are being produced by "
                f"{', '.join(done.get('producers') or []) or 'other orders'}: reused"
            )
        for product_type, count in sorted(done["steps_per_class"].items()):
            console.print(f"  {product_type}: {count} job steps")
        return
    progress = make_console(stderr=True)

    def tell(phase: str, seconds: float) -> None:
        progress.print(f"planning: {phase} ({seconds:.2f} s)", markup=False, highlight=False)

    try:
        summary = run_plan(
            cli_context(ctx).database,
            order_id,
            dry_run=dry_run,
            details=True,
            user=local_actor(),
            progress=tell,
        )
    except KeyboardInterrupt:
        progress.print(f"planning of order {order_id} interrupted: nothing was written")
        raise typer.Exit(130) from None
    _print_plan(summary, dry_run=dry_run, limit=limit)


def _register(name: str, help_text: str, force: bool) -> None:
    """A CLI command for the registry's order command ``name``."""

    def report(order_id: int, identifier: str, state: str | None, result: object) -> None:
        if name == "suspend":
            extra = f"; {result} job steps still running" if result else ""
        else:
            extra = f" ({result})" if isinstance(result, dict | int) and result else ""
        if name == "delete":
            console.print(f"order {order_id} ({identifier}): deleted")
            return
        done = "suspended" if name == "suspend" else f"{name} done"
        console.print(f"order {order_id} ({identifier}): {done}, now {state}{extra}")

    def run(ctx: typer.Context, order_id: int, **options: bool) -> None:
        from orderman.service import run_command

        remote = cli_context(ctx).remote
        if remote is not None:
            done = remote.post(f"/orders/{order_id}/{name}", params=options)
            report(order_id, done["identifier"], done["state"], done["result"])
            return
        order, result = run_command(
            cli_context(ctx).database, order_id, name, local_actor(), **options
        )
        report(order_id, order.identifier, order.state.value, result)

    def with_force(
        ctx: typer.Context,
        order_id: int = ORDER_ID,
        force: bool = typer.Option(False, "--force", help="Also take back running job steps."),
    ) -> None:
        run(ctx, order_id, force=force)

    def plain(ctx: typer.Context, order_id: int = ORDER_ID) -> None:
        run(ctx, order_id)

    command: Callable[..., None] = with_force if force else plain
    command.__doc__ = help_text
    app.command(name)(command)


for _spec in ORDER_COMMANDS.values():
    if not _spec.planning:
        _register(_spec.name, _spec.help, "force" in _spec.options)


@jobstep_app.command("show")
def jobstep_show(
    ctx: typer.Context,
    job_step_id: int = id_argument("Job step id."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show a job step: inputs (satisfied or not, by which products), outputs and log."""
    from orderman.views import JobStepView, job_step_view

    remote = cli_context(ctx).remote
    if remote is not None:
        view = JobStepView.model_validate(remote.get(f"/jobsteps/{job_step_id}"))
    else:
        with cli_context(ctx).database.transaction() as session:
            view = job_step_view(session, job_step_id)
    if fmt is OutputFormat.JSON:
        render([view], fmt, title="Job step")
        return
    render_fields(view, exclude={"inputs", "outputs", "log"}, title=f"Job step {view.id}")
    for query in view.inputs:
        status = "satisfied" if query.satisfied else "NOT satisfied"
        kind = "mandatory" if query.mandatory else "optional"
        console.print(f"input {query.product_type} ({kind}, {status}): {query.rule}", markup=False)
        for product in query.products:
            console.print(f"  {product}", markup=False)
    for product in view.outputs:
        console.print(f"output {product}", markup=False)
    if view.log:
        console.print("log:", markup=False)
        console.print(view.log, markup=False)
