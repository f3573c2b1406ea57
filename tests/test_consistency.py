"""The consistency sweep of storage against the catalogue, and its separate repair: orphaned
objects (stored, no product file row) and missing files (a row, no object); on POSIX storage
with both databases (the S3 case is in ``tests/test_s3.py``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proseo.catalogue.consistency import ConsistencyReport, check_consistency, repair
from proseo.catalogue.facilities import storage_of_facility
from proseo.cli.app import run
from proseo.config import Settings
from proseo.db import Database
from proseo.model import ProductFile


def break_storage(database: Database, settings: Settings, tmp_path: Path) -> tuple[str, int, str]:
    """One orphaned object (an upload whose ingestion died) and one missing file (an object
    lost); returns the orphan's key, and the product id and key of the missing file."""
    storage = storage_of_facility(database, settings)
    local = tmp_path / "orphan.dat"
    local.write_text("an upload whose ingestion was killed")
    orphan = "TST/L0________/0b0e-dead/orphan.dat"
    storage.put(local, orphan)
    with database.transaction() as session:
        product_id, folder, name = session.execute(
            select(ProductFile.product_id, ProductFile.file_path, ProductFile.product_file_name)
            .order_by(ProductFile.id)
            .limit(1)
        ).one()
    lost = f"{folder}/{name}"
    storage.delete(lost)
    return orphan, product_id, lost


def test_check_reports_and_repair_mends(
    tst_settings: Settings, tst: Database, tmp_path: Path
) -> None:
    clean = check_consistency(tst, tst_settings)
    assert clean.consistent
    assert clean.objects == clean.catalogued == 30  # 29 L0 granules and the AUX_ORB
    orphan, product_id, lost = break_storage(tst, tst_settings, tmp_path)

    found = check_consistency(tst, tst_settings, "localhost")
    assert not found.consistent
    assert [key for key, _ in found.orphans] == [orphan]
    assert found.orphans[0][1] is not None
    assert found.orphans[0][1] < 60
    assert found.missing == [(product_id, lost)]
    assert found.objects == 30
    assert found.catalogued == 30

    # the repair keeps young orphans (an ingestion may be uploading them) and forgets
    # nothing unless asked
    cautious = repair(tst, tst_settings, found)
    assert cautious.deleted == []
    assert cautious.kept == [orphan]
    assert cautious.forgotten == []
    assert storage_of_facility(tst, tst_settings).exists(orphan)

    done = repair(tst, tst_settings, found, orphans_older_than_s=0, forget_missing=True)
    assert done.deleted == [orphan]
    assert done.forgotten == [(product_id, lost)]
    assert check_consistency(tst, tst_settings).consistent
    with tst.transaction() as session:
        assert session.scalar(select(func.count(ProductFile.id))) == 29


def test_repair_checks_again_before_deleting(
    tst_settings: Settings, tst: Database, tmp_path: Path
) -> None:
    orphan, _, _ = break_storage(tst, tst_settings, tmp_path)
    found = check_consistency(tst, tst_settings)
    # meanwhile an ingestion committed a row for that object: it is no orphan any more
    with tst.transaction() as session:
        row = session.scalars(select(ProductFile).order_by(ProductFile.id.desc())).first()
        assert row is not None
        folder, _, name = orphan.rpartition("/")
        row.auxiliary_file_names = [*row.auxiliary_file_names, name]
        row.file_path = folder
    done = repair(tst, tst_settings, found, orphans_older_than_s=0)
    assert done.deleted == []
    assert done.kept == [orphan]
    assert storage_of_facility(tst, tst_settings).exists(orphan)


def test_facility_check_and_repair_commands(
    tst_settings: Settings, tst: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "--database-url",
        tst.engine.url.render_as_string(hide_password=False),
        "--data-dir",
        str(tst_settings.data_dir),
    ]
    orphan, product_id, lost = break_storage(tst, tst_settings, tmp_path)
    old = time.time() - 7200
    os.utime(tst_settings.data_dir / "storage" / orphan, (old, old))
    capsys.readouterr()
    assert run([*base, "facility", "check", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["consistent"] is False
    assert [o["key"] for o in document["orphans"]] == [orphan]
    assert document["missing"] == [{"product": product_id, "key": lost}]
    assert run([*base, "facility", "repair", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 orphaned objects" in out
    assert "forgot 0 missing" in out
    assert run([*base, "facility", "check"]) == 1  # the missing file is still missing
    assert f"missing file {lost} of product {product_id}" in capsys.readouterr().out
    assert run([*base, "facility", "repair", "--yes", "--forget-missing"]) == 0
    assert run([*base, "facility", "check"]) == 0
    assert "0 orphaned, 0 missing" in capsys.readouterr().out


def test_report_as_json() -> None:
    report = ConsistencyReport("f", 2, 1, [("M/a", None)], [(7, "M/b")], 0.01234)
    assert report.as_dict() == {
        "facility": "f",
        "objects": 2,
        "catalogued": 1,
        "orphans": [{"key": "M/a", "age_s": None}],
        "missing": [{"product": 7, "key": "M/b"}],
        "consistent": False,
        "seconds": 0.012,
    }
