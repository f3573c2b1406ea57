"""The ``proseo`` CLI end to end: db upgrade/current and missions, on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from proseo.cli.app import run
from proseo.db import migrate


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _proseo(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_upgrade_mission_create_and_list(
    empty_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ("--database-url", _url(empty_engine))
    code, out, _ = _proseo(capsys, *url, "db", "current")
    assert code == 0
    assert "empty database" in out
    code, out, _ = _proseo(capsys, *url, "db", "upgrade")
    assert code == 0
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    code, out, _ = _proseo(capsys, *url, "db", "current")
    assert "(head)" in out
    code, out, _ = _proseo(
        capsys, *url, "mission", "create", "S5P", "--name", "Sentinel-5P", "--mode", "OFFL"
    )
    assert code == 0
    code, out, _ = _proseo(capsys, *url, "mission", "list", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "code": "S5P",
            "name": "Sentinel-5P",
            "file_classes": [],
            "processing_modes": ["OFFL"],
            "spacecraft": [],
            "product_classes": 0,
        }
    ]
    code, out, _ = _proseo(capsys, *url, "mission", "list")
    assert "Sentinel-5P" in out
    code, _, err = _proseo(capsys, *url, "mission", "create", "S5P", "--name", "again")
    assert code == 5
    assert "mission code 'S5P' already exists" in err
    code, _, err = _proseo(capsys, *url, "mission", "create", "S5P", "--name", "x", "--mode", "o")
    assert code == 3
    assert "invalid processing mode 'o'" in err


def test_console_script_on_embedded_default(tmp_path: Path) -> None:
    """The installed ``proseo`` command creates the SQLite database under ./proseo-data."""
    proseo = Path(sys.executable).parent / "proseo"
    result = subprocess.run(
        [str(proseo), "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "proseo-data" / "proseo.sqlite").exists()
    result = subprocess.run(
        [str(proseo), "mission", "list", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    help_text = subprocess.run(
        [str(proseo), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "db" in help_text
    assert "mission" in help_text


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _proseo(capsys, "mission", "list", "--format", "xml")
    assert code == 2
    assert "xml" in err


def test_facility_set_and_list(empty_engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    url = ("--database-url", _url(empty_engine))
    assert _proseo(capsys, *url, "db", "upgrade")[0] == 0
    code, _, err = _proseo(capsys, *url, "facility", "set", "--executor", "nosuch")
    assert code == 3
    assert "--executor" in err
    assert "nosuch" in err
    code, _, err = _proseo(capsys, *url, "facility", "set", "--executor-settings", "[1]")
    assert code == 3
    assert "JSON object" in err
    code, _, _ = _proseo(
        capsys, *url, "facility", "set", "hpc", "--executor", "slurm",
        "--executor-settings", '{"partition": "eo"}', "--capacity", "64",
    )  # fmt: skip
    assert code == 0
    code, out, _ = _proseo(capsys, *url, "facility", "list", "--format", "json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["hpc"]["executor"] == "slurm"
    assert rows["hpc"]["executor_settings"] == {"partition": "eo"}
    assert rows["hpc"]["max_job_steps"] == 64
    assert rows["localhost"]["executor"] == "local"
