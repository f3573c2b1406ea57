"""What every CLI command gets: the settings of this process and, when needed, the database."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from proseo.config import Settings
from proseo.db import Database


@dataclass
class CliContext:
    """Settings built once in the root callback; the database opened on first use."""

    settings: Settings
    _database: Database | None = field(default=None, repr=False)

    @property
    def database(self) -> Database:
        """The database the settings name (connected lazily)."""
        if self._database is None:
            self._database = Database.from_settings(self.settings)
        return self._database


def cli_context(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj


def local_actor() -> str:
    """Who the CLI in local mode records as the actor: ``local:<operating-system user>``."""
    from proseo.security.principal import local_operator

    return local_operator().username
