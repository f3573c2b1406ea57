"""``proseo facility``: processing facilities, their executor, storage and capacity."""

from __future__ import annotations

import json

import typer
from sqlalchemy import select

from proseo.catalogue.facilities import (
    DEFAULT_FACILITY,
    FacilityRow,
    default_facility,
    facility_row,
    list_facilities,
)
from proseo.cli.context import cli_context
from proseo.cli.output import FORMAT_OPTION, OutputFormat, json_object, make_console, render
from proseo.enums import FacilityState, StorageType
from proseo.errors import InvalidInputError, ProseoError
from proseo.model import ProcessingFacility
from proseo.plugins import load_executor_class
from proseo.secrets import SecretBox, check_not_masked, masked, seal_settings

app = typer.Typer(help="Processing facilities: executor, storage, capacity.", no_args_is_help=True)
console = make_console()


@app.command("list")
def facility_list(ctx: typer.Context, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """List processing facilities (the embedded default 'localhost' is created on first use)."""
    remote = cli_context(ctx).remote
    if remote is not None:
        rows = [FacilityRow.model_validate(r) for r in remote.get("/facilities")]
    else:
        with cli_context(ctx).database.transaction() as session:
            rows = list_facilities(session)
    render(rows, fmt, title="Processing facilities")


@app.command("set")
def facility_set(
    ctx: typer.Context,
    name: str = typer.Argument(DEFAULT_FACILITY, help="Facility (created when new)."),
    executor: str | None = typer.Option(
        None, "--executor", help="Executor plug-in: local, slurm, kubernetes, ..."
    ),
    executor_settings: str | None = typer.Option(
        None,
        "--executor-settings",
        help='JSON, e.g. \'{"partition": "eo", "account": "s5p"}\' for slurm.',
    ),
    storage: str | None = typer.Option(None, "--storage", help="POSIX or S3."),
    storage_settings: str | None = typer.Option(
        None, "--storage-settings", help='JSON, e.g. \'{"root": "/data/proseo"}\'.'
    ),
    capacity: int | None = typer.Option(
        None, "--capacity", help="Job steps running at once at this facility."
    ),
    state: str | None = typer.Option(None, "--state", help="RUNNING, STOPPED or DISABLED."),
) -> None:
    """Create or change a facility; the dispatcher picks the change up in its next round.

    Secret settings (secret_key, password, token, ...) are sealed with the installation's
    key before they are stored, or given as references: "env:NAME" or "file:PATH"."""
    context = cli_context(ctx)
    parsed_executor = json_object("--executor-settings", executor_settings)
    parsed_storage = json_object("--storage-settings", storage_settings)
    box = None
    for option, parsed in (
        ("--executor-settings", parsed_executor),
        ("--storage-settings", parsed_storage),
    ):
        if parsed is not None:
            check_not_masked(parsed, option)
            if masked(parsed) != parsed:
                box = box or SecretBox.from_settings(context.settings, create=True)
    if box is not None:
        if parsed_executor is not None:
            parsed_executor = seal_settings(parsed_executor, box)
        if parsed_storage is not None:
            parsed_storage = seal_settings(parsed_storage, box)
    if executor is not None:
        try:
            load_executor_class(executor)
        except ProseoError as error:
            raise InvalidInputError("--executor", executor, error.message) from None
    if capacity is not None and capacity < 1:
        raise InvalidInputError("--capacity", capacity, "must be at least 1")
    with context.database.transaction() as session:
        if name == DEFAULT_FACILITY:
            facility = default_facility(session)
        else:
            found = session.scalar(
                select(ProcessingFacility).where(ProcessingFacility.name == name)
            )
            facility = found or ProcessingFacility(name=name)
            session.add(facility)
        if executor is not None:
            facility.executor_kind = executor
        if parsed_executor is not None:
            facility.executor_settings = parsed_executor
        if storage is not None:
            try:
                facility.storage_type = StorageType(storage.upper())
            except ValueError:
                raise InvalidInputError("--storage", storage, "expected POSIX or S3") from None
        if parsed_storage is not None:
            facility.storage_settings = parsed_storage
        if capacity is not None:
            facility.max_job_steps = capacity
        if state is not None:
            try:
                facility.state = FacilityState(state.upper())
            except ValueError:
                raise InvalidInputError(
                    "--state", state, "expected RUNNING, STOPPED or DISABLED"
                ) from None
        session.flush()
        row = facility_row(facility)
    render([row], OutputFormat.TABLE, title=f"Facility {row.name}")


@app.command("check")
def facility_check(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Facility (default: the default facility)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Compare a facility's storage with the catalogue: orphaned objects (stored, no product
    file names them) and missing files (named, not stored). Reads only; exits 1 when they
    disagree (local mode: it lists the storage itself)."""
    from proseo.catalogue.consistency import check_consistency

    context = cli_context(ctx)
    report = check_consistency(context.database, context.settings, name)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(report.as_dict(), indent=1))
    else:
        console.print(
            f"facility {report.facility}: {report.objects} stored objects, "
            f"{report.catalogued} catalogued files, {len(report.orphans)} orphaned, "
            f"{len(report.missing)} missing ({report.seconds:.1f} s)",
            highlight=False,
        )
        for key, age in report.orphans:
            when = "age unknown" if age is None else f"{age:.0f} s old"
            console.print(f"orphaned object {key} ({when})", highlight=False, markup=False)
        for product_id, key in report.missing:
            console.print(
                f"missing file {key} of product {product_id}", highlight=False, markup=False
            )
    if not report.consistent:
        raise typer.Exit(1)


@app.command("repair")
def facility_repair(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Facility (default: the default facility)."),
    older_than: float = typer.Option(
        3600.0,
        "--orphans-older-than",
        help="Delete only orphaned objects at least this many seconds old (an ingestion may "
        "still be uploading the young ones; 0: all).",
    ),
    forget_missing: bool = typer.Option(
        False,
        "--forget-missing",
        help="Also drop the product file rows whose object is not stored (the products stay).",
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Mend what 'facility check' finds: delete orphaned objects (each checked again first)
    and, with --forget-missing, forget missing files."""
    from proseo.catalogue.consistency import check_consistency, repair

    context = cli_context(ctx)
    report = check_consistency(context.database, context.settings, name)
    if report.consistent:
        console.print(f"facility {report.facility}: storage and catalogue agree")
        return
    console.print(
        f"facility {report.facility}: {len(report.orphans)} orphaned objects, "
        f"{len(report.missing)} missing files",
        highlight=False,
    )
    if not yes:
        typer.confirm(
            "Delete the orphaned objects"
            + (" and forget the missing files" if forget_missing else "")
            + "?",
            abort=True,
        )
    done = repair(
        context.database,
        context.settings,
        report,
        orphans_older_than_s=older_than,
        forget_missing=forget_missing,
    )
    console.print(
        f"deleted {len(done.deleted)} orphaned objects, kept {len(done.kept)} (younger than "
        f"{older_than:.0f} s or catalogued meanwhile), forgot {len(done.forgotten)} missing "
        f"files, {len(done.failures)} failures",
        highlight=False,
    )
    for failure in done.failures:
        console.print(f"failed: {failure}", highlight=False, markup=False)
    if done.failures:
        raise typer.Exit(1)
