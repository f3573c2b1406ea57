"""``proseo user``, ``proseo group``, ``proseo token``: accounts, groups and API tokens
(local mode: direct database access, acting as a local operator)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import typer
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from proseo.cli.context import cli_context
from proseo.cli.output import FORMAT_OPTION, OutputFormat, id_argument, make_console, render
from proseo.enums import UserRole
from proseo.errors import InvalidInputError
from proseo.model import ApiToken, User
from proseo.security import accounts
from proseo.security.principal import local_operator

user_app = typer.Typer(help="Users of a mission: passwords, roles, lockout.", no_args_is_help=True)
group_app = typer.Typer(help="Groups of users sharing roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts and the remote CLI.", no_args_is_help=True)
console = make_console()

ROLE_HELP = "Role (repeatable): " + ", ".join(UserRole)
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of standard input."
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _user(session: Session, username: str) -> User:
    return accounts.get_user(session, username)


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Login name (unique)."),
    mission: str | None = typer.Option(None, "--mission", help="Mission code the user is of."),
    role: list[str] = typer.Option([], "--role", help=ROLE_HELP),
    root: bool = typer.Option(False, "--root", help="An installation-wide ROOT (no mission)."),
    expires: datetime | None = typer.Option(None, "--expires", help="Account end (UTC)."),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create a user (asks for the password twice unless --password-stdin)."""
    roles = accounts.parse_roles(role, "--role") + ([UserRole.ROOT] if root else [])
    context = cli_context(ctx)
    password = _password(password_stdin)
    with context.database.transaction() as session:
        accounts.create_user(
            session,
            username,
            password,
            context.settings.security,
            mission=mission,
            roles=roles,
            expires_at=_utc("--expires", expires),
        )
    console.print(f"user {username} created ({', '.join(sorted(roles)) or 'no roles'})")


def _utc(option: str, value: datetime | None) -> datetime | None:
    """``value`` as UTC (a time without zone is taken as UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    mission: str | None = typer.Option(None, "--mission", help="Only users of this mission."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List users with their roles (own and through groups), groups and lock state."""
    with cli_context(ctx).database.transaction() as session:
        rows = accounts.list_users(session, mission)
    render(rows, fmt, title="Users")


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Set a new password (also unlocks the account)."""
    context = cli_context(ctx)
    password = _password(password_stdin)
    with context.database.transaction() as session:
        accounts.set_password(_user(session, username), password, context.settings.security)
    console.print(f"password of {username} set")


@user_app.command("grant")
def user_grant(
    ctx: typer.Context, username: str = typer.Argument(...), roles: list[str] = typer.Argument(...)
) -> None:
    """Give a user roles."""
    parsed = accounts.parse_roles(roles)
    with cli_context(ctx).database.transaction() as session:
        accounts.grant(session, _user(session, username), parsed)
    console.print(f"{username}: granted {', '.join(parsed)}")


@user_app.command("revoke")
def user_revoke(
    ctx: typer.Context, username: str = typer.Argument(...), roles: list[str] = typer.Argument(...)
) -> None:
    """Take roles from a user (roles through its groups stay)."""
    parsed = accounts.parse_roles(roles)
    with cli_context(ctx).database.transaction() as session:
        accounts.revoke(_user(session, username), parsed)
    console.print(f"{username}: revoked {', '.join(parsed)}")


@user_app.command("enable")
def user_enable(ctx: typer.Context, username: str = typer.Argument(...)) -> None:
    """Enable a user and clear a lockout."""
    with cli_context(ctx).database.transaction() as session:
        user = _user(session, username)
        user.enabled, user.locked_until, user.failed_logins = True, None, 0
    console.print(f"{username} enabled")


@user_app.command("disable")
def user_disable(ctx: typer.Context, username: str = typer.Argument(...)) -> None:
    """Disable a user: its password and tokens are refused until enabled again."""
    with cli_context(ctx).database.transaction() as session:
        _user(session, username).enabled = False
    console.print(f"{username} disabled")


@user_app.command("delete")
def user_delete(ctx: typer.Context, username: str = typer.Argument(...)) -> None:
    """Delete a user and its tokens (what it did stays recorded under its name)."""
    with cli_context(ctx).database.transaction() as session:
        session.delete(_user(session, username))
    console.print(f"{username} deleted")


@group_app.command("create")
def group_create(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    mission: str = typer.Option(..., "--mission", help="Mission code of the group."),
    role: list[str] = typer.Option([], "--role", help=ROLE_HELP),
) -> None:
    """Create a group of a mission with roles."""
    roles = accounts.parse_roles(role, "--role")
    with cli_context(ctx).database.transaction() as session:
        accounts.create_group(session, name, mission, roles)
    console.print(f"group {name} of {mission} created")


@group_app.command("add")
def group_add(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    users: list[str] = typer.Argument(..., help="User names."),
    mission: str = typer.Option(..., "--mission"),
) -> None:
    """Add users to a group (they gain its roles)."""
    with cli_context(ctx).database.transaction() as session:
        group = accounts.get_group(session, name, mission)
        for username in users:
            user = _user(session, username)
            if user.mission_id != group.mission_id:
                raise InvalidInputError("users", username, f"is not a user of mission {mission}")
            if user not in group.members:
                group.members.append(user)
    console.print(f"group {name}: added {', '.join(users)}")


@group_app.command("grant")
def group_grant(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    roles: list[str] = typer.Argument(...),
    mission: str = typer.Option(..., "--mission"),
) -> None:
    """Give a group roles."""
    parsed = accounts.parse_roles(roles)
    with cli_context(ctx).database.transaction() as session:
        accounts.grant(session, accounts.get_group(session, name, mission), parsed)
    console.print(f"group {name}: granted {', '.join(parsed)}")


class TokenRow(BaseModel):
    """One API token (never its secret)."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    username: str = typer.Option(..., "--user", help="Owner of the token."),
    name: str = typer.Option("cli", "--name", help="What the token is for."),
    days: int | None = typer.Option(None, "--days", help="Lifetime (default from settings)."),
) -> None:
    """Make an API token; its secret is printed once and never stored."""
    context = cli_context(ctx)
    lifetime = days if days is not None else context.settings.security.token_lifetime_days
    if lifetime < 1:
        raise InvalidInputError("--days", lifetime, "must be at least 1")
    with context.database.transaction() as session:
        token, secret = accounts.create_token(session, _user(session, username), name, lifetime)
        expires = token.expires_at
    console.print(f"token {token.id} of {username}, valid until {expires:%Y-%m-%dT%H:%M:%SZ}:")
    typer.echo(secret)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    username: str | None = typer.Option(None, "--user"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List API tokens (prefix, expiry, revocation, last use)."""
    with cli_context(ctx).database.transaction() as session:
        query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
        if username is not None:
            query = query.where(User.username == username)
        rows = [
            TokenRow(
                id=t.id,
                user=owner,
                name=t.name,
                prefix=t.prefix,
                created_at=t.created_at,
                expires_at=t.expires_at,
                revoked_at=t.revoked_at,
                last_used_at=t.last_used_at,
            )
            for t, owner in session.execute(query.order_by(ApiToken.id))
        ]
    render(rows, fmt, title="API tokens")


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: int = id_argument("Token id.")) -> None:
    """Revoke an API token at once."""
    with cli_context(ctx).database.transaction() as session:
        token = accounts.revoke_token(session, token_id, local_operator())
        owner = token.user.username
    console.print(f"token {token_id} of {owner} revoked")
