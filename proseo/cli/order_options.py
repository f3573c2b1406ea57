"""The options of an order's settings, shared by ``proseo order create`` and ``proseo template
create`` (the fields of :class:`orderman.orders.OrderSettings`), and their translation into
the settings' plain data."""

from __future__ import annotations

from typing import Any

import typer

from proseo.errors import InvalidInputError

CLASSES: Any = typer.Option([], "--class", "-c", help="Requested output class (repeatable).")
SLICING: Any = typer.Option(
    "NONE", "--slicing", help="ORBIT, CALENDAR_DAY|MONTH|YEAR, TIME_SLICE, NONE."
)
SLICE_DURATION: Any = typer.Option(None, "--slice-duration", help="Seconds (TIME_SLICE).")
OVERLAP: Any = typer.Option(0, "--overlap", help="Slice overlap, seconds.")
MODE: Any = typer.Option(None, "--mode", help="Processing mode.")
FILE_CLASS: Any = typer.Option(None, "--file-class")
PRIORITY: Any = typer.Option(50, "--priority")
STOP_LIST: Any = typer.Option([], "--stop-list", help="Input class not to produce (repeatable).")
PROCESSORS: Any = typer.Option([], "--processor", help="Configured processor to use (repeatable).")
FACILITY: Any = typer.Option(None, "--facility")
PARAMETERS: Any = typer.Option([], "--param", help="Dynamic processing parameter KEY=VALUE.")
OUTPUT_PARAMETERS: Any = typer.Option([], "--output-param", help="Output parameter KEY=VALUE.")
PRODUCTION_TYPE: Any = typer.Option("ON_DEMAND_DEFAULT", "--production-type")
INPUT_TIMEOUT: Any = typer.Option(None, "--input-timeout", help="Seconds to wait for inputs.")
MAX_RETRIES: Any = typer.Option(0, "--max-retries")
AUTO_RELEASE: Any = typer.Option(False, "--auto-release", help="Release as soon as planned.")
AUTO_CLOSE: Any = typer.Option(False, "--auto-close", help="Close as soon as completed.")
NOTIFY: Any = typer.Option(
    None, "--notify", help="http(s) URL the end of the order is POSTed to (JSON)."
)


def pairs(option: str, values: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dictionary. :raises InvalidInputError: naming the option."""
    found = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise InvalidInputError(option, value, "expected KEY=VALUE")
        found[key] = rest
    return found


def settings_from_options(
    *,
    classes: list[str],
    slicing: str,
    slice_duration: float | None,
    overlap: float,
    mode: str | None,
    file_class: str | None,
    priority: int,
    stop_list: list[str],
    processors: list[str],
    facility: str | None,
    parameters: list[str],
    output_parameters: list[str],
    production_type: str,
    input_timeout: int | None,
    max_retries: int,
    auto_release: bool,
    auto_close: bool,
    notify: str | None,
) -> dict[str, Any]:
    """The order settings the options give, as plain data for :class:`OrderSettings`."""
    return {
        "requested_product_classes": classes,
        "slicing_type": slicing.upper(),
        "slice_duration_s": slice_duration,
        "slice_overlap_s": overlap,
        "processing_mode": mode,
        "file_class": file_class,
        "priority": priority,
        "input_product_classes": stop_list,
        "configured_processors": processors,
        "processing_facility": facility,
        "dynamic_processing_parameters": pairs("--param", parameters),
        "output_parameters": pairs("--output-param", output_parameters),
        "production_type": production_type.upper(),
        "input_data_timeout_s": input_timeout,
        "max_retries": max_retries,
        "auto_release": auto_release,
        "auto_close": auto_close,
        "notification_endpoint": notify,
    }
