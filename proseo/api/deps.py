"""Request-scoped dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
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
