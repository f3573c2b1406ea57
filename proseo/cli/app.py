"""The root of the ``proseo`` command line.

Errors of the project's hierarchy are printed as one line on stderr and exit with the code
from :data:`proseo.errors.EXIT_CODES`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from ingestor import cli as ingest_cli
from orderman import cli as order_cli
from productionplanner import cli as dispatcher_cli
from proseo import __version__
from proseo.cli import catalogue, db, facility, mission, product, rule
from proseo.cli.context import CliContext
from proseo.cli.output import make_console
from proseo.config import load_settings
from proseo.errors import ProseoError, exit_code_for

app = typer.Typer(
    name="proseo",
    help="proseo-py: production control for Earth-observation satellite data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(mission.app, name="mission")
app.add_typer(catalogue.productclass_app, name="productclass")
app.add_typer(catalogue.processor_app, name="processor")
app.add_typer(product.app, name="product")
app.add_typer(facility.app, name="facility")
app.add_typer(rule.app, name="rule")
app.add_typer(order_cli.app, name="order")
app.add_typer(order_cli.jobstep_app, name="jobstep")
app.command("ingest")(ingest_cli.ingest_command)
app.add_typer(dispatcher_cli.app, name="dispatcher")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"proseo-py {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data directory (default: $PROSEO_DATA_DIR or ./proseo-data)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (default: SQLite file in the data directory)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Settings come from PROSEO_* environment variables; these options override them."""
    ctx.obj = CliContext(load_settings(data_dir=data_dir, database_url=database_url))


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="TCP port."),
    sweep_interval: float = typer.Option(
        300.0, "--sweep-interval", help="Seconds between readiness safety-net sweeps (0: off)."
    ),
    dispatch_interval: float = typer.Option(
        0.0,
        "--dispatch-interval",
        help="Also run the dispatcher in this process, a round every so many seconds "
        "(0: off; run 'proseo dispatcher run' separately).",
    ),
    pickup: list[str] = typer.Option(
        [], "--pickup", help="Pickup point to watch: a folder or s3://BUCKET/PREFIX (repeatable)."
    ),
    pickup_interval: float = typer.Option(
        10.0, "--pickup-interval", help="Seconds between pickup scans."
    ),
) -> None:
    """Serve the REST API (OpenAPI at /docs) on the configured database."""
    import uvicorn

    from proseo.api.app import create_app

    settings = ctx.find_root().obj.settings
    application = create_app(settings)
    if sweep_interval > 0:
        from productionplanner.readiness import start_sweeper

        start_sweeper(application.state.database, sweep_interval)
    if dispatch_interval > 0:
        from productionplanner.dispatcher import start_dispatcher

        start_dispatcher(application.state.database, settings, dispatch_interval)
    if pickup:
        from ingestor.cli import pickup_scanner
        from ingestor.pickup import start_pickup_monitor

        context = ctx.find_root().obj
        scans = [pickup_scanner(context, target, None, once=False) for target in pickup]
        start_pickup_monitor(scans, pickup_interval)
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        app(args=argv, prog_name="proseo")
    except ProseoError as error:
        make_console(stderr=True).print("[bold red]error:[/]", escape(error.message))
        return exit_code_for(error)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main() -> None:
    """Console-script entry point ``proseo``."""
    sys.exit(run())
