"""S3 storage against a real S3 server: Ceph's RADOS Gateway on localhost, started by the test
setup (:mod:`tests.cephcluster`). Put/get/list/stat/delete, multipart uploads with their MD5,
keys that try to escape the prefix, idempotent and all-or-nothing ingestion into S3, the
processor wrapper staging from and to S3, and an order run by the dispatcher on S3; the
gateway stopped under a run: the wrapper waits for it, and a run that gave up is requeued
without counting an attempt."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from ingestor.pickup import scan_s3_once
from ingestor.service import IngestItem, ingest
from missions.testmission import plugin as tst_plugin
from orderman.monitoring import Requeues, requeue_counts
from orderman.views import job_step_view
from processor_wrappers.wrapper import run_job_step
from productionplanner.dispatcher import Dispatcher, TickReport
from proseo.api.metrics import register_database_collector
from proseo.catalogue.consistency import check_consistency, repair
from proseo.catalogue.facilities import default_facility, storage_of_facility
from proseo.contract import JobStepDescription, RunManifest, RunStatus
from proseo.db import Database
from proseo.enums import JobStepState, OrderState, StatefulEntity
from proseo.errors import (
    ConflictError,
    InvalidInputError,
    StorageError,
    StorageUnavailableError,
)
from proseo.model import Job, JobStep, Product, ProductFile, StateHistory
from proseo.secrets import SecretBox, seal_settings
from proseo.storage.s3 import S3Storage
from tests.cephcluster import CephRGW, CephUnavailable
from tests.conftest import TST_T0, settings_for, store_catalogued_files
from tests.test_dispatcher import _order, _released_order, _run_log
from tests.test_secrets import planted_secret_search
from tests.test_wrapper import tst_l1b_description


@pytest.fixture(scope="session")
def rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephRGW]:
    try:
        server = CephRGW(tmp_path_factory.mktemp("ceph")).start()
    except CephUnavailable as error:
        if os.environ.get("PROSEO_REQUIRE_S3") == "1":
            raise
        pytest.skip(f"no Ceph RGW here: {error}")
    yield server
    server.stop()


def _settings(rgw: CephRGW, bucket: str, prefix: str = "") -> dict[str, Any]:
    return {
        "kind": "s3",
        "bucket": bucket,
        "prefix": prefix,
        "endpoint_url": rgw.endpoint_url,
        "access_key": rgw.access_key,
        "secret_key": rgw.secret_key,
        "multipart_threshold_bytes": 5 * 1024 * 1024,
    }


@pytest.fixture
def bucket(rgw: CephRGW) -> str:
    name = f"proseo-{uuid.uuid4().hex[:12]}"
    S3Storage.from_settings(_settings(rgw, name)).client.create_bucket(Bucket=name)
    return name


def _file(path: Path, size: int, seed: int = 0) -> Path:
    path.write_bytes(
        hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"x" * (size % 32)
    )
    return path


def test_put_get_list_stat_delete(rgw: CephRGW, bucket: str, tmp_path: Path) -> None:
    storage = S3Storage.from_settings(_settings(rgw, bucket, prefix="facility-a"))
    small = _file(tmp_path / "small.dat", 1000)
    stored = storage.put(small, "TST/L0/u1/small.dat")
    assert stored.size_bytes == 1000
    assert stored.md5 == hashlib.md5(small.read_bytes()).hexdigest()
    assert storage.exists("TST/L0/u1/small.dat")
    assert not storage.exists("TST/L0/u1/other.dat")
    assert storage.stat("TST/L0/u1/small.dat") == stored
    assert storage.stat("TST/L0/u1/small.dat", checksum=False).md5 == ""
    back = storage.get("TST/L0/u1/small.dat", tmp_path / "back" / "small.dat")
    assert back.read_bytes() == small.read_bytes()
    storage.put(small, "TST/L1/u2/x.dat")
    assert storage.list("TST/") == ["TST/L0/u1/small.dat", "TST/L1/u2/x.dat"]
    assert storage.list("TST/L1") == ["TST/L1/u2/x.dat"]
    # the prefix really is a prefix in the bucket, and another prefix sees nothing of it
    other = S3Storage.from_settings(_settings(rgw, bucket, prefix="facility-b"))
    assert other.list() == []
    raw = storage.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in raw) == [
        "facility-a/TST/L0/u1/small.dat",
        "facility-a/TST/L1/u2/x.dat",
    ]
    storage.move("TST/L1/u2/x.dat", "TST/L1/u3/x.dat")
    assert storage.list("TST/L1") == ["TST/L1/u3/x.dat"]
    storage.delete("TST/L0/u1/small.dat")
    storage.delete("TST/L0/u1/small.dat")  # absent: no error
    assert not storage.exists("TST/L0/u1/small.dat")
    with pytest.raises(StorageError, match="no stored file"):
        storage.stat("TST/L0/u1/small.dat")
    with pytest.raises(StorageError, match="download"):
        storage.get("TST/L0/u1/small.dat", tmp_path / "gone.dat")
    assert not (tmp_path / "gone.dat").exists()


def test_multipart_upload_keeps_the_md5(rgw: CephRGW, bucket: str, tmp_path: Path) -> None:
    storage = S3Storage.from_settings(_settings(rgw, bucket))
    big = _file(tmp_path / "big.dat", 12 * 1024 * 1024 + 17)
    stored = storage.put(big, "S5P/L1B/u/big.dat")
    head = storage.client.head_object(Bucket=bucket, Key="S5P/L1B/u/big.dat")
    assert "-" in head["ETag"]  # really uploaded in parts (the ETag is then no MD5)
    assert stored.md5 == hashlib.md5(big.read_bytes()).hexdigest()
    assert storage.stat("S5P/L1B/u/big.dat").md5 == stored.md5
    assert storage.get("S5P/L1B/u/big.dat", tmp_path / "copy.dat").read_bytes() == (
        big.read_bytes()
    )


@pytest.mark.parametrize(
    "key", ["../escape.dat", "/abs/x.dat", "TST/../../x.dat", "TST//x.dat", "TST/.hidden"]
)
def test_keys_cannot_escape_the_prefix(rgw: CephRGW, bucket: str, tmp_path: Path, key: str) -> None:
    storage = S3Storage.from_settings(_settings(rgw, bucket, prefix="p"))
    with pytest.raises(InvalidInputError):
        storage.put(_file(tmp_path / "f.dat", 10), key)
    assert storage.client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_wrong_credentials_are_a_storage_error(rgw: CephRGW, bucket: str, tmp_path: Path) -> None:
    settings = {**_settings(rgw, bucket), "secret_key": "wrong"}
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        S3Storage.from_settings(settings).put(_file(tmp_path / "f.dat", 10), "TST/f.dat")


@pytest.fixture
def s3_facility(tst: Database, rgw: CephRGW, bucket: str) -> Database:
    """TST with the default facility's storage in the test bucket (prefix ``archive``)."""
    with tst.transaction() as session:
        default_facility(session).storage_settings = _settings(rgw, bucket, prefix="archive")
    return tst


def _tst_file(folder: Path, product_type: str, hour: int, content: str = "x") -> Path:
    start = TST_T0.replace(hour=hour)
    name = (
        f"TST_OPER_{product_type}_{start:%Y%m%dT%H%M%S}_"
        f"{start.replace(minute=20):%Y%m%dT%H%M%S}_00001_20240101T000000.dat"
    )
    path = folder / name
    path.write_text(content)
    return path


def _item(path: Path) -> IngestItem:
    metadata = tst_plugin.parse_file_name(path.name)
    assert metadata is not None
    return IngestItem("TST", metadata, [path])


def test_ingestion_into_s3_is_idempotent_and_atomic(s3_facility: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, s3_facility)
    storage = storage_of_facility(s3_facility, settings)
    assert isinstance(storage, S3Storage)
    good = _tst_file(tmp_path, "L0________", 1)
    report = ingest(s3_facility, storage, [_item(good)])
    assert report.ingested == 1
    assert len(storage.list("TST/")) == 1
    again = ingest(s3_facility, storage, [_item(good)])
    assert again.ingested == 0  # "already ingested", nothing stored twice
    assert len(storage.list("TST/")) == 1
    good.write_text("other content")
    with pytest.raises(ConflictError):
        ingest(s3_facility, storage, [_item(good)])
    # a batch with a bad item in the middle leaves nothing behind, in S3 or the database
    batch = [_item(_tst_file(tmp_path, "L0________", h)) for h in (2, 3)]
    bad = IngestItem("TST", batch[0].metadata, [tmp_path / "missing.dat"])
    with s3_facility.transaction() as session:
        before = session.scalar(select(func.count(Product.id)))
    with pytest.raises(InvalidInputError):
        ingest(s3_facility, storage, [batch[0], bad, batch[1]])
    assert len(storage.list("TST/")) == 1
    with s3_facility.transaction() as session:
        assert session.scalar(select(func.count(Product.id))) == before
        (file,) = session.scalars(
            select(ProductFile).where(ProductFile.product_file_name == good.name)
        ).all()
        assert file.storage_type.value == "S3"
        assert file.file_path.startswith("TST/L0________/")


def test_wrapper_stages_from_and_to_s3(rgw: CephRGW, bucket: str, tmp_path: Path) -> None:
    settings = _settings(rgw, bucket, prefix="w")
    storage = S3Storage.from_settings(settings)
    storage.put(_file(tmp_path / "in.dat", 100), "TST/L0/u/in.dat")
    description = tst_l1b_description(settings, "TST/L0/u/in.dat", "TST/L1B/v/out.dat")
    result = run_job_step(JobStepDescription.from_dict(description), work_root=tmp_path)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.outputs[0].md5 == storage.stat("TST/L1B/v/out.dat").md5
    out = storage.get("TST/L1B/v/out.dat", tmp_path / "out.dat").read_text()
    assert "input in.dat" in out


def test_dispatcher_runs_an_order_on_s3(
    tst: Database, rgw: CephRGW, bucket: str, tmp_path: Path
) -> None:
    """The order completes with the S3 keys sealed in the database: the wrapper gets them
    through its environment only; no file of the data directory and no database row holds
    the secret key; run folders are 0700, descriptions 0600."""
    s3_facility = tst
    settings = settings_for(tmp_path, s3_facility)
    box = SecretBox.from_settings(settings, create=True)
    assert box is not None
    with s3_facility.transaction() as session:  # stored sealed from the start
        default_facility(session).storage_settings = seal_settings(
            _settings(rgw, bucket, prefix="archive"), box
        )
    store_catalogued_files(s3_facility, settings)  # the TST inputs, into the bucket
    order_id = _released_order(
        s3_facility, dynamic_processing_parameters={"tstRunLog": str(_run_log(tmp_path))}
    )
    report = Dispatcher(s3_facility, settings).run(interval_s=0.1, until_idle=True, timeout_s=120)
    assert report.completed == 4
    assert _order(s3_facility, order_id).state is OrderState.COMPLETED
    storage = storage_of_facility(s3_facility, settings)
    with s3_facility.transaction() as session:
        outputs = session.scalars(
            select(ProductFile).join(Product).where(Product.job_step_id.is_not(None))
        ).all()
    assert len(outputs) == 8
    assert len(storage.list("TST/")) == 30 + 8
    for file in outputs:
        key = f"{file.file_path}/{file.product_file_name}"
        assert storage.stat(key).md5 == file.checksum
    assert planted_secret_search(s3_facility, settings, [], rgw.secret_key) == []
    descriptions = list(settings.data_dir.rglob("description.json"))
    assert len(descriptions) == 4
    for description in descriptions:
        assert stat.S_IMODE(description.stat().st_mode) == 0o600
        assert stat.S_IMODE(description.parent.stat().st_mode) == 0o700
        assert rgw.access_key not in description.read_text()


def test_s3_pickup_prefix_ingests_good_objects_and_sets_bad_ones_aside(
    s3_facility: Database, rgw: CephRGW, bucket: str, tmp_path: Path, capsys: Any
) -> None:
    from proseo.cli.app import run

    settings = settings_for(tmp_path, s3_facility)
    pickup = S3Storage.from_settings(_settings(rgw, bucket))
    good = _tst_file(tmp_path, "L0________", 5, "good")
    pickup.put(good, f"incoming/{good.name}")
    readme = tmp_path / "README.txt"
    readme.write_text("not a product")
    pickup.put(readme, "incoming/README.txt")
    report = scan_s3_once(
        s3_facility,
        storage_of_facility(s3_facility, settings),
        pickup,
        "incoming",
        settle_s=0,
        orphan_after_s=0,
    )
    assert report.ingested == [good.name]
    assert report.failed == [("README.txt", report.failed[0][1])]
    assert pickup.list("incoming/") == sorted(
        [
            f"incoming/ingested/{good.name}",
            "incoming/failed/README.txt",
            "incoming/failed/README.txt.reason.txt",
        ]
    )
    note = pickup.get("incoming/failed/README.txt.reason.txt", tmp_path / "why.txt")
    assert "no mission plug-in" in note.read_text()
    # the same product dropped again, through the CLI: already there, nothing twice
    pickup.put(good, f"incoming/{good.name}")
    env = {
        "PROSEO_STORAGE__S3_ENDPOINT_URL": rgw.endpoint_url,
        "PROSEO_STORAGE__S3_ACCESS_KEY": rgw.access_key,
        "PROSEO_STORAGE__S3_SECRET_KEY": rgw.secret_key,
    }
    os.environ.update(env)
    try:
        url = s3_facility.engine.url.render_as_string(hide_password=False)
        code = run(
            ["--database-url", url, "--data-dir", str(settings.data_dir),
             "ingest", "watch", f"s3://{bucket}/incoming", "--once"]
        )  # fmt: skip
    finally:
        for key in env:
            os.environ.pop(key)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"already ingested {good.name}" in out
    with s3_facility.transaction() as session:
        assert (
            session.scalar(
                select(func.count(ProductFile.id)).where(ProductFile.product_file_name == good.name)
            )
            == 1
        )


def test_consistency_sweep_on_s3(s3_facility: Database, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, s3_facility)
    storage = storage_of_facility(s3_facility, settings)
    for hour in (1, 2):
        ingest(s3_facility, storage, [_item(_tst_file(tmp_path, "L0________", hour))])
    # the TST fixture's own rows have no objects in this bucket: all missing
    first = check_consistency(s3_facility, settings)
    assert first.objects == 2
    assert len(first.missing) == first.catalogued - 2
    storage.put(_file(tmp_path / "orphan.dat", 10), "TST/L0________/dead/orphan.dat")
    found = check_consistency(s3_facility, settings)
    assert [key for key, _ in found.orphans] == ["TST/L0________/dead/orphan.dat"]
    age = found.orphans[0][1]
    assert age is not None
    assert -60 < age < 120  # LastModified of the object
    done = repair(s3_facility, settings, found, orphans_older_than_s=0, forget_missing=True)
    assert done.deleted == ["TST/L0________/dead/orphan.dat"]
    assert len(done.forgotten) == len(found.missing)
    assert check_consistency(s3_facility, settings).consistent
    assert len(storage.list("TST/")) == 2


def test_an_unreachable_gateway_is_a_storage_unavailable_error(
    rgw: CephRGW, bucket: str, tmp_path: Path
) -> None:
    storage = S3Storage.from_settings(_settings(rgw, bucket))
    rgw.stop_gateway()
    try:
        with pytest.raises(StorageUnavailableError, match="Could not connect"):
            storage.put(_file(tmp_path / "a.dat", 10), "TST/a.dat")
        with pytest.raises(StorageUnavailableError):
            storage.exists("TST/a.dat")
    finally:
        rgw.start_gateway()
    # a refusal of the request itself is not an outage
    wrong = S3Storage.from_settings({**_settings(rgw, bucket), "secret_key": "wrong" * 8})
    with pytest.raises(StorageError) as refused:
        wrong.put(_file(tmp_path / "b.dat", 10), "TST/b.dat")
    assert not isinstance(refused.value, StorageUnavailableError)


def test_wrapper_waits_for_the_gateway_during_stage_out(
    rgw: CephRGW, bucket: str, tmp_path: Path, capsys: Any
) -> None:
    """The gateway goes away while the processor runs and comes back 6 s later: the
    wrapper's stage-out waits for it and the processor's work is kept (not run again)."""
    settings = _settings(rgw, bucket, prefix="w")
    storage = S3Storage.from_settings(settings)
    storage.put(_file(tmp_path / "in.dat", 100), "TST/L0/u/in.dat")
    run_log = tmp_path / "runs.log"
    data = tst_l1b_description(
        settings, "TST/L0/u/in.dat", "TST/L1B/v/out.dat",
        tstSleepSeconds="3", tstRunLog=str(run_log),
    )  # fmt: skip
    description = JobStepDescription.from_dict({**data, "storage_patience_s": 60})
    results: list[Any] = []
    runner = threading.Thread(
        target=lambda: results.append(run_job_step(description, work_root=tmp_path))
    )
    runner.start()
    time.sleep(1.0)  # staged in; the processor sleeps
    rgw.stop_gateway()
    try:
        time.sleep(6.0)
    finally:
        rgw.start_gateway()
    runner.join(timeout=120)
    (result,) = results
    assert result.status is RunStatus.COMPLETED, result.reason
    assert not result.transient
    assert result.outputs[0].md5 == storage.stat("TST/L1B/v/out.dat").md5
    assert len(run_log.read_text().splitlines()) == 1  # the processor ran once
    assert "stage-out of TST/L1B/v/out.dat: storage unreachable" in capsys.readouterr().err


def test_wrapper_gives_up_after_its_patience_and_says_transient(
    rgw: CephRGW, bucket: str, tmp_path: Path
) -> None:
    settings = _settings(rgw, bucket, prefix="w")
    S3Storage.from_settings(settings).put(_file(tmp_path / "in.dat", 100), "TST/L0/u/in.dat")
    data = tst_l1b_description(settings, "TST/L0/u/in.dat", "TST/L1B/v/out.dat")
    description = JobStepDescription.from_dict({**data, "storage_patience_s": 2})
    rgw.stop_gateway()
    try:
        started = time.monotonic()
        result = run_job_step(description, work_root=tmp_path)
        waited = time.monotonic() - started
    finally:
        rgw.start_gateway()
    assert result.status is RunStatus.FAILED
    assert result.transient
    assert result.reason is not None
    assert "could not be reached for 2 s" in result.reason
    assert 2 <= waited < 30  # it waited, and no more than its patience (plus the last try)
    assert RunManifest.from_dict(result.to_dict()).transient


def test_a_run_failed_by_a_storage_outage_is_requeued_without_counting(
    tst: Database, rgw: CephRGW, bucket: str, tmp_path: Path
) -> None:
    """The gateway is away when the job steps run (the wrappers give up after 1 s): the
    steps stay RUNNING until their outputs can be cleaned up, then are requeued, held back
    for the back-off, and complete once the gateway is back. The order allows no retry, so
    a counted failure would have failed it."""
    with tst.transaction() as session:
        default_facility(session).storage_settings = _settings(rgw, bucket, prefix="archive")
    settings = settings_for(tmp_path, tst)
    settings.executor.storage_patience_s = 1.0
    settings.executor.requeue_backoff_s = 2.0
    store_catalogued_files(tst, settings)
    order_id = _released_order(tst, max_retries=0)
    dispatcher = Dispatcher(tst, settings)
    rgw.stop_gateway()
    try:
        report = dispatcher.run(interval_s=0.2, timeout_s=15)
        assert report.submitted >= 1
        assert report.failed == report.requeued == 0  # nothing decided while it is away
        assert _order(tst, order_id).state is OrderState.RUNNING
        with tst.transaction() as session:
            running = session.scalars(
                select(JobStep)
                .join(Job)
                .where(Job.processing_order_id == order_id, JobStep.state == JobStepState.RUNNING)
            ).all()
            assert running
            assert all(step.attempt == 1 for step in running)
    finally:
        rgw.start_gateway()
    # the rounds after the outage clean up and requeue: held back, and the view says so
    report = TickReport()
    deadline = time.monotonic() + 60
    while report.requeued < len(running):
        assert time.monotonic() < deadline
        report.add(dispatcher.tick())
        time.sleep(0.2)
    with tst.transaction() as session:
        shown = [job_step_view(session, step.id) for step in running]
    assert all(view.transient_failures == 1 for view in shown)
    held = [view for view in shown if view.state == "READY" and view.held_until is not None]
    assert held
    # the operator's dashboard and Prometheus see them: held back, requeued once each
    with tst.transaction() as session:
        assert requeue_counts(session) == [
            Requeues(facility="localhost", held_back=len(held), most_requeues=1)
        ]
    registry = CollectorRegistry()
    register_database_collector(tst, registry)
    gauges = generate_latest(registry).decode()
    assert f'proseo_job_steps_held_back{{facility="localhost"}} {float(len(held))}' in gauges
    assert 'proseo_job_step_requeues_max{facility="localhost"} 1.0' in gauges
    report.add(dispatcher.run(interval_s=0.2, until_idle=True, timeout_s=120))
    assert report.requeued == len(running)
    assert report.failed == 0
    assert _order(tst, order_id).state is OrderState.COMPLETED
    with tst.transaction() as session:
        for step in running:
            done = session.get_one(JobStep, step.id)
            assert (done.attempt, done.transient_failures) == (2, 1)
            reasons = session.scalars(
                select(StateHistory.reason).where(
                    StateHistory.entity_id == step.id,
                    StateHistory.entity_type == StatefulEntity.JOB_STEP,
                )
            ).all()
            assert any("could not be reached for 1 s" in (r or "") for r in reasons)
            assert any("requeued without counting" in (r or "") for r in reasons)
    assert check_consistency(tst, settings).orphans == []
    with tst.transaction() as session:
        assert requeue_counts(session) == []  # finished: nothing held back any more
