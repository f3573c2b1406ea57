"""Fixtures: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``PROSEO_TEST_DATABASE_URL`` (a server URL whose user may create
databases) or else from a private throwaway cluster started here. If neither works the
PostgreSQL tests *error*; they are skipped only when ``PROSEO_TEST_SKIP_POSTGRES=1`` says so
explicitly. With ``PROSEO_REQUIRE_POSTGRES=1`` (set by the test command) a run in which no
PostgreSQL test passed fails.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import proseo.model  # noqa: F401  (registers every table)
from missions.testmission import build_definition as build_tst_definition
from orderman.orders import create_order, parse_order_spec
from orderman.service import run_command, run_plan
from proseo.catalogue.facilities import default_facility, storage_of_facility
from proseo.catalogue.sync import sync_mission
from proseo.config import Settings, load_settings
from proseo.db import Database, create_database_engine
from proseo.errors import StorageError
from proseo.model import Base, Product, ProductClass, ProductFile
from proseo.storage import PosixStorage, StoredFile
from tests.pgcluster import PostgresCluster

# Property tests are derandomized by default so CI is repeatable; set
# HYPOTHESIS_PROFILE=explore to search with fresh random examples (and more of them).
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", max_examples=1000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()
_pg_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


@pytest.fixture(scope="session", autouse=True)
def _no_login_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI under test never sees the developer's own login profile (remote mode)."""
    before = os.environ.get("PROSEO_CONFIG_DIR")
    os.environ["PROSEO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("proseo-config"))
    yield
    if before is None:
        os.environ.pop("PROSEO_CONFIG_DIR", None)
    else:
        os.environ["PROSEO_CONFIG_DIR"] = before


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    if os.environ.get("PROSEO_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("PostgreSQL tests disabled by PROSEO_TEST_SKIP_POSTGRES=1")
    given = os.environ.get("PROSEO_TEST_DATABASE_URL")
    if given:
        yield given
        return
    cluster = PostgresCluster().start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


class _PostgresDatabases:
    """Creates fresh databases on the test server, from a template holding the schema."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        self.template: str | None = None
        self.prefix = f"proseo_test_{os.getpid()}"

    def _url(self, name: str) -> str:
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def create(self, with_schema: bool) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        with self.admin.connect() as connection:
            if with_schema:
                if self.template is None:
                    self.template = f"{self.prefix}_template"
                    connection.execute(text(f'CREATE DATABASE "{self.template}"'))
                    engine = create_database_engine(self._url(self.template))
                    Base.metadata.create_all(engine)
                    engine.dispose()
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
            else:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self.template:
            self.drop(self._url(self.template))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server_url: str) -> Iterator[_PostgresDatabases]:
    factory = _PostgresDatabases(postgres_server_url)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: every test using a database runs once on each."""
    name: str = request.param
    return name


def _engine_for(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, with_schema: bool
) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path / 'proseo.sqlite'}")
        if with_schema:
            Base.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    factory: _PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = factory.create(with_schema)
    engine = create_database_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        factory.drop(url)


@pytest.fixture
def empty_engine(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new, empty database of ``backend`` (for migration tests)."""
    yield from _engine_for(backend, request, tmp_path, with_schema=False)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A :class:`Database` on a new database of ``backend`` holding the current schema."""
    for engine in _engine_for(backend, request, tmp_path, with_schema=True):
        yield Database(engine)


TST_T0 = datetime(2024, 1, 1, tzinfo=UTC)
TST_ORBIT = timedelta(minutes=100)


def add_product_with_file(
    session: Session, product_type: str, start: datetime, stop: datetime
) -> Product:
    """A product of ``product_type`` with a file at the default facility (generation T0)."""
    pc = session.scalars(
        select(ProductClass).where(ProductClass.product_type == product_type)
    ).one()
    product = Product(
        product_class=pc, sensing_start=start, sensing_stop=stop, generation_time=TST_T0
    )
    product.product_files.append(
        ProductFile(
            processing_facility=default_facility(session),
            product_file_name=f"{product_type}_{start:%Y%m%dT%H%M%S}",
            file_path="TST",
            file_size_bytes=100,
        )
    )
    session.add(product)
    return product


@pytest.fixture
def tst(database: Database) -> Database:
    """TST synced (orbits 1..100 of 100 min from 2024-01-01T00:00Z); five L0 granules per orbit
    for orbits 1..6, but only four for orbit 3 (80 % < the L1B MINCOVER(90)); one AUX_ORB___
    valid 2023-12-31T23:00Z .. 2024-01-02T00:00Z; all with files at the default facility."""
    return tst_catalogue(database)


def tst_catalogue(database: Database) -> Database:
    """Fill ``database`` (with its schema) as the :func:`tst` fixture does; returns it."""
    with database.transaction() as session:
        sync_mission(session, build_tst_definition())
        for orbit in range(1, 7):
            start = TST_T0 + (orbit - 1) * TST_ORBIT
            granules = 4 if orbit == 3 else 5
            for k in range(granules):
                add_product_with_file(
                    session,
                    "L0________",
                    start + k * TST_ORBIT / 5,
                    start + (k + 1) * TST_ORBIT / 5,
                )
        add_product_with_file(
            session, "AUX_ORB___", TST_T0 - timedelta(hours=1), TST_T0 + timedelta(days=1)
        )
    return database


def tst_order_spec(**overrides: Any) -> dict[str, Any]:
    """An ORBIT-sliced TST order for L2 over orbits 1-2 in mode OPER, with ``overrides``."""
    return {
        "mission": "TST",
        "identifier": "ORD",
        "requested_product_classes": ["L2________"],
        "orbits": [{"spacecraft": "TST1", "from": 1, "to": 2}],
        "slicing_type": "ORBIT",
        "processing_mode": "OPER",
        **overrides,
    }


def approved_tst_order(database: Database, **overrides: Any) -> int:
    """Create :func:`tst_order_spec` (with ``overrides``) and approve it; returns its id."""
    with database.transaction() as session:
        order_id = create_order(session, parse_order_spec(tst_order_spec(**overrides))).id
    run_command(database, order_id, "approve")
    return order_id


def released_waiting_l1b_order(database: Database, identifier: str) -> int:
    """An L1B order for orbit 3 (80 % of its L0, below MINCOVER(90)), planned and released:
    its one job step waits for input."""
    order_id = approved_tst_order(
        database,
        identifier=identifier,
        requested_product_classes=["L1B_______"],
        orbits=[{"spacecraft": "TST1", "from": 3, "to": 3}],
    )
    run_plan(database, order_id)
    _, counts = run_command(database, order_id, "release")
    assert counts == {"READY": 0, "WAITING_INPUT": 1}
    return order_id


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "[postgresql" not in report.nodeid:
        return
    if report.when == "call" and report.passed:
        _pg_outcomes["passed"] += 1
    elif report.failed:
        _pg_outcomes["failed"] += 1
    elif report.skipped:
        _pg_outcomes["skipped"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_sep("-", "PostgreSQL half")
    source = (
        "PROSEO_TEST_DATABASE_URL"
        if os.environ.get("PROSEO_TEST_DATABASE_URL")
        else ("private throwaway cluster")
    )
    terminalreporter.write_line(
        f"PostgreSQL tests ({source}): {_pg_outcomes['passed']} passed, "
        f"{_pg_outcomes['failed']} failed, {_pg_outcomes['skipped']} skipped"
    )
    if os.environ.get("PROSEO_REQUIRE_POSTGRES") == "1" and (
        _pg_outcomes["passed"] == 0 or _pg_outcomes["skipped"]
    ):
        terminalreporter.write_line(
            "PROSEO_REQUIRE_POSTGRES=1: the PostgreSQL half must run and pass; failing the run",
            red=True,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    required = os.environ.get("PROSEO_REQUIRE_POSTGRES") == "1"
    if required and exitstatus == 0 and _pg_outcomes["passed"] == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if required and _pg_outcomes["skipped"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


LOCAL_PROCESSES = 8  # the tests' local process cap, whatever the machine's CPU count


def settings_for(tmp_path: Path, database: Database) -> Settings:
    """Settings on ``database`` with a data directory under ``tmp_path`` and a local process
    cap of :data:`LOCAL_PROCESSES`."""
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database.engine.url.render_as_string(hide_password=False),
        executor={"max_parallel": LOCAL_PROCESSES},
    )


class FailingStorage(PosixStorage):
    """POSIX storage whose ``fail_at``-th put (counted from 1) fails with a StorageError, as
    a full disk would."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at = fail_at
        self.calls = 0

    def put(self, local_path: Path, key: str) -> StoredFile:
        """Store, or fail on the ``fail_at``-th call."""
        self.calls += 1
        if self.calls == self.fail_at:
            raise StorageError("disk full (injected)")
        return super().put(local_path, key)


def store_catalogued_files(database: Database, settings: Settings) -> None:
    """Put a real file in storage for every catalogued product file (the TST fixture only
    catalogues them)."""
    storage = storage_of_facility(database, settings)
    source = settings.data_dir / "input.dat"
    source.parent.mkdir(parents=True, exist_ok=True)
    with database.transaction() as session:
        for folder, name in session.execute(
            select(ProductFile.file_path, ProductFile.product_file_name)
        ):
            source.write_text(f"{folder}/{name}\n")
            storage.put(source, f"{folder}/{name}")


@pytest.fixture
def tst_settings(tmp_path: Path, tst: Database) -> Settings:
    """Settings on the TST database with a data directory under ``tmp_path``, and a real file
    in storage for every product file the TST fixture catalogued."""
    settings = settings_for(tmp_path, tst)
    store_catalogued_files(tst, settings)
    return settings


TEST_PASSWORD = "correct horse battery staple"


def add_user(
    database: Database,
    username: str,
    roles: Iterable[str],
    *,
    mission: str | None = "TST",
    password: str = TEST_PASSWORD,
) -> str:
    """A user of ``mission`` with ``roles`` (names), and a new API token of it (returned)."""
    from proseo.config import SecuritySettings
    from proseo.security.accounts import create_token, create_user, parse_roles

    with database.transaction() as session:
        user = create_user(
            session,
            username,
            password,
            SecuritySettings(),
            mission=mission,
            roles=parse_roles(roles),
        )
        session.flush()
        return create_token(session, user, "test", 1)[1]


def api_client(app: Any, token: str | None = None) -> Any:
    """A FastAPI test client on the versioned prefix, sending ``token`` as bearer."""
    from fastapi.testclient import TestClient

    from proseo.api.app import API_PREFIX

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, base_url=f"http://testserver{API_PREFIX}", headers=headers)
