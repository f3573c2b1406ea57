"""Rendering of listings: Rich tables for humans, JSON for scripts (``--format``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

LOG_WIDTH = 160  # columns of tables when the output is a file or pipe (logs, CI)


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps messages (lines stay greppable in logs and scripts); when
    the output is not a terminal, tables get :data:`LOG_WIDTH` columns instead of Rich's 80
    (``COLUMNS`` still wins)."""
    console = Console(stderr=stderr, soft_wrap=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = LOG_WIDTH
    return console


class OutputFormat(StrEnum):
    """Output format of listing commands."""

    TABLE = "table"
    JSON = "json"


FORMAT_OPTION: Any = typer.Option(
    OutputFormat.TABLE, "--format", "-f", help="table for humans, json for scripts"
)
"""The ``--format`` option shared by every listing command."""


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def render(
    rows: Sequence[BaseModel],
    fmt: OutputFormat,
    *,
    title: str,
    columns: Sequence[str] | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` as a Rich table (``columns`` or all fields) or as a JSON array."""
    console = console or make_console()
    if fmt is OutputFormat.JSON:
        data = [row.model_dump(mode="json") for row in rows]
        console.print_json(json.dumps(data))
        return
    if not rows:
        console.print(f"no {title.lower()}")
        return
    names = list(columns) if columns else list(type(rows[0]).model_fields)
    table = Table(title=title)
    for name in names:
        table.add_column(name.replace("_", " "))
    for row in rows:
        fields = row.model_dump()
        table.add_row(*(_cell(fields[name]) for name in names))
    console.print(table)


def render_fields(
    item: BaseModel,
    *,
    title: str,
    exclude: set[str] | None = None,
    console: Console | None = None,
) -> None:
    """Print one item as a two-column table of field names and values."""
    console = console or make_console()
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in item.model_dump(exclude=exclude or set()).items():
        table.add_row(name.replace("_", " "), _cell(value))
    console.print(table)


MAX_ID = 2**63 - 1
"""Largest id an object can have (64-bit keys); larger ones are a usage error."""


def id_argument(help_text: str) -> Any:
    """A Typer argument for an object id: 1 .. 2^63-1, else a usage error naming it."""
    return typer.Argument(..., min=1, max=MAX_ID, help=help_text)


def json_object(option: str, value: str | None) -> dict[str, Any] | None:
    """The JSON object given to ``option`` (``None`` when not given).

    :raises InvalidInputError: naming the option when it is not JSON or not an object."""
    from proseo.errors import InvalidInputError

    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise InvalidInputError(option, value, f"is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(option, value, "must be a JSON object")
    return parsed


def say(text: str = "", *, console: Console | None = None) -> None:
    """Print one line as it is: names, settings and windows may hold brackets, which must not
    be read as Rich markup."""
    (console or make_console()).print(text, markup=False, highlight=False)
