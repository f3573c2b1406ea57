"""What every CLI command gets: the settings of this process and, when needed, the database
(local mode) or the REST client of the server logged in to (remote mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

from proseo.config import Settings
from proseo.db import Database
from proseo.errors import ConfigurationError

if TYPE_CHECKING:
    from proseo.cli.remote import RemoteClient, RemoteProfile


@dataclass
class CliContext:
    """Settings built once in the root callback; the database opened on first use; the
    login profile when the CLI runs in remote mode."""

    settings: Settings
    profile: RemoteProfile | None = None
    _database: Database | None = field(default=None, repr=False)
    _client: RemoteClient | None = field(default=None, repr=False)

    @property
    def database(self) -> Database:
        """The database the settings name (connected lazily).

        :raises ConfigurationError: in remote mode (this command needs direct access), or
            when the embedded SQLite file does not exist yet (``proseo db upgrade`` makes
            it; connecting would leave an empty file behind).
        """
        database = self.open_database()
        if not database.exists():
            raise ConfigurationError(
                f"there is no database at {database.engine.url.database}; run "
                "'proseo db upgrade' first (or give --data-dir / --database-url)",
                field="database_url",
            )
        return database

    def open_database(self) -> Database:
        """The database the settings name, whether or not it exists yet (``proseo db``).

        :raises ConfigurationError: in remote mode.
        """
        if self.profile is not None:
            raise ConfigurationError(
                f"this command needs direct database access and the CLI is logged in to "
                f"{self.profile.url}; run it with --local on the control node, or "
                "'proseo logout'"
            )
        if self._database is None:
            self._database = Database.from_settings(self.settings)
        return self._database

    @property
    def remote(self) -> RemoteClient | None:
        """The REST client of the server logged in to, or ``None`` in local mode."""
        if self.profile is None:
            return None
        if self._client is None:
            from proseo.cli.remote import RemoteClient

            self._client = RemoteClient(self.profile.url, self.profile.token)
        return self._client


def cli_context(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj


def local_actor() -> str:
    """Who the CLI in local mode records as the actor: ``local:<operating-system user>``."""
    from proseo.security.principal import local_operator

    return local_operator().username
