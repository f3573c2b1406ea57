"""Authentication and role checks of the REST API.

Every route declares what it needs through one dependency that is a :class:`RoleCheck`:
:class:`Requires` (one role in the user's mission; the order command routes take theirs from
the order command registry) or :data:`PUBLIC` (no login; only the health check).
``tests/test_security.py`` walks every route and fails for one without.

Credentials: HTTP Basic (user name and password; Argon2 costs about 0.18 s a request, so
scripts should use tokens) or a bearer API token. Missing or wrong credentials give 401
with ``WWW-Authenticate``; a missing role gives 403 naming the role and the mission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from proseo.enums import UserRole
from proseo.errors import AuthenticationError
from proseo.security.accounts import authenticate_password, authenticate_token
from proseo.security.principal import Principal

_basic = HTTPBasic(
    auto_error=False, realm="proseo", description="User name and password of a proseo user."
)
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`proseo token create`, or `proseo login` for the CLI).",
)


def authenticate(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the request's credentials (a bearer token wins over Basic).

    :raises AuthenticationError: for missing, wrong, expired or revoked credentials.
    """
    database = request.app.state.database
    if bearer is not None:
        with database.transaction() as session:
            return authenticate_token(session, bearer.credentials)
    if basic is not None:
        policy = request.app.state.settings.security
        return authenticate_password(database, basic.username, basic.password, policy)
    raise AuthenticationError("credentials are needed: HTTP Basic or a bearer API token")


class RoleCheck:
    """A route's declared access rule (base of the route dependencies).

    ``roles`` are the roles that may pass (empty for :data:`PUBLIC`).
    """

    roles: tuple[UserRole, ...] = ()


class Requires(RoleCheck):
    """Dependency: the authenticated user, refused unless it holds ``role`` in its own
    mission (ROOT passes). Routes on an object of a named mission check that mission
    again with :meth:`Principal.require`."""

    def __init__(self, role: UserRole) -> None:
        self.roles = (role,)

    def __call__(self, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        principal.require(self.roles[0])
        return principal


def listed_mission(user: Principal, mission: str | None, role: UserRole) -> str | None:
    """The mission a listing shows: the one asked for (when ``user`` holds ``role`` there),
    else the user's own (ROOT: every mission, ``None``).

    :raises PermissionDeniedError: naming the role and mission asked for."""
    if mission is not None:
        user.require(role, mission)
        return mission
    return None if user.is_root else user.mission


class _Public(RoleCheck):
    """Dependency of routes that need no login (the health check)."""

    def __call__(self) -> None:
        return None


PUBLIC = _Public()
