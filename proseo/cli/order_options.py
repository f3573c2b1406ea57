"""The options of an order's settings, shared by ``proseo order create`` and ``proseo template
create`` (the fields of :class:`orderman.orders.OrderSettings`), and their translation into
the settings' plain data."""

from __future__ import annotations

from collections.abc import Mapping
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


def settings_from_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The order settings given by a command's options (its ``ctx.params``, declared with
    the options of this module under these parameter names), as plain data for
    :class:`orderman.orders.OrderSettings`."""
    return {
        "requested_product_classes": params["product_class"],
        "slicing_type": params["slicing"].upper(),
        "slice_duration_s": params["slice_duration"],
        "slice_overlap_s": params["overlap"],
        "processing_mode": params["mode"],
        "file_class": params["file_class"],
        "priority": params["priority"],
        "input_product_classes": params["stop_list"],
        "configured_processors": params["processor"],
        "processing_facility": params["facility"],
        "dynamic_processing_parameters": pairs("--param", params["parameter"]),
        "output_parameters": pairs("--output-param", params["output_parameter"]),
        "production_type": params["production_type"].upper(),
        "input_data_timeout_s": params["input_timeout"],
        "max_retries": params["max_retries"],
        "auto_release": params["auto_release"],
        "auto_close": params["auto_close"],
        "notification_endpoint": params["notify"],
    }
