"""Web GUI login: a session cookie holding an API token, and CSRF tokens for every form.

A login (user name and password, checked by the same Argon2 check and lockout as the REST
API) makes an API token named ``web session`` valid ``security.web_session_hours`` hours and
sets its secret in the cookie :data:`SESSION_COOKIE` (HttpOnly, SameSite=Strict, Secure when
``security.web_secure_cookie``). Every page authenticates the cookie like a bearer token, so
a revoked or expired session, a disabled or locked user is refused at once; logout revokes
the token.

CSRF: every state-changing request (a POST) must carry the session's CSRF token, in the
form field :data:`CSRF_FIELD` or the header :data:`CSRF_HEADER` (htmx sends the header). The
token is an HMAC-SHA256 of the session secret, so it needs no storage and dies with the
session. The login form, before any session, uses a double-submit token: a random value in
the cookie :data:`LOGIN_CSRF_COOKIE` that the form must repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from proseo.db import Database
from proseo.errors import AuthenticationError, PermissionDeniedError
from proseo.security.accounts import (
    authenticate_password,
    authenticate_token,
    create_token,
    get_user,
    revoke_token_secret,
)
from proseo.security.principal import Principal

SESSION_COOKIE = "proseo_session"
"""The cookie that holds the session's token secret."""

LOGIN_CSRF_COOKIE = "proseo_login_csrf"
"""The cookie of the login form's double-submit CSRF token."""

CSRF_FIELD = "csrf_token"
"""The form field of the CSRF token."""

CSRF_HEADER = "X-CSRF-Token"
"""The request header of the CSRF token (htmx requests)."""

SESSION_TOKEN_NAME = "web session"
"""The name of the API tokens that are web sessions (``proseo token list`` shows them)."""


class LoginNeeded(Exception):
    """A page was asked for without a valid session: the answer is the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class WebUser:
    """The user of a web request: its principal and the session's CSRF token."""

    principal: Principal
    csrf: str

    @property
    def username(self) -> str:
        """The user name."""
        return self.principal.username


def csrf_of(secret: str) -> str:
    """The CSRF token of the session whose token secret is ``secret`` (64 hex digits)."""
    return hmac.new(secret.encode(), b"proseo-web-csrf", hashlib.sha256).hexdigest()


def log_in(database: Database, request: Request, username: str, password: str) -> str:
    """Check ``username``/``password`` and open a session; returns the token secret for the
    cookie.

    :raises AuthenticationError: as :func:`authenticate_password` (one message for every
        reason; failed attempts count towards the lockout).
    """
    policy = request.app.state.settings.security
    authenticate_password(database, username, password, policy)
    with database.transaction() as session:
        user = get_user(session, username)
        _token, secret = create_token(
            session, user, SESSION_TOKEN_NAME, policy.web_session_hours / 24
        )
    return secret


def log_out(database: Database, secret: str | None) -> None:
    """End the session of token ``secret`` (nothing when there is none)."""
    if secret:
        with database.transaction() as session:
            revoke_token_secret(session, secret)


def web_user(request: Request) -> WebUser:
    """Dependency of every page: the user of the session cookie.

    :raises LoginNeeded: without a cookie, or with one of an expired or revoked session or of
        a user that can no longer log in.
    """
    secret = request.cookies.get(SESSION_COOKIE)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not secret:
        raise LoginNeeded(target)
    database: Database = request.app.state.database
    try:
        with database.transaction() as session:
            principal = authenticate_token(session, secret)
    except AuthenticationError:
        raise LoginNeeded(target) from None
    return WebUser(principal, csrf_of(secret))


User = Annotated[WebUser, Depends(web_user)]
"""A page parameter: the session's user (:func:`web_user`)."""


async def checked_form(request: Request, user: User) -> dict[str, str]:
    """The posted form of a state-changing request, after its CSRF check (session token in
    the form field or header).

    :raises LoginNeeded: without a valid session.
    :raises PermissionDeniedError: when the CSRF token is missing or wrong.
    """
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    given = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD, "")
    if not hmac.compare_digest(given.encode(), user.csrf.encode()):
        raise PermissionDeniedError(
            "the form's CSRF token is missing or wrong: reload the page and try again",
            field=CSRF_FIELD,
        )
    return fields


Form = Annotated[dict[str, str], Depends(checked_form)]
"""A page parameter: the posted form after its CSRF check (:func:`checked_form`)."""


def new_login_csrf() -> str:
    """A fresh double-submit token for the login form."""
    return secrets.token_urlsafe(24)


def login_path(next_path: str) -> str:
    """The login page that returns to ``next_path`` (a local path only)."""
    return "/login?next=" + quote(safe_next(next_path), safe="")


def safe_next(next_path: str | None) -> str:
    """``next_path`` when it is a path of this site, else ``/`` (no open redirect)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    if "\\" in next_path or "\n" in next_path or "\r" in next_path:
        return "/"
    return next_path
