"""Ingestion on both databases: idempotent, conflicts refused, all or nothing, safe names,
and waiting job steps woken at once."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ingestor.service import IngestItem, ingest
from proseo.cli.app import run
from proseo.db import Database
from proseo.enums import JobStepState
from proseo.errors import (
    ConflictError,
    InvalidInputError,
    StorageError,
    StorageUnavailableError,
)
from proseo.model import JobStep, Product, ProductFile
from proseo.plugins import get_mission_plugin
from proseo.storage import PosixStorage, check_key, product_key
from tests.conftest import (
    TST_ORBIT,
    TST_T0,
    FailingStorage,
    add_user,
    api_client,
    released_waiting_l1b_order,
)


def _tst_file(
    folder: Path, product_type: str, start: datetime, stop: datetime, content: bytes, orbit: int = 0
) -> Path:
    name = (
        f"TST_OPER_{product_type}_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
        f"{orbit:05d}_{TST_T0:%Y%m%dT%H%M%S}.dat"
    )
    path = folder / name
    path.write_bytes(content)
    return path


def _items(paths: list[Path]) -> list[IngestItem]:
    plugin = get_mission_plugin("TST")
    return [IngestItem("TST", m, files) for m, files in plugin.group_files(paths)]


def _counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        return (
            session.scalar(select(func.count(Product.id))) or 0,
            session.scalar(select(func.count(ProductFile.id))) or 0,
        )


def test_ingest_is_idempotent_and_refuses_conflicts(tst: Database, tmp_path: Path) -> None:
    storage = PosixStorage(tmp_path / "storage")
    start = TST_T0 + 10 * TST_ORBIT
    path = _tst_file(tmp_path, "L0________", start, start + TST_ORBIT / 5, b"granule", orbit=11)
    first = ingest(tst, storage, _items([path]))
    assert [o.status for o in first.outcomes] == ["ingested"]
    before = _counts(tst)
    again = ingest(tst, storage, _items([path]))
    assert [o.status for o in again.outcomes] == ["already ingested"]
    assert again.outcomes[0].product_id == first.outcomes[0].product_id
    assert _counts(tst) == before
    with tst.transaction() as session:
        stored = session.scalars(
            select(ProductFile).where(ProductFile.product_id == first.outcomes[0].product_id)
        ).one()
        assert stored.checksum == hashlib.md5(b"granule").hexdigest()
        assert stored.file_size_bytes == 7
        assert storage.exists(f"{stored.file_path}/{stored.product_file_name}")
        product = session.get(Product, first.outcomes[0].product_id)
        assert product is not None
        assert product.orbit is not None
        assert product.orbit.orbit_number == 11
    path.write_bytes(b"other content")
    with pytest.raises(ConflictError, match="already catalogued with other content"):
        ingest(tst, storage, _items([path]))
    assert _counts(tst) == before


def test_a_failing_batch_leaves_nothing_behind(tst: Database, tmp_path: Path) -> None:
    storage = PosixStorage(tmp_path / "storage")
    start = TST_T0 + 20 * TST_ORBIT
    good = [
        _tst_file(
            tmp_path,
            "L0________",
            start + k * TST_ORBIT / 5,
            start + (k + 1) * TST_ORBIT / 5,
            f"g{k}".encode(),
            21,
        )
        for k in range(3)
    ]
    items = _items(good)
    bad = IngestItem(
        "TST",
        items[0].metadata.__class__(
            product_type="L9_UNKNOWN", sensing_start=start, sensing_stop=start
        ),
        [good[0]],
    )
    before = _counts(tst)
    with pytest.raises(InvalidInputError, match="'L9_UNKNOWN'"):
        ingest(tst, storage, [items[0], items[1], bad, items[2]])
    assert _counts(tst) == before
    assert storage.list("TST/") == []

    failing = FailingStorage(tmp_path / "storage", fail_at=3)
    with pytest.raises(StorageError, match="injected"):
        ingest(tst, failing, items)
    assert _counts(tst) == before
    assert failing.list("TST/") == []
    assert len(ingest(tst, storage, items).outcomes) == 3


def test_names_that_could_escape_storage_are_refused(tmp_path: Path) -> None:
    for key in ["../etc/passwd", "/abs/key", "a//b", "a/../b", "a/.hidden", "a/b c", "a\\b"]:
        with pytest.raises(InvalidInputError):
            check_key(key)
    with pytest.raises(InvalidInputError, match="file name"):
        product_key("TST", "L0________", "u", "..")
    storage = PosixStorage(tmp_path)
    with pytest.raises(InvalidInputError):
        storage.put(tmp_path, "../outside")
    assert product_key("TST", "L0", "abc", "x.dat") == "TST/L0/abc/x.dat"


@pytest.mark.parametrize(
    ("code", "unavailable"),
    [(errno.ESTALE, True), (errno.EIO, True), (errno.ENOTCONN, True), (errno.ENOSPC, False),
     (errno.EACCES, False)],
)  # fmt: skip
def test_posix_storage_tells_a_file_system_that_is_away_from_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, unavailable: bool
) -> None:
    """A network file system that is away (stale handle, I/O error, not connected) is an
    outage to wait for; a full disk or a permission is not."""
    storage = PosixStorage(tmp_path / "storage")
    source = tmp_path / "a.dat"
    source.write_text("x")

    def fails(*_: Any) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("proseo.storage.posix.shutil.copyfile", fails)
    for action in (lambda: storage.put(source, "TST/a.dat"),
                   lambda: storage.get("TST/a.dat", tmp_path / "b.dat")):  # fmt: skip
        with pytest.raises(StorageError, match=os.strerror(code)) as raised:
            action()
        assert isinstance(raised.value, StorageUnavailableError) is unavailable


def test_waiting_job_step_becomes_ready_when_its_input_is_ingested(
    tst: Database, tmp_path: Path
) -> None:
    released_waiting_l1b_order(tst, "WAIT")
    start = TST_T0 + 2 * TST_ORBIT + 4 * TST_ORBIT / 5  # the missing fifth granule
    path = _tst_file(tmp_path, "L0________", start, start + TST_ORBIT / 5, b"late granule", 3)
    report = ingest(tst, PosixStorage(tmp_path / "storage"), _items([path]))
    assert report.woken == 1
    with tst.transaction() as session:
        step = session.scalars(select(JobStep)).one()
        assert step.state is JobStepState.READY
        l0 = next(
            q
            for q in step.product_queries
            if q.requested_product_class.product_type == "L0________"
        )
        assert l0.is_satisfied
        assert len(l0.satisfying_products) == 5


def test_cli_ingest_real_landsat_scenes(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from missions.landsat.sample_data import fetch_sample_data

    data = fetch_sample_data()
    url = [
        "--database-url",
        database.engine.url.render_as_string(hide_password=False),
        "--data-dir",
        str(tmp_path),
    ]
    assert run([*url, "mission", "sync", "LANDSAT"]) == 0
    assert run([*url, "ingest", str(data), "-f", "json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{") :])
    assert result["ingested"] == 3
    names = sorted(p["file_name"] for p in result["products"])
    assert names == [
        "DEM.TIF",
        "LC08_L1TP_195025_20130707_20170503_01_T1_MTL.txt",
        "LE07_L1TP_195025_20010730_20170204_01_T1_MTL.txt",
    ]
    assert run([*url, "ingest", str(data)]) == 0
    assert "0 ingested, 3 already there" in capsys.readouterr().out
    with database.transaction() as session:
        scene = session.scalars(
            select(ProductFile).where(ProductFile.product_file_name.like("LC08%"))
        ).one()
        assert len(scene.auxiliary_file_names) == 12  # 11 bands and the quality band
        assert scene.product.sensing_stop - scene.product.sensing_start == timedelta(seconds=24)


def test_pickup_point_ingests_good_files_and_sets_bad_ones_aside(
    tst: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import time

    from ingestor.pickup import scan_once

    pickup = tmp_path / "pickup"
    pickup.mkdir()
    storage = PosixStorage(tmp_path / "storage")
    start = TST_T0 + 30 * TST_ORBIT
    good = _tst_file(pickup, "L0________", start, start + TST_ORBIT / 5, b"good", 31)
    unknown = pickup / "README.txt"
    unknown.write_text("not a product")
    unknown_product = pickup / ("X" + good.name[1:])  # no plug-in knows mission "XST"
    unknown_product.write_bytes(b"x")
    fresh_name = _tst_file(tmp_path, "AUX_ORB___", start, start + TST_ORBIT, b"aux").name
    old = time.time() - 7200
    for path in (good, unknown, unknown_product):
        os.utime(path, (old, old))
    (tmp_path / fresh_name).rename(pickup / fresh_name)  # just arrived: not settled yet

    report = scan_once(tst, storage, pickup, settle_s=5, orphan_after_s=3600)
    assert report.ingested == [good.name]
    assert sorted(name for name, _ in report.failed) == sorted([unknown.name, unknown_product.name])
    assert (pickup / ".ingested" / good.name).exists()
    assert "no mission plug-in" in (pickup / ".failed" / "README.txt.reason.txt").read_text()
    assert (pickup / fresh_name).exists()  # left for a later scan

    # The same product again (same name, other content): refused and set aside with the reason.
    again = _tst_file(pickup, "L0________", start, start + TST_ORBIT / 5, b"changed", 31)
    os.utime(again, (old, old))
    url = [
        "--database-url",
        tst.engine.url.render_as_string(hide_password=False),
        "--data-dir",
        str(tmp_path),
    ]
    assert run([*url, "ingest", "watch", str(pickup), "--once"]) == 0
    out = capsys.readouterr().out
    assert f"ingested {fresh_name}" in out
    assert f"set aside {again.name}" in out
    assert "other content" in (pickup / ".failed" / f"{again.name}.reason.txt").read_text()
    assert sorted(p.name for p in pickup.iterdir()) == [".failed", ".ingested"]
    assert scan_once(tst, storage, pickup).ingested == []


def test_pickup_leaves_files_in_place_while_storage_or_database_is_out_of_reach(
    tst: Database, tmp_path: Path
) -> None:
    import os
    import time

    from ingestor.pickup import outage_backoff, scan_once, scan_with_backoff
    from proseo.db import create_database_engine

    pickup = tmp_path / "pickup"
    pickup.mkdir()
    start = TST_T0 + 32 * TST_ORBIT
    granule = _tst_file(pickup, "L0________", start, start + TST_ORBIT / 5, b"granule", 33)
    old = time.time() - 600
    os.utime(granule, (old, old))

    # the storage fails (an S3 outage): not the file's fault, it stays for the next scan
    failing = FailingStorage(tmp_path / "storage", fail_at=1)
    report = scan_once(tst, failing, pickup)
    assert report.ingested == []
    assert [name for name, _ in report.failed] == [granule.name]
    assert "left for the next scan" in report.failed[0][1]
    assert granule.exists()
    assert not (pickup / ".failed").exists()

    # the database is out of reach: an outage, the scan stops there and backs off
    if tst.engine.dialect.name == "postgresql":
        url = tst.engine.url.set(port=1)  # nothing listens there
        unreachable = Database(create_database_engine(url.render_as_string(False)))
        report = scan_once(unreachable, PosixStorage(tmp_path / "storage"), pickup)
        assert report.outage is not None
        assert "cannot be reached" in report.outage
        assert report.failed == []
        assert granule.exists()
        backoff = outage_backoff(interval_s=1.0)
        scan = functools.partial(scan_once, unreachable, PosixStorage(tmp_path / "s"), pickup)
        first, problem = scan_with_backoff(scan, backoff)
        assert first is not None
        assert problem is not None
        assert problem.endswith("(next scan in 2 s)")
        assert scan_with_backoff(scan, backoff) == (None, None)  # not due yet
        backoff.next_at = 0.0
        _, problem = scan_with_backoff(scan, backoff)
        assert problem is not None
        assert problem.endswith("(next scan in 4 s)")

    # back: the next scan ingests it, once
    report = scan_once(tst, PosixStorage(tmp_path / "storage"), pickup)
    assert report.ingested == [granule.name]
    assert (pickup / ".ingested" / granule.name).exists()


def _stored_entries(storage: PosixStorage, tmp_path: Path, count: int) -> list[dict[str, Any]]:
    entries = []
    for k in range(count):
        start = TST_T0 + 40 * TST_ORBIT + k * TST_ORBIT / 5
        local = _tst_file(tmp_path, "L0________", start, start + TST_ORBIT / 5, f"b{k}".encode())
        stored = storage.put(local, f"TST/L0________/batch/{local.name}")
        entries.append(
            {
                "mission": "TST",
                "product_type": "L0________",
                "sensing_start": start.isoformat(),
                "sensing_stop": (start + TST_ORBIT / 5).isoformat(),
                "parameters": {"revision": "01"},
                "files": [{"key": stored.key, "size_bytes": stored.size_bytes, "md5": stored.md5}],
            }
        )
    return entries


def test_rest_ingestion_single_upload_and_bulk_batch(tst: Database, tmp_path: Path) -> None:
    from proseo.api.app import create_app
    from proseo.config import load_settings

    settings = load_settings(data_dir=tmp_path)
    token = add_user(tst, "ingestor", ["PRODUCT_INGESTOR"])
    client = api_client(create_app(settings, database=tst), token)
    storage = PosixStorage(settings.storage_root)
    start = TST_T0 + 50 * TST_ORBIT
    path = _tst_file(tmp_path, "L0________", start, start + TST_ORBIT / 5, b"uploaded")
    metadata = {
        "product_type": "L0________",
        "sensing_start": start.isoformat(),
        "sensing_stop": (start + TST_ORBIT / 5).isoformat(),
        "file_class": "OPER",
    }
    with path.open("rb") as handle:
        response = client.post(
            "/ingest/TST",
            data={"metadata": json.dumps(metadata)},
            files=[("files", (path.name, handle))],
        )
    assert response.status_code == 200, response.text
    assert response.json()["ingested"] == 1
    with path.open("rb") as handle:
        evil = client.post(
            "/ingest/TST",
            data={"metadata": json.dumps(metadata)},
            files=[("files", ("../../etc/passwd", handle))],
        )
    assert evil.status_code == 422
    assert "uploaded file name" in evil.json()["message"]

    entries = _stored_entries(storage, tmp_path, 3)
    batch = client.post("/ingest/batch", json={"entries": entries})
    assert batch.status_code == 200, batch.text
    assert (batch.json()["ingested"], batch.json()["already_ingested"]) == (3, 0)
    again = client.post("/ingest/batch", json={"entries": entries}).json()
    assert (again["ingested"], again["already_ingested"]) == (0, 3)

    missing = [
        *entries,
        {
            **entries[0],
            "files": [
                {
                    **entries[0]["files"][0],
                    "key": "TST/L0________/batch/absent.dat",
                }
            ],
        },
    ]
    refused = client.post("/ingest/batch", json={"entries": missing})
    assert refused.status_code == 422
    assert "entries[3].files" in refused.json()["message"]
    conflict = [{**entries[1], "files": [{**entries[1]["files"][0], "md5": "0" * 32}]}]
    assert client.post("/ingest/batch", json={"entries": conflict}).status_code == 409
    traversal = [{**entries[1], "files": [{**entries[1]["files"][0], "key": "../x"}]}]
    assert client.post("/ingest/batch", json={"entries": traversal}).status_code == 422
    with tst.transaction() as session:
        assert (
            session.scalar(
                select(func.count(ProductFile.id)).where(
                    ProductFile.file_path == "TST/L0________/batch"
                )
            )
            == 3
        )


def test_cli_ingest_with_explicit_metadata(
    tst: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = TST_T0 + 60 * TST_ORBIT
    data = tmp_path / "granule.bin"
    data.write_bytes(b"explicit")
    meta = tmp_path / "meta.json"
    meta.write_text(
        json.dumps(
            {
                "product_type": "AUX_ORB___",
                "sensing_start": start.isoformat(),
                "sensing_stop": (start + TST_ORBIT).isoformat(),
                "parameters": {"source": "hand"},
            }
        )
    )
    url = [
        "--database-url",
        tst.engine.url.render_as_string(hide_password=False),
        "--data-dir",
        str(tmp_path),
    ]
    assert run([*url, "ingest", str(data), "--mission", "TST", "--metadata", str(meta)]) == 0
    assert "ingested: AUX_ORB___ granule.bin" in capsys.readouterr().out
    meta.write_text('{"product_type": "AUX_ORB___", "sensing_start": "yesterday"}')
    assert run([*url, "ingest", str(data), "--mission", "TST", "--metadata", str(meta)]) == 3
    assert "invalid --metadata" in capsys.readouterr().err
