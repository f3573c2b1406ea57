"""Secret settings: sealed at rest, masked in every output, resolved from references, kept
out of job step descriptions and run folders; on both databases."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from proseo.api.app import create_app
from proseo.catalogue.facilities import default_facility
from proseo.cli.app import run
from proseo.config import Settings, load_settings
from proseo.db import Database
from proseo.errors import ConfigurationError, InvalidInputError
from proseo.model import Base
from proseo.secrets import (
    MASK,
    SecretBox,
    check_not_masked,
    masked,
    open_settings,
    seal_settings,
    without_secrets,
)
from proseo.storage.factory import split_credentials
from tests.conftest import add_user, api_client

PLANTED = "planted-Secret-5f0c2e7a9b"


def test_seal_open_mask_and_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = SecretBox(Fernet.generate_key())
    given = {
        "bucket": "b",
        "secret_key": PLANTED,
        "nested": {"db_password": PLANTED, "user": "u"},
        "token": "env:PROSEO_TEST_TOKEN",
        "api_key": f"file:{tmp_path / 'key'}",
    }
    sealed = seal_settings(given, box)
    assert PLANTED not in json.dumps(sealed)
    assert sealed["bucket"] == "b"
    assert sealed["token"] == "env:PROSEO_TEST_TOKEN"
    assert seal_settings(sealed, box) == sealed  # sealing twice changes nothing
    assert masked(sealed) == {
        "bucket": "b",
        "secret_key": MASK,
        "nested": {"db_password": MASK, "user": "u"},
        "token": "env:PROSEO_TEST_TOKEN",
        "api_key": f"file:{tmp_path / 'key'}",
    }
    assert without_secrets(sealed) == {"bucket": "b", "nested": {"user": "u"}}
    with pytest.raises(ConfigurationError, match="PROSEO_TEST_TOKEN"):
        open_settings(sealed, box)
    monkeypatch.setenv("PROSEO_TEST_TOKEN", "from-env")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        open_settings(sealed, box)
    (tmp_path / "key").write_text("from-file\n")
    opened = open_settings(sealed, box)
    assert opened["secret_key"] == PLANTED
    assert opened["nested"]["db_password"] == PLANTED
    assert (opened["token"], opened["api_key"]) == ("from-env", "from-file")
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        open_settings(sealed, SecretBox(Fernet.generate_key()))
    with pytest.raises(ConfigurationError, match="no key"):
        open_settings(sealed, None)
    with pytest.raises(InvalidInputError, match="masked"):
        check_not_masked({"secret_key": MASK}, "--storage-settings")
    with pytest.raises(ConfigurationError, match="Fernet"):
        SecretBox("not a key")


def test_key_file_is_made_private_once(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert SecretBox.from_settings(settings) is None
    box = SecretBox.from_settings(settings, create=True)
    assert box is not None
    key_file = settings.secret_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = SecretBox.from_settings(settings)
    assert again is not None
    assert again.unseal(box.seal("x")) == "x"


def _texts_of_database(database: Database) -> str:
    """Every row of every table as text (what a dump of the database would show)."""
    parts: list[str] = []
    with database.transaction() as session:
        for table in Base.metadata.sorted_tables:
            parts.extend(str(tuple(row)) for row in session.execute(select(table)))
    return "\n".join(parts)


def _files_containing(folder: Path, needle: str) -> list[str]:
    return [
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    ]


def planted_secret_search(
    database: Database, settings: Settings, outputs: list[str], secret: str
) -> list[str]:
    """Where ``secret`` shows: the database rows (and the SQLite file), the data directory,
    and the given CLI and API outputs."""
    found = []
    if secret in _texts_of_database(database):
        found.append("database rows")
    if database.engine.url.get_backend_name() == "sqlite":
        db_file = Path(str(database.engine.url.database))
        found.extend(
            f"database file {p.name}"
            for p in db_file.parent.glob(db_file.name + "*")
            if secret.encode() in p.read_bytes()
        )
    found.extend(f"data dir: {f}" for f in _files_containing(settings.data_dir, secret))
    found.extend(f"output {i}" for i, text in enumerate(outputs) if secret in text)
    return found


def _cli(capsys: pytest.CaptureFixture[str], settings: Settings, *args: str) -> str:
    url = str(settings.database_url)
    code = run(["--database-url", url, "--data-dir", str(settings.data_dir), *args])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return out + err


def test_a_planted_secret_shows_nowhere(
    tst: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=tst.engine.url.render_as_string(hide_password=False),
    )
    storage = {"root": str(tmp_path / "store"), "archive_password": PLANTED}
    outputs = [
        _cli(
            capsys,
            settings,
            "facility",
            "set",
            "--executor-settings",
            json.dumps({"max_parallel": 1, "token": PLANTED}),
            "--storage-settings",
            json.dumps(storage),
        ),
        _cli(capsys, settings, "facility", "list"),
        _cli(capsys, settings, "facility", "list", "--format", "json"),
    ]
    listed = json.loads(outputs[-1])[0]
    assert listed["executor_settings"] == {"max_parallel": 1, "token": MASK}
    assert listed["storage_settings"]["archive_password"] == MASK
    root = api_client(create_app(settings, database=tst), add_user(tst, "root", ["ROOT"]))
    for path in (
        "/facilities",
        "/missions/TST",
        "/orders",
        "/products",
        "/missions/TST/processors",
    ):
        response = root.get(path)
        assert response.status_code == 200, path
        outputs.append(response.text)
    assert json.loads(outputs[3])[0]["executor_settings"]["token"] == MASK
    assert planted_secret_search(tst, settings, outputs, PLANTED) == []
    control = tmp_path / "data" / "control.txt"  # the search finds what is there
    control.write_text(PLANTED)
    assert planted_secret_search(tst, settings, [], PLANTED) == ["data dir: control.txt"]
    control.unlink()
    with tst.transaction() as session:
        facility = default_facility(session)
        box = SecretBox.from_settings(settings)
        assert open_settings(facility.storage_settings, box)["archive_password"] == PLANTED
        assert open_settings(facility.executor_settings, box)["token"] == PLANTED
    # a masked listing fed back is refused, not stored as the secret
    url = str(settings.database_url)
    code = run(
        ["--database-url", url, "--data-dir", str(settings.data_dir), "facility", "set",
         "--storage-settings", json.dumps({**storage, "archive_password": MASK})]
    )  # fmt: skip
    assert code == 3
    assert "masked" in capsys.readouterr().err


def test_credentials_leave_the_description_for_the_environment() -> None:
    described = {
        "kind": "s3",
        "bucket": "b",
        "access_key": "AK",
        "secret_key": PLANTED,
        "session_token": PLANTED,
    }
    plain, env = split_credentials(described)
    assert plain == {"kind": "s3", "bucket": "b"}
    assert env == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": PLANTED}
