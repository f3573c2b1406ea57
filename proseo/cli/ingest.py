"""``proseo ingest``: products into storage and the catalogue."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import typer

from ingestor.pickup import ScanReport, scan_once, scan_s3_once, watch
from ingestor.service import (
    IngestItem,
    IngestOutcome,
    IngestReport,
    ingest,
    metadata_from_json,
    metadata_to_json,
)
from proseo.catalogue.facilities import get_facility, storage_of_facility
from proseo.cli.context import CliContext, cli_context, local_actor
from proseo.cli.output import FORMAT_OPTION, OutputFormat, make_console
from proseo.cli.remote import RemoteClient
from proseo.errors import InvalidInputError
from proseo.plugins import ProductMetadata, get_mission_plugin, load_mission_plugins
from proseo.storage.factory import default_storage_settings, facility_storage_settings
from proseo.storage.s3 import S3Storage

console = make_console()


def _metadata_file(path: Path) -> ProductMetadata:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError("--metadata", str(path), str(error)) from error
    return metadata_from_json(text, "--metadata")


app = typer.Typer()


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Product files or folders."),
    mission: str | None = typer.Option(
        None, "--mission", "-m", help="Mission (default: any plug-in that recognises the files)."
    ),
    metadata: Path | None = typer.Option(
        None, "--metadata", help="JSON metadata for the given files (one product)."
    ),
    facility: str | None = typer.Option(
        None, "--facility", help="Processing facility (default: localhost)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
    interval: float = typer.Option(10.0, "--interval", help="watch: seconds between scans."),
    once: bool = typer.Option(False, "--once", help="watch: scan once and exit."),
) -> None:
    """Ingest products: files are stored, metadata catalogued, waiting job steps woken.

    'proseo ingest watch DIR' or 'proseo ingest watch s3://BUCKET/PREFIX' watches a pickup
    point instead (see --interval, --once).
    """
    if paths and paths[0] == Path("watch") and not paths[0].exists():
        _watch(ctx, paths[1:], interval, once, facility)
        return
    for path in paths:
        if not path.exists():
            raise InvalidInputError("path", str(path), "does not exist")
    items: list[IngestItem] = []
    if metadata is not None:
        if mission is None:
            raise InvalidInputError("--mission", None, "is required with --metadata")
        items.append(IngestItem(mission, _metadata_file(metadata), list(paths)))
    else:
        plugins = (
            [get_mission_plugin(mission)] if mission else list(load_mission_plugins().values())
        )
        for plugin in plugins:
            code = plugin.definition().code
            items.extend(IngestItem(code, m, files) for m, files in plugin.group_files(list(paths)))
        if not items:
            raise InvalidInputError(
                "paths", [str(p) for p in paths], "no product a mission plug-in recognises"
            )
    context = cli_context(ctx)
    if context.remote is not None:
        if facility is not None:
            raise InvalidInputError("--facility", facility, "is for local mode (use --local)")
        report = _ingest_remote(context.remote, items)
    else:
        storage = storage_of_facility(context.database, context.settings, facility)
        report = ingest(context.database, storage, items, facility, user=local_actor())
    if fmt is OutputFormat.JSON:
        console.print_json(
            json.dumps(
                {
                    "ingested": report.ingested,
                    "woken": report.woken,
                    "products": [vars(o) for o in report.outcomes],
                }
            )
        )
        return
    for outcome in report.outcomes:
        console.print(
            f"{outcome.status}: {outcome.product_type} {outcome.file_name}"
            + (f" (product {outcome.product_id})" if outcome.product_id else "")
        )
    console.print(
        f"{report.ingested} ingested, {len(report.outcomes) - report.ingested} already "
        f"there; {report.woken} waiting job steps became READY"
    )


def _ingest_remote(remote: RemoteClient, items: list[IngestItem]) -> IngestReport:
    """Upload each product to the server (one request, one transaction per product)."""
    report = IngestReport()
    for item in items:
        with contextlib.ExitStack() as stack:
            files = [("files", (p.name, stack.enter_context(p.open("rb")))) for p in item.files]
            answer = remote.post(
                f"/ingest/{item.mission}",
                data={"metadata": metadata_to_json(item.metadata)},
                files=files,
            )
        report.outcomes.extend(IngestOutcome(**o) for o in answer["products"])
        report.woken += int(answer["woken"])
    return report


def _print_scan(report: ScanReport) -> None:
    for name in report.ingested:
        console.print(f"ingested {name}")
    for name in report.already:
        console.print(f"already ingested {name} (same content; nothing done)")
    for name, reason in report.failed:
        if name == "pickup point":  # the scan itself failed or stopped: nothing set aside
            console.print(f"not scanned: {reason}", markup=False)
        elif reason.endswith("(left for the next scan)"):
            console.print(f"left {name}: {reason}", markup=False)
        else:
            console.print(f"set aside {name}: {reason}", markup=False)
    if report.ingested or report.already or report.failed:
        console.print(
            f"{len(report.ingested)} ingested, {len(report.already)} already there, "
            f"{len(report.failed)} set aside; "
            f"{report.woken} waiting job steps became READY"
        )


def pickup_storage(context: CliContext, url: str, facility: str | None) -> tuple[S3Storage, str]:
    """The S3 pickup point ``s3://BUCKET[/PREFIX]``: endpoint and keys from the facility's
    S3 storage settings, else from ``PROSEO_STORAGE__S3_*``.

    :raises InvalidInputError: for a URL without a bucket.
    """
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise InvalidInputError("watch URL", url, "expected s3://BUCKET[/PREFIX]")
    with context.database.transaction() as session:
        described = facility_storage_settings(get_facility(session, facility), context.settings)
    if described.get("kind") != "s3":
        described = {**default_storage_settings(context.settings), "kind": "s3"}
    return S3Storage.from_settings({**described, "bucket": bucket, "prefix": ""}), prefix


def pickup_scanner(
    context: CliContext, target: str, facility: str | None, *, once: bool
) -> Callable[[], ScanReport]:
    """A scan of the pickup point ``target`` (a folder, or ``s3://BUCKET[/PREFIX]``).

    :raises InvalidInputError: when the folder does not exist or the URL has no bucket.
    """
    settle = 0.0 if once else 2.0
    if target.startswith("s3:/"):
        # Typer hands arguments over as paths, which folds "s3://" into "s3:/"
        url = "s3://" + target.split(":/", 1)[1].lstrip("/")
        if not url.removeprefix("s3://").partition("/")[0]:
            raise InvalidInputError("watch URL", url, "expected s3://BUCKET[/PREFIX]")

        def scan_prefix() -> ScanReport:
            # the storages are looked up at each scan, so a database out of reach when the
            # server starts makes a void scan, not a dead server
            storage = storage_of_facility(context.database, context.settings, facility)
            pickup, prefix = pickup_storage(context, url, facility)
            return scan_s3_once(
                context.database, storage, pickup, prefix, settle_s=settle, facility=facility
            )

        return scan_prefix
    folder = Path(target)
    if not folder.is_dir():
        raise InvalidInputError(
            "pickup point", target, "give an existing folder or s3://BUCKET[/PREFIX]"
        )

    def scan_folder() -> ScanReport:
        storage = storage_of_facility(context.database, context.settings, facility)
        return scan_once(context.database, storage, folder, settle_s=settle, facility=facility)

    return scan_folder


def _watch(
    ctx: typer.Context, targets: list[Path], interval: float, once: bool, facility: str | None
) -> None:
    if len(targets) != 1:
        raise InvalidInputError(
            "watch folder", [str(t) for t in targets], "give one folder or s3://BUCKET[/PREFIX]"
        )
    scan = pickup_scanner(cli_context(ctx), str(targets[0]), facility, once=once)
    if once:
        _print_scan(scan())
        return
    console.print(f"watching {targets[0]} every {interval:g} s (Ctrl-C to stop)")
    watch(scan, interval_s=interval, on_report=_print_scan)
