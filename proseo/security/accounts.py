"""Users, groups, roles and API tokens: creation, passwords, login with lockout, tokens.

Passwords are hashed with Argon2id (``argon2-cffi``'s defaults: RFC 9106's second
recommended parameter set, 64 MiB, 3 passes) and never stored, logged or echoed in clear.
API tokens are ``proseo_`` + 43 URL-safe characters (256 random bits); only their SHA-256
digest is stored. All times are UTC.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from proseo.enums import UserRole
from proseo.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from proseo.model import ApiToken, Mission, Role, User, UserGroup
from proseo.model.base import utc_now
from proseo.security.principal import Principal

if TYPE_CHECKING:
    from proseo.config import SecuritySettings
    from proseo.db import Database

TOKEN_PREFIX = "proseo_"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("a password no account has")
_REFUSED = "wrong user name or password, or the account is disabled, expired or locked"


def parse_roles(names: Iterable[str], field: str = "roles") -> list[UserRole]:
    """Role names to roles.

    :raises InvalidInputError: naming ``field`` and the first unknown name.
    """
    roles = []
    for name in names:
        try:
            roles.append(UserRole(name.strip().upper()))
        except ValueError:
            raise InvalidInputError(
                field, name, f"not a role (expected one of {', '.join(UserRole)})"
            ) from None
    return roles


def _check_password(password: str, policy: SecuritySettings) -> None:
    if len(password) < policy.min_password_length:
        raise InvalidInputError(
            "password", "(hidden)", f"shorter than {policy.min_password_length} characters"
        )


def _role_rows(session: Session, roles: Iterable[UserRole]) -> list[Role]:
    wanted = {role.value for role in roles}
    existing = {r.name: r for r in session.scalars(select(Role).where(Role.name.in_(wanted)))}
    for name in sorted(wanted - set(existing)):
        existing[name] = Role(name=name)
        session.add(existing[name])
    return [existing[name] for name in sorted(wanted)]


def _mission_id(session: Session, mission: str | None) -> int | None:
    if mission is None:
        return None
    found = session.scalar(select(Mission.id).where(Mission.code == mission))
    if found is None:
        raise NotFoundError(f"mission {mission!r} does not exist", field="mission", value=mission)
    return found


def get_user(session: Session, username: str) -> User:
    """The user named ``username``.

    :raises NotFoundError: when there is none.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"user {username!r} does not exist", field="username", value=username)
    return user


def create_user(
    session: Session,
    username: str,
    password: str,
    policy: SecuritySettings,
    *,
    mission: str | None,
    roles: Iterable[UserRole] = (),
    expires_at: datetime | None = None,
) -> User:
    """A new enabled user of ``mission`` (``None`` only with ROOT among ``roles``).

    :raises InvalidInputError: for an empty or malformed user name, a too short password,
        or no mission without ROOT.
    :raises ConflictError: when the user name is taken.
    """
    roles = list(roles)
    if not username or len(username) > 100 or any(c.isspace() or c == ":" for c in username):
        raise InvalidInputError("username", username, "1-100 characters without spaces or ':'")
    if mission is None and UserRole.ROOT not in roles:
        raise InvalidInputError("mission", None, "a user without ROOT belongs to a mission")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} exists", field="username", value=username)
    user = User(username=username, mission_id=_mission_id(session, mission), expires_at=expires_at)
    user.roles = _role_rows(session, roles)
    set_password(user, password, policy)
    session.add(user)
    return user


def set_password(user: User, password: str, policy: SecuritySettings) -> None:
    """Give ``user`` a new password (hashed), clearing a lockout.

    :raises InvalidInputError: for a password shorter than the policy allows.
    """
    _check_password(password, policy)
    now = utc_now()
    user.password_hash = _HASHER.hash(password)
    user.password_changed_at = now
    user.password_expires_at = (
        now + timedelta(days=policy.password_lifetime_days)
        if policy.password_lifetime_days
        else None
    )
    user.failed_logins = 0
    user.locked_until = None


def grant(session: Session, user: User | UserGroup, roles: Iterable[UserRole]) -> None:
    """Add ``roles`` to a user or group (those it has stay)."""
    have = {r.name for r in user.roles}
    user.roles.extend(r for r in _role_rows(session, roles) if r.name not in have)


def revoke(user: User | UserGroup, roles: Iterable[UserRole]) -> None:
    """Take ``roles`` from a user or group (its groups' roles are not touched)."""
    drop = {role.value for role in roles}
    user.roles = [r for r in user.roles if r.name not in drop]


def create_group(
    session: Session, name: str, mission: str | None, roles: Iterable[UserRole] = ()
) -> UserGroup:
    """A new group of ``mission`` with ``roles``.

    :raises ConflictError: when the mission has a group of that name.
    """
    mission_id = _mission_id(session, mission)
    clash = session.scalar(
        select(UserGroup.id).where(UserGroup.name == name, UserGroup.mission_id == mission_id)
    )
    if clash is not None:
        raise ConflictError(f"group {name!r} exists in mission {mission}", field="group")
    group = UserGroup(name=name, mission_id=mission_id)
    group.roles = _role_rows(session, roles)
    session.add(group)
    return group


def get_group(session: Session, name: str, mission: str | None) -> UserGroup:
    """The group ``name`` of ``mission``.

    :raises NotFoundError: when there is none.
    """
    group = session.scalar(
        select(UserGroup).where(
            UserGroup.name == name, UserGroup.mission_id == _mission_id(session, mission)
        )
    )
    if group is None:
        raise NotFoundError(f"group {name!r} does not exist in mission {mission}", field="group")
    return group


def principal_of(session: Session, user: User) -> Principal:
    """The principal of ``user``: its mission's code and its own plus its groups' roles."""
    names = {r.name for r in user.roles}
    for group in user.groups:
        names.update(r.name for r in group.roles)
    mission = (
        session.scalar(select(Mission.code).where(Mission.id == user.mission_id))
        if user.mission_id is not None
        else None
    )
    known = {role.value for role in UserRole}
    return Principal(user.username, mission, frozenset(UserRole(n) for n in names & known))


def _usable(user: User | None, now: datetime) -> bool:
    return (
        user is not None
        and user.enabled
        and (user.expires_at is None or user.expires_at > now)
        and (user.locked_until is None or user.locked_until <= now)
    )


def authenticate_password(
    database: Database, username: str, password: str, policy: SecuritySettings
) -> Principal:
    """Log ``username`` in with ``password``, in a transaction of its own (a failed attempt
    is counted even though an error is raised).

    After ``policy.max_failed_logins`` wrong passwords in a row the account is locked for
    ``policy.lockout_s`` seconds; while locked, even the right password is refused. An
    unknown user name costs the same hashing time as a known one.

    :raises AuthenticationError: with one message for every reason (unknown user, wrong
        password, disabled, expired, locked), and a separate one for an expired password.
    """
    now = utc_now()
    with database.transaction() as session:
        user = session.scalar(
            select(User)
            .where(User.username == username)
            .options(
                selectinload(User.roles),
                selectinload(User.groups).selectinload(UserGroup.roles),
            )
        )
        stored = user.password_hash if user is not None and user.password_hash else None
        try:
            good = _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            good = False
        if user is not None and _usable(user, now):
            if good:
                user.failed_logins = 0
                expires = user.password_expires_at
                if expires is not None and expires <= now:
                    raise AuthenticationError(
                        f"the password of {username!r} expired at "
                        f"{expires:%Y-%m-%dT%H:%M:%SZ}; a USERMGR sets a new one"
                    )
                return principal_of(session, user)
            user.failed_logins += 1
            if user.failed_logins >= policy.max_failed_logins:
                user.locked_until = now + timedelta(seconds=policy.lockout_s)
                user.failed_logins = 0
    raise AuthenticationError(_REFUSED)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session, user: User, name: str, lifetime_days: float
) -> tuple[ApiToken, str]:
    """A new API token of ``user`` valid ``lifetime_days`` days (a fraction for hours: the web
    GUI's session is such a token).

    :returns: the stored token and its secret (shown once; only its digest is kept).
    """
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_digest=_digest(secret),
        expires_at=utc_now() + timedelta(days=lifetime_days),
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate_token(session: Session, secret: str) -> Principal:
    """The principal of the user owning token ``secret``; notes its last use.

    :raises AuthenticationError: for an unknown, expired or revoked token, or one of a
        user that is disabled, expired or locked.
    """
    now = utc_now()
    token = session.scalar(
        select(ApiToken)
        .where(ApiToken.token_digest == _digest(secret))
        .options(
            selectinload(ApiToken.user).selectinload(User.roles),
            selectinload(ApiToken.user).selectinload(User.groups).selectinload(UserGroup.roles),
        )
    )
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not _usable(token.user, now)
    ):
        raise AuthenticationError("the API token is unknown, expired or revoked")
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return principal_of(session, token.user)


def revoke_token_secret(session: Session, secret: str) -> bool:
    """Revoke the token whose secret is ``secret`` (a web GUI logout); ``False`` when there is
    no such unrevoked token (nothing to do: logging out twice is no error)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_digest == _digest(secret)))
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utc_now()
    return True


def revoke_token(session: Session, token_id: int, principal: Principal) -> ApiToken:
    """Revoke token ``token_id`` (its owner's own, or any with USERMGR in the owner's
    mission).

    :raises NotFoundError: for an unknown token id.
    :raises PermissionDeniedError: for another user's token without USERMGR.
    """
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"API token {token_id} does not exist", field="token", value=token_id)
    if token.user.username != principal.username:
        owner = principal_of(session, token.user)
        principal.require(UserRole.USERMGR, owner.mission)
    if token.revoked_at is None:
        token.revoked_at = utc_now()
    return token


class UserRow(BaseModel):
    """A user in a list: name, mission, state and roles (own and through groups)."""

    username: str
    mission: str | None
    enabled: bool
    locked: bool
    roles: list[str]
    groups: list[str]
    expires_at: datetime | None
    password_expires_at: datetime | None


def list_users(session: Session, mission: str | None = None) -> list[UserRow]:
    """Users by name, of ``mission`` when given."""
    query = select(User).options(selectinload(User.roles), selectinload(User.groups))
    if mission is not None:
        query = query.where(User.mission_id == _mission_id(session, mission))
    now = utc_now()
    rows = []
    for user in session.scalars(query.order_by(User.username)):
        principal = principal_of(session, user)
        rows.append(
            UserRow(
                username=user.username,
                mission=principal.mission,
                enabled=user.enabled,
                locked=user.locked_until is not None and user.locked_until > now,
                roles=sorted(principal.roles),
                groups=sorted(g.name for g in user.groups),
                expires_at=user.expires_at,
                password_expires_at=user.password_expires_at,
            )
        )
    return rows
