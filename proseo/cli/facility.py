"""``proseo facility``: processing facilities, their executor, storage and capacity."""

from __future__ import annotations

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
