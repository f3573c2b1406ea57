"""The root of the ``proseo`` command line.

Errors of the project's hierarchy are printed as one line on stderr and exit with the code
from :data:`proseo.errors.EXIT_CODES`.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from proseo import __version__

COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("proseo.cli.db", "app", "Create and migrate the metadata database."),
    "mission": ("proseo.cli.mission", "app", "Missions in the metadata database."),
    "productclass": (
        "proseo.cli.catalogue",
        "productclass_app",
        "Product classes and their selection rules.",
    ),
    "processor": ("proseo.cli.catalogue", "processor_app", "Processors and configured processors."),
    "product": ("proseo.cli.product", "app", "Products in the catalogue."),
    "facility": (
        "proseo.cli.facility",
        "app",
        "Processing facilities: executor, storage, capacity.",
    ),
    "rule": ("proseo.cli.rule", "app", "Selection rules."),
    "order": ("proseo.cli.order", "app", "Processing orders: create, plan, release, ..."),
    "jobstep": ("proseo.cli.order", "jobstep_app", "Job steps."),
    "ingest": (
        "proseo.cli.ingest",
        "app",
        "Ingest products: files are stored, metadata catalogued, waiting job steps woken.",
    ),
    "user": ("proseo.cli.users", "user_app", "Users of a mission: passwords, roles, lockout."),
    "group": ("proseo.cli.users", "group_app", "Groups of users sharing roles."),
    "token": ("proseo.cli.users", "token_app", "API tokens for scripts and the remote CLI."),
    "login": ("proseo.cli.login", "login_app", "Log in to a proseo server (remote mode)."),
    "logout": ("proseo.cli.login", "logout_app", "Log out of the server (local mode again)."),
    "template": ("proseo.cli.systematic", "template_app", "Order templates of systematic orders."),
    "trigger": (
        "proseo.cli.systematic",
        "trigger_app",
        "Production triggers: orders by themselves.",
    ),
    "campaign": ("proseo.cli.campaign", "app", "Reprocessing campaigns: years, batch by batch."),
    "reprocess": (
        "proseo.cli.campaign",
        "reprocess_app",
        "Targeted reprocessing after a corrected input or a new processor.",
    ),
    "dispatcher": (
        "proseo.cli.dispatcher",
        "app",
        "The dispatcher: READY job steps to executors, results back.",
    ),
}
"""Sub-commands by name: (module, Typer attribute, one-line help). A sub-command's module is
imported only when that sub-command runs (or shows its own help), so ``proseo --help`` and
every command pay only for what they use."""


SINGLE = {"ingest", "login", "logout", "reprocess"}
"""Sub-commands that are one command (not a group of commands)."""

LOCAL_ONLY = {
    "db",
    "serve",
    "dispatcher",
    "user",
    "group",
    "token",
    "login",
    "logout",
    "template",
    "trigger",
    "campaign",
    "reprocess",
}
"""Sub-commands that always act on this machine (a login profile does not redirect them)."""


class _LazyGroup(TyperGroup):
    """The root group: :data:`COMMANDS` are loaded on first use; the root's help lists them
    from their one-line help without importing them."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, attribute, help_text = COMMANDS[cmd_name]
            if self._listing:
                return TyperCommand(cmd_name, help=help_text, short_help=help_text)
            sub = getattr(importlib.import_module(module), attribute)
            command = (
                typer.main.get_command(sub) if cmd_name in SINGLE else typer.main.get_group(sub)
            )
            command.name = cmd_name
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="proseo",
    help="proseo-py: production control for Earth-observation satellite data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)


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
    local: bool = typer.Option(
        False, "--local", help="Use the database directly even when logged in to a server."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Settings come from PROSEO_* environment variables; these options override them.
    After 'proseo login' commands go to that server, unless --local, --data-dir or
    --database-url is given or PROSEO_LOCAL=1."""
    from proseo.cli.context import CliContext
    from proseo.config import load_settings

    profile = None
    stays_local = local or data_dir or database_url or os.environ.get("PROSEO_LOCAL") == "1"
    if not stays_local and ctx.invoked_subcommand not in LOCAL_ONLY:
        from proseo.cli.remote import load_profile

        profile = load_profile()
    ctx.obj = CliContext(load_settings(data_dir=data_dir, database_url=database_url), profile)


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
    evict_interval: float = typer.Option(
        3600.0,
        "--evict-interval",
        help="Evict the products whose retention is over every so many seconds (0: off).",
    ),
    trigger_interval: float = typer.Option(
        10.0,
        "--trigger-interval",
        help="Run the production triggers and move their orders (approve, plan, release, "
        "close, notify) at least every so many seconds, at once when products arrive "
        "(0: off).",
    ),
    consistency_interval: float = typer.Option(
        86400.0,
        "--consistency-interval",
        help="Compare every facility's storage with the catalogue every so many seconds and "
        "log orphaned objects and missing files; never repairs (0: off).",
    ),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        help="Serve Prometheus metrics (GET /metrics, no login) on this port (0: off).",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address of the metrics port."
    ),
) -> None:
    """Serve the operator web GUI (at /) and the REST API (under /api/v1, OpenAPI at /docs)
    on the configured database."""
    import uvicorn

    from proseo.gui.app import create_web_app

    settings = ctx.find_root().obj.settings
    application = create_web_app(settings)
    if metrics_port:
        from proseo.api.metrics import start_metrics_server

        start_metrics_server(application.state.database, metrics_port, metrics_host)
    if sweep_interval > 0:
        from planner.readiness import start_sweeper

        start_sweeper(application.state.database, sweep_interval)
    if dispatch_interval > 0:
        from productionplanner.dispatcher import start_dispatcher

        start_dispatcher(application.state.database, settings, dispatch_interval)
    if trigger_interval > 0:
        from orderman.runner import start_systematic_production

        start_systematic_production(application.state.database, trigger_interval, settings.limits)
    if consistency_interval > 0:
        from proseo.catalogue.consistency import start_consistency_checks

        start_consistency_checks(application.state.database, settings, consistency_interval)
    if evict_interval > 0:
        from proseo.catalogue.retention import start_eviction

        start_eviction(application.state.database, settings, evict_interval)
    if pickup:
        from ingestor.pickup import start_pickup_monitor
        from proseo.cli.ingest import pickup_scanner

        context = ctx.find_root().obj
        scans = [pickup_scanner(context, target, None, once=False) for target in pickup]
        start_pickup_monitor(scans, pickup_interval)
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    from proseo.errors import ProseoError, exit_code_for

    try:
        app(args=argv, prog_name="proseo")
    except ProseoError as error:
        from rich.markup import escape

        from proseo.cli.output import make_console

        make_console(stderr=True).print("[bold red]error:[/]", escape(error.message))
        return exit_code_for(error)
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main() -> None:
    """Console-script entry point ``proseo``."""
    sys.exit(run())
