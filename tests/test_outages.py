"""Outages: the dispatcher rides out its PostgreSQL going away (stopped for seconds, every
connection cut) without exiting, backs off instead of spinning, and carries on where it
stopped once the database is back; so does the whole server (dispatcher, triggers, sweep,
pickup) through a minute without its database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from orderman.service import run_command, run_plan
from proseo.db import Database, create_database_engine, migrate
from proseo.enums import JobStepState, OrderState
from proseo.errors import DatabaseUnavailableError
from proseo.model import Job, JobStep, ProcessingOrder
from tests.conftest import (
    TST_ORBIT,
    TST_T0,
    approved_tst_order,
    settings_for,
    store_catalogued_files,
    tst_catalogue,
)
from tests.pgcluster import PostgresCluster, PostgresClusterError
from tests.servers import serve_database, stop_server
from tests.test_ingestion import _tst_file


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster of this test alone (it is stopped and started)."""
    try:
        cluster = PostgresCluster().start()
    except (PostgresClusterError, FileNotFoundError) as error:
        if os.environ.get("PROSEO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"no PostgreSQL server to stop and start: {error}")
        pytest.skip(f"no PostgreSQL server binaries: {error}")
    yield cluster
    cluster.stop()


def _order_state(database: Database, order_id: int) -> OrderState | None:
    try:
        with database.transaction() as session:
            return session.scalar(
                select(ProcessingOrder.state).where(ProcessingOrder.id == order_id)
            )
    except DatabaseUnavailableError:
        return None


def test_transactions_name_an_unreachable_database(own_postgres: PostgresCluster) -> None:
    database = Database(create_database_engine(own_postgres.url))
    migrate.upgrade(database.engine)
    with database.transaction() as session:
        assert session.scalar(select(ProcessingOrder.id)) is None
    own_postgres.pause()
    try:
        with (
            pytest.raises(DatabaseUnavailableError, match="cannot be reached"),
            database.transaction() as session,
        ):
            session.scalar(select(ProcessingOrder.id))
    finally:
        own_postgres.resume()
    # the pool drops the dead connections: the next transaction works
    with database.transaction() as session:
        assert session.scalar(select(ProcessingOrder.id)) is None


def test_dispatcher_rides_out_a_database_outage(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    database = Database(create_database_engine(own_postgres.url))
    migrate.upgrade(database.engine)
    tst_catalogue(database)
    settings = settings_for(tmp_path, database)
    store_catalogued_files(database, settings)
    order_id = approved_tst_order(database)
    run_plan(database, order_id)
    run_command(database, order_id, "release")

    own_postgres.pause()  # the database is away when the dispatcher starts
    log_path = tmp_path / "dispatcher.log"
    with log_path.open("w") as log:
        dispatcher = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "proseo"),
                "--database-url",
                own_postgres.url,
                "--data-dir",
                str(settings.data_dir),
                "dispatcher",
                "run",
                "--interval",
                "0.2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(8)
        assert dispatcher.poll() is None, log_path.read_text()
        own_postgres.resume()
        deadline = time.monotonic() + 120
        while _order_state(database, order_id) is not OrderState.COMPLETED:
            assert time.monotonic() < deadline, log_path.read_text()
            assert dispatcher.poll() is None, log_path.read_text()
            time.sleep(0.5)
        # a second outage while it idles: still there afterwards
        own_postgres.pause()
        time.sleep(3)
        own_postgres.resume()
        time.sleep(3)
        assert dispatcher.poll() is None, log_path.read_text()
    finally:
        stop_server(dispatcher)
    text = log_path.read_text()
    tries = text.count("cannot be reached")
    # backed off (0.5, 1, 2, 4 s ... while away), not a retry every 0.2 s (about 40 in 8 s)
    assert 2 <= tries <= 12, text
    assert "next try in" in text


def _running_steps(database: Database, order_id: int) -> int:
    try:
        with database.transaction() as session:
            return len(
                session.scalars(
                    select(JobStep.id)
                    .join(Job)
                    .where(
                        Job.processing_order_id == order_id,
                        JobStep.state == JobStepState.RUNNING,
                    )
                ).all()
            )
    except DatabaseUnavailableError:
        return 0


def test_server_rides_out_a_minute_without_its_database(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    """``proseo serve`` with its dispatcher, triggers, sweep and a pickup folder loses its
    PostgreSQL for 60 s while job steps run and a product arrives: it stays up, every loop
    backs off (no traceback, a bounded number of log lines), and afterwards it collects the
    runs that ended meanwhile, completes the order and ingests the product."""
    database = Database(create_database_engine(own_postgres.url))
    migrate.upgrade(database.engine)
    tst_catalogue(database)
    settings = settings_for(tmp_path, database)
    store_catalogued_files(database, settings)
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    server, _ = serve_database(
        database, settings.data_dir, "--pickup", str(pickup), "--pickup-interval", "0.5",
        "--dispatch-interval", "0.5", "--trigger-interval", "0.5", "--sweep-interval", "1",
    )  # fmt: skip
    log_path = settings.data_dir / "serve.log"
    try:
        order_id = approved_tst_order(
            database, dynamic_processing_parameters={"tstSleepSeconds": "4"}
        )
        run_plan(database, order_id)
        run_command(database, order_id, "release")
        deadline = time.monotonic() + 60
        while _running_steps(database, order_id) == 0:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        own_postgres.pause()
        try:
            start = TST_T0 + 40 * TST_ORBIT
            granule = _tst_file(pickup, "L0________", start, start + TST_ORBIT / 5, b"late", 41)
            time.sleep(60)
            assert server.poll() is None, log_path.read_text()[-5000:]
        finally:
            own_postgres.resume()
        deadline = time.monotonic() + 180
        while not (
            _order_state(database, order_id) is OrderState.COMPLETED
            and (pickup / ".ingested" / granule.name).exists()
        ):
            assert time.monotonic() < deadline, log_path.read_text()[-5000:]
            assert server.poll() is None, log_path.read_text()[-5000:]
            time.sleep(1)
    finally:
        stop_server(server)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-5000:]
    outage_lines = [line for line in text.splitlines() if "cannot be reached" in line]
    by_loop = Counter(line.split(":", 1)[0].split(" void")[0] for line in outage_lines)
    # each loop backs off 0.5 (or 1), 1, 2 ... 60 s: at most about 8 lines in a minute, not
    # one every half second (about 120)
    assert len(by_loop) >= 3, by_loop
    assert max(by_loop.values()) <= 12, (by_loop, "\n".join(outage_lines))
