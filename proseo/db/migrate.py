"""Schema migrations with Alembic (the revisions live in the top-level ``migrations`` package).

Used by ``proseo db upgrade|downgrade|current|history`` and by the tests that prove the
revisions and the models do not drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from proseo.db.types import UTCDateTime


def migrations_directory() -> Path:
    """Folder of the Alembic environment (``env.py``, ``versions/``)."""
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration pointing at the migrations, bound to ``engine`` if given."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def _run(engine: Engine, action: Any, *args: Any, **kwargs: Any) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, *args, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database schema to ``revision`` (default: the newest)."""
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database schema to ``revision`` (``base`` drops every table)."""
    _run(engine, command.downgrade, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty (unmigrated) database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision in the migrations folder."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: compare only proseo-py's own tables (not ``alembic_version``)."""
    return not (type_ == "table" and name == "alembic_version")


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Alembic hook: render :class:`UTCDateTime` columns through their importable path."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import proseo.db.types")
        return "proseo.db.types.UTCDateTime()"
    return False
