"""Request-scoped dependencies shared by the routers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import AwareDatetime, BeforeValidator
from sqlalchemy.orm import Session

from proseo.db import Database


def database(request: Request) -> Database:
    """The process's database (created by :func:`proseo.api.app.create_app`)."""
    db: Database = request.app.state.database
    return db


def session(request: Request) -> Iterator[Session]:
    """A session in a transaction for one request: committed when the handler returns,
    rolled back when it raises."""
    with database(request).transaction() as s:
        yield s


DbSession = Annotated[Session, Depends(session)]
"""A request's session in a transaction (see :func:`session`)."""


MAX_ID = 2**63 - 1
"""Largest surrogate key (64-bit signed, as both databases store them)."""

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="Id (1 .. 2^63-1).")]
"""A path parameter naming an object by id; out of range is a 422 naming the field."""


def _iso_text(value: object) -> object:
    """Only ISO 8601 text is a time here (not a number of seconds)."""
    if not isinstance(value, str) or not _ISO.match(value):
        raise ValueError("expected an ISO 8601 time with a time zone, e.g. 2024-01-01T00:00:00Z")
    return value


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
"""A query parameter that is a time: ISO 8601 text with a time zone."""


MissionFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=20,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Mission code (default: the user's own mission; ROOT: all).",
    ),
]
"""The ``mission`` query parameter of listings."""
