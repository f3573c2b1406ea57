"""Systematic production end to end, on SQLite and PostgreSQL: nobody types an order command.

A real ``proseo serve`` watches a pickup folder, runs the triggers and the dispatcher (local
processes). TST L0 granules of orbits 1-15 (all of 2024-01-01) are dropped into the folder
orbit by orbit; a data-driven trigger makes an L2 order per granule over its orbit (the
first of an orbit plans L1B and L2, the four others find them in production), and a calendar
trigger (at 02:00, for the previous day; its occurrence of 2024-01-02 is made up at once)
makes the daily L3 from those L2 (its template stops at L2), which waits for them. Half-way
the server is killed with SIGKILL and started again. At the end every order is COMPLETED,
there is one order per trigger occurrence, every L1B, L2 and L3 product exists once with its
file, and the TST processor ran once per product (its run log).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from missions.testmission import build_definition as build_tst_definition
from missions.testmission.sample_data import write_sample_data
from proseo.catalogue.sync import sync_mission
from proseo.db import Database
from proseo.enums import OrderState
from proseo.model import (
    ProcessingOrder,
    TriggerOccurrence,
)
from tests.books import made_products
from tests.servers import serve_database, stop_server

ORBITS = 15  # TST orbits of 2024-01-01 (orbit 15 starts at 23:20)


def _cli(database: Database, data_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "proseo"),
            "--database-url",
            database.engine.url.render_as_string(hide_password=False),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PROSEO_LOCAL": "1"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def _setup(database: Database, data_dir: Path, run_log: Path, folder: Path) -> None:
    """The operator's part, once: templates and triggers (through the CLI)."""
    common = {"mission": "TST", "processing_mode": "OPER", "auto_release": True}
    parameters = {"dynamic_processing_parameters": {"tstRunLog": str(run_log)}}
    files = {
        "l2.json": {
            **common,
            **parameters,
            "name": "L2-NRT",
            "requested_product_classes": ["L2________"],
            "slicing_type": "ORBIT",
        },
        "l3.json": {
            **common,
            **parameters,
            "name": "L3-DAILY",
            "requested_product_classes": ["L3________"],
            "slicing_type": "CALENDAR_DAY",
            # the daily L3 is made of the near-real-time L2 (it never makes its own)
            "input_product_classes": ["L2________"],
        },
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))
        _cli(database, data_dir, "template", "create", "--file", str(folder / name))
    _cli(
        database, data_dir, "trigger", "create", "ON-L0", "-m", "TST", "--kind", "DATA_DRIVEN",
        "--template", "L2-NRT", "--product-type", "L0________", "--settings",
        '{"window": "orbit"}',
    )  # fmt: skip
    _cli(
        database, data_dir, "trigger", "create", "DAILY-L3", "-m", "TST", "--kind", "CALENDAR",
        "--template", "L3-DAILY", "--cron", "0 2 * * *", "--period", "day", "--settings",
        '{"start": "2024-01-02T00:00:00Z", "stop": "2024-01-02T12:00:00Z"}',
    )  # fmt: skip
    shown = _cli(database, data_dir, "trigger", "preview", "DAILY-L3", "-m", "TST")
    assert shown.startswith("pending  time:2024-01-02T02:00:00Z"), shown
    assert "2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z  -> DAILY-L3-20240102T020000Z" in shown


def _state(database: Database) -> tuple[int, Counter[OrderState]]:
    with database.transaction() as session:
        states = Counter(dict(session.execute(
            select(ProcessingOrder.state, func.count()).group_by(ProcessingOrder.state)
        ).all()))  # fmt: skip
    return sum(states.values()), states


def test_a_mission_runs_by_itself_through_a_sigkill(database: Database, tmp_path: Path) -> None:
    with database.transaction() as session:
        sync_mission(session, build_tst_definition())
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run_log = tmp_path / "runs.log"
    _setup(database, data_dir, run_log, tmp_path)
    staging, pickup = tmp_path / "staging", tmp_path / "pickup"
    pickup.mkdir()
    inputs = sorted(write_sample_data(staging, 1, ORBITS))
    aux = [p for p in inputs if "AUX_ORB" in p.name]
    granules = [p for p in inputs if "L0____" in p.name]
    options = (
        "--pickup", str(pickup), "--pickup-interval", "0.3", "--dispatch-interval", "0.5",
        "--trigger-interval", "0.5", "--sweep-interval", "5",
    )  # fmt: skip
    server, _ = serve_database(database, data_dir, *options)
    try:
        for path in aux:
            shutil.move(path, pickup / path.name)
        for orbit in range(ORBITS):
            for path in granules[orbit * 5 : (orbit + 1) * 5]:
                shutil.move(path, pickup / path.name)
            time.sleep(0.4)
            if orbit == ORBITS // 2:  # in the middle of it all: kill -9, start again
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=30)
                (data_dir / "serve.log").rename(data_dir / "serve-killed.log")
                server, _ = serve_database(database, data_dir, *options)
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            total, states = _state(database)
            if total == 5 * ORBITS + 1 and states[OrderState.COMPLETED] == total:
                break
            time.sleep(1)
    finally:
        stop_server(server)
    log = (data_dir / "serve.log").read_text()
    total, states = _state(database)
    assert (total, dict(states)) == (5 * ORBITS + 1, {OrderState.COMPLETED: total}), log[-3000:]
    with database.transaction() as session:
        occurrences = session.scalar(select(func.count(TriggerOccurrence.id)))
        by_creator = Counter(session.scalars(select(ProcessingOrder.created_by)).all())
    made = made_products(database)
    assert occurrences == total  # one order per occurrence, none twice
    assert by_creator == {"trigger:ON-L0": 5 * ORBITS, "trigger:DAILY-L3": 1}
    per_class = Counter(product_type for product_type, _, _ in made)
    assert per_class == {"L1B_______": ORBITS, "L2________": ORBITS, "L3________": 1}
    assert max(made.values()) == 1  # no product made twice
    runs = Counter(run_log.read_text().split())
    assert len(runs) == 2 * ORBITS + 1
    assert max(runs.values()) == 1, runs.most_common(3)  # no processor ran twice


def test_a_campaign_survives_a_sigkill_of_the_server(database: Database, tmp_path: Path) -> None:
    """A campaign over TST orbits 1-6, a batch an orbit, two job steps in flight at most, run
    by ``proseo serve``; the server is killed with SIGKILL after the second batch was ordered
    and started again. Every batch is ordered once and every product made once."""
    from proseo.enums import CampaignState
    from proseo.model import Campaign, CampaignBatch

    with database.transaction() as session:
        sync_mission(session, build_tst_definition())
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run_log = tmp_path / "runs.log"
    write_sample_data(tmp_path / "inputs", 1, 6)
    _cli(database, data_dir, "ingest", str(tmp_path / "inputs"))
    template = {
        "mission": "TST", "name": "L2-RPRO", "requested_product_classes": ["L2________"],
        "slicing_type": "ORBIT", "processing_mode": "OPER", "file_class": "TEST",
        "dynamic_processing_parameters": {"tstRunLog": str(run_log), "tstSleepSeconds": "0.3"},
    }  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps(template))
    _cli(database, data_dir, "template", "create", "--file", str(tmp_path / "t.json"))
    _cli(
        database, data_dir, "campaign", "create", "RPRO", "-m", "TST", "--template", "L2-RPRO",
        "--orbits", "TST1:1-6", "--batch-unit", "ORBITS", "--max-in-flight", "2",
    )  # fmt: skip
    _cli(database, data_dir, "campaign", "start", "RPRO", "-m", "TST")
    options = ("--dispatch-interval", "0.3", "--trigger-interval", "0.3", "--sweep-interval", "5")
    server, _ = serve_database(database, data_dir, *options)

    def ordered() -> int:
        with database.transaction() as session:
            return len(
                session.scalars(
                    select(CampaignBatch.id).where(CampaignBatch.processing_order_id.is_not(None))
                ).all()
            )

    def state() -> CampaignState:
        with database.transaction() as session:
            return session.scalars(select(Campaign.state)).one()

    try:
        deadline = time.monotonic() + 120
        while ordered() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server, _ = serve_database(database, data_dir, *options)
        deadline = time.monotonic() + 300
        while state() is not CampaignState.COMPLETED and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop_server(server)
    assert state() is CampaignState.COMPLETED, (data_dir / "serve.log").read_text()[-3000:]
    with database.transaction() as session:
        identifiers = session.scalars(select(ProcessingOrder.identifier)).all()
    made = made_products(database)
    assert sorted(identifiers) == [f"RPRO-{n:05d}" for n in range(1, 7)]
    assert Counter(t for t, _, _ in made) == {"L1B_______": 6, "L2________": 6}
    assert max(made.values()) == 1
    runs = Counter(run_log.read_text().split())
    assert (len(runs), max(runs.values())) == (12, 1)
