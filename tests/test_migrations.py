"""Alembic revisions equal the models, on SQLite and PostgreSQL, and go down and up again."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, exc, inspect, text

from proseo.db import migrate
from proseo.model import Base


@contextlib.contextmanager
def _expression_indexes_unseen() -> Iterator[None]:
    """SQLite's reflection leaves out expression indexes (ix_product_class_length), and says
    so; test_validity_length_index_exists checks that one in SQLite's own catalogue."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", exc.SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        yield


def _drift(engine: Engine) -> list[object]:
    with engine.connect() as connection, _expression_indexes_unseen():
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": migrate.include_object},
        )
        return list(compare_metadata(context, Base.metadata))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_schema_equal_to_models(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert _tables(empty_engine) == set(Base.metadata.tables)
    assert _drift(empty_engine) == []


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert _tables(empty_engine) == set()
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == set(Base.metadata.tables)
    assert _drift(empty_engine) == []


def test_upgrade_twice_is_a_no_op(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()


def test_hot_path_indexes_exist(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    inspector = inspect(empty_engine)

    def index_columns(table: str) -> list[list[str | None]]:
        with _expression_indexes_unseen():
            return [ix["column_names"] for ix in inspector.get_indexes(table)]

    assert ["product_class_id", "sensing_start", "sensing_stop"] in index_columns("product")
    assert ["state", "priority"] in index_columns("job_step")
    assert ["requested_product_class_id", "is_satisfied"] in index_columns("product_query")


def test_scale_indexes_exist(empty_engine: Engine) -> None:
    """The planner's longest-validity probe (planner.rules.sql.longest_validity_us) and the
    readiness re-check after an arrival (planner.readiness) need expression indexes that
    reflection cannot see on SQLite, so ask the database's own catalogue."""
    migrate.upgrade(empty_engine)
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('product', 'job')"
        if empty_engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename IN ('product', 'job')"
    )
    wanted = {"ix_product_class_length", "ix_job_start", "ix_job_length"}
    with empty_engine.connect() as connection:
        assert wanted <= set(connection.execute(text(query)).scalars())
    migrate.downgrade(empty_engine, "0007")
    with empty_engine.connect() as connection:
        assert not wanted & set(connection.execute(text(query)).scalars())
