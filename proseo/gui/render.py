"""Rendering helpers of the GUI pages: the page context (user, roles, CSRF token, flash
message), flash messages across a redirect, and the parsing of filter fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from proseo.enums import UserRole
from proseo.errors import InvalidInputError
from proseo.gui.session import WebUser

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
"""The GUI's page templates (autoescaped)."""

FLASH_COOKIE = "proseo_flash"
"""A one-time message shown on the page after a redirect (outcome of an action)."""


def render(
    request: Request, name: str, user: WebUser, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """The page ``name`` for ``user`` with ``context``; shows (and drops) a flash message."""
    flash = request.cookies.get(FLASH_COOKIE)
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "me": user.principal,
            "Role": UserRole,
            "flash": unquote(flash) if flash else None,
            **context,
        },
        status_code=status,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE)
    return response


def redirect(target: str, message: str | None = None) -> RedirectResponse:
    """A 303 to ``target`` (a local path) carrying ``message`` as the next page's flash."""
    response = RedirectResponse(target, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE, quote(message[:500]), max_age=60, httponly=True, samesite="strict"
        )
    return response


def parse_time(field: str, text: str | None) -> datetime | None:
    """A filter or form time: ISO 8601 (``2024-01-01T00:00``, ``...Z``, with an offset);
    without a zone it is UTC. Empty gives ``None``.

    :raises InvalidInputError: naming ``field`` and the text."""
    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            field, text, "expected an ISO 8601 time, e.g. 2024-01-01T00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_int(field: str, text: str | None, *, minimum: int = 0) -> int | None:
    """A whole number of a filter or form (empty gives ``None``).

    :raises InvalidInputError: naming ``field`` and the text."""
    if text is None or not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInputError(field, text, "expected a whole number") from None
    if not minimum <= value <= 2**63 - 1:
        raise InvalidInputError(field, text, f"must be at least {minimum}")
    return value


def shown_mission(user: WebUser, asked: str | None, role: UserRole) -> str | None:
    """The mission a page shows: the one asked for (checked), else the user's own (ROOT
    without a mission: all, ``None``).

    :raises PermissionDeniedError: naming the role and mission."""
    if asked:
        user.principal.require(role, asked)
        return asked
    user.principal.require(role)
    return user.principal.mission


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error answered as a page naming the status and the reason."""
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "user": None, "flash": None},
        status_code=status,
    )
