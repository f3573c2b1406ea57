"""``proseo login`` and ``proseo logout``: the CLI's remote mode (see :mod:`proseo.cli.remote`)."""

from __future__ import annotations

import socket
import sys

import typer

from proseo.cli.output import make_console
from proseo.cli.remote import (
    RemoteClient,
    RemoteProfile,
    forget_profile,
    load_profile,
    save_profile,
)
from proseo.errors import ProseoError

login_app = typer.Typer(help="Log in to a proseo server: the CLI then works remotely.")
logout_app = typer.Typer(help="Log out: revoke the token and work locally again.")
console = make_console()


@login_app.command()
def login(
    url: str = typer.Option(..., "--url", help="Server, e.g. https://proseo.example.org"),
    user: str = typer.Option(..., "--user", help="User name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    days: int | None = typer.Option(None, "--days", help="Token lifetime (server default)."),
) -> None:
    """Log in with your password (sent once, over HTTP Basic) and keep an API token, never
    the password, in your configuration folder (mode 0600). Needs role CLI_USER."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    client = RemoteClient(url)
    issued = client.post(
        "/tokens",
        json={"name": f"cli@{socket.gethostname()}", "days": days},
        auth=(user, password),
    )
    path = save_profile(
        RemoteProfile(
            url=client.url,
            user=issued["user"],
            token=issued["token"],
            token_id=int(issued["id"]),
            expires_at=issued.get("expires_at"),
        )
    )
    console.print(
        f"logged in to {client.url} as {issued['user']} (mission "
        f"{issued.get('mission') or 'all'}; token until {issued.get('expires_at')}); "
        f"profile {path}"
    )


@logout_app.command()
def logout() -> None:
    """Revoke this login's token on the server and forget it."""
    profile = load_profile()
    if profile is None:
        console.print("not logged in")
        return
    try:
        RemoteClient(profile.url, profile.token).request("DELETE", f"/tokens/{profile.token_id}")
        revoked = "token revoked"
    except ProseoError as error:
        revoked = f"token not revoked ({error.message})"
    forget_profile()
    console.print(f"logged out of {profile.url}: {revoked}")
