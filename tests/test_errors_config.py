"""The error hierarchy's two mappings, and settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from proseo.config import load_settings
from proseo.db import create_database_engine
from proseo.errors import (
    ConfigurationError,
    ConflictError,
    ExecutorError,
    InvalidInputError,
    InvalidStateTransition,
    JobOrderError,
    NotFoundError,
    PlanningError,
    ProseoError,
    SelectionRuleError,
    StorageError,
    exit_code_for,
    http_status_for,
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFoundError("x"), 404, 4),
        (ConflictError("x"), 409, 5),
        (InvalidInputError("f", 1, "bad"), 422, 3),
        (SelectionRuleError("FOR X", 5, "SELECT"), 422, 3),
        (InvalidStateTransition("job 1", "PLANNED", "CLOSED"), 409, 6),
        (PlanningError("x"), 422, 7),
        (JobOrderError("x"), 422, 8),
        (StorageError("x"), 502, 9),
        (ExecutorError("x"), 502, 10),
        (ConfigurationError("x"), 500, 11),
        (ProseoError("x"), 500, 1),
    ],
)
def test_each_error_maps_to_one_http_status_and_one_exit_code(
    error: ProseoError, status: int, code: int
) -> None:
    assert http_status_for(error) == status
    assert exit_code_for(error) == code


def test_selection_rule_error_points_at_the_column() -> None:
    error = SelectionRuleError("FOR L0 SELCT ValCover", 8, "SELECT")
    lines = str(error).splitlines()
    assert lines[0] == "invalid selection rule at column 8: expected SELECT"
    assert lines[1].strip() == "FOR L0 SELCT ValCover"
    assert lines[2].index("^") - lines[1].index("F") == 7


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROSEO_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PROSEO_STORAGE__KIND", "s3")
    monkeypatch.setenv("PROSEO_STORAGE__S3_BUCKET", "products")
    monkeypatch.setenv("PROSEO_EXECUTOR__MAX_PARALLEL", "3")
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'd' / 'proseo.sqlite'}"
    assert settings.storage.kind == "s3"
    assert settings.storage.s3_bucket == "products"
    assert settings.executor.max_parallel == 3
    assert settings.storage_root == tmp_path / "d" / "storage"
    assert load_settings(database_url="postgresql://h/db").effective_database_url == (
        "postgresql://h/db"
    )


def test_bad_setting_names_setting_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROSEO_EXECUTOR__MAX_PARALLEL", "0")
    with pytest.raises(ConfigurationError, match=r"executor\.max_parallel = '0'"):
        load_settings()
    monkeypatch.delenv("PROSEO_EXECUTOR__MAX_PARALLEL")
    with pytest.raises(ConfigurationError, match=r"database_url = 'proseo\.db'"):
        load_settings(database_url="proseo.db")


def test_unsupported_database_backend_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unsupported database backend 'mysql'"):
        create_database_engine("mysql://localhost/x")
