"""``proseo dispatcher``: run the dispatcher."""

from __future__ import annotations

import signal
import time
from types import FrameType

import typer

from productionplanner.dispatcher import COUNTERS, Dispatcher, TickReport
from proseo.cli.context import cli_context
from proseo.cli.output import make_console
from proseo.errors import InvalidInputError

app = typer.Typer(help="The dispatcher: READY job steps to executors, results back.")
console = make_console()
error_console = make_console(stderr=True)


@app.command("run")
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One round (collect, dispatch), then exit."),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Exit once no job step runs or is ready."
    ),
    interval: float | None = typer.Option(
        None,
        "--interval",
        help="Seconds between idle rounds (default: PROSEO_EXECUTOR__POLL_INTERVAL_S, 2).",
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Exit after this many seconds (exit code 1 if not idle)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the final line."),
    metrics_port: int = typer.Option(
        0, "--metrics-port", help="Serve Prometheus metrics on this port (0: off)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address of the metrics port."
    ),
) -> None:
    """Dispatch READY job steps to their facility's executor, collect finished runs, ingest
    their outputs and roll job and order states up. SIGTERM or Ctrl-C stops after the round
    in progress; running processors go on and are adopted by the next dispatcher."""
    context = cli_context(ctx)
    if interval is None:
        interval = context.settings.executor.poll_interval_s
    if interval <= 0:
        raise InvalidInputError("--interval", interval, "must be positive")
    dispatcher = Dispatcher(context.database, context.settings)
    if metrics_port:
        from proseo.api.metrics import start_metrics_server

        start_metrics_server(context.database, metrics_port, metrics_host)
    stop = {"requested": False}

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop["requested"] = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    ticks = 0
    started = time.monotonic()

    def on_tick(report: TickReport) -> None:
        nonlocal ticks
        ticks += 1
        total.add(report)
        if not quiet and (report.changed or ticks == 1):
            console.print(f"[dim]{time.monotonic() - started:7.1f} s[/] {report.line()}")
        for error in report.errors:
            error_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)

    total = TickReport()
    try:
        dispatcher.run(
            once=once,
            interval_s=interval,
            until_idle=until_idle,
            timeout_s=timeout,
            on_tick=on_tick,
            should_stop=lambda: stop["requested"],
        )
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    done = ", ".join(f"{key} {getattr(total, key)}" for key in COUNTERS if getattr(total, key))
    console.print(
        f"dispatcher: {ticks} round(s) in {time.monotonic() - started:.1f} s; "
        + (done or "nothing to do")
        + f"; now running {total.running}, ready {total.ready}, waiting {total.waiting}"
    )
    if timeout is not None and until_idle and not total.idle:
        raise typer.Exit(1)
