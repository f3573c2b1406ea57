"""``proseo db``: create and migrate the metadata database."""

from __future__ import annotations

import typer

from proseo.cli.context import cli_context
from proseo.cli.output import make_console
from proseo.db import migrate

app = typer.Typer(help="Create and migrate the metadata database.", no_args_is_help=True)
console = make_console()


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Create the schema or upgrade it to REVISION (idempotent)."""
    database = cli_context(ctx).open_database()
    before = migrate.current_revision(database.engine)
    migrate.upgrade(database.engine, revision)
    after = migrate.current_revision(database.engine)
    url = database.engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"database {url} already at revision {after}")
    else:
        console.print(f"database {url} upgraded from {before or 'empty'} to {after}")
    settings = cli_context(ctx).settings
    if settings.root_user and after == migrate.head_revision():
        _bootstrap_root(ctx, settings.root_user)


def _bootstrap_root(ctx: typer.Context, username: str) -> None:
    """Create the first ROOT user from PROSEO_ROOT_USER/PROSEO_ROOT_PASSWORD, once."""
    from sqlalchemy import select

    from proseo.enums import UserRole
    from proseo.errors import ConfigurationError
    from proseo.model import User
    from proseo.security.accounts import create_user

    context = cli_context(ctx)
    with context.open_database().transaction() as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            return
        if context.settings.root_password is None:
            raise ConfigurationError(
                f"PROSEO_ROOT_USER is {username!r} but PROSEO_ROOT_PASSWORD is not set",
                field="root_password",
            )
        create_user(
            session,
            username,
            context.settings.root_password.get_secret_value(),
            context.settings.security,
            mission=None,
            roles=[UserRole.ROOT],
        )
    console.print(f"ROOT user {username} created (from PROSEO_ROOT_USER)")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: str = typer.Argument(..., help="Target revision; 'base' drops every table."),
) -> None:
    """Downgrade the schema to REVISION."""
    database = cli_context(ctx).open_database()
    migrate.downgrade(database.engine, revision)
    console.print(f"database downgraded to {migrate.current_revision(database.engine) or 'base'}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the revision the database is at and whether it is the newest."""
    database = cli_context(ctx).open_database()
    revision = migrate.current_revision(database.engine)
    head = migrate.head_revision()
    url = database.engine.url.render_as_string(hide_password=True)
    if revision is None:
        console.print(f"{url}: empty database (no revision); run 'proseo db upgrade'")
    elif revision == head:
        console.print(f"{url}: revision {revision} (head)")
    else:
        console.print(f"{url}: revision {revision}; newest is {head}, run 'proseo db upgrade'")
