"""`proseo serve` as a real process on a free localhost port, driven over HTTP only; and
the readiness safety-net sweep."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from productionplanner.readiness import recheck_waiting_job_steps
from proseo.db import Database
from proseo.model import JobStep
from proseo.model.enums import JobStepState
from tests.conftest import (
    TST_ORBIT,
    TST_T0,
    add_product_with_file,
    released_waiting_l1b_order,
    tst_order_spec,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_server_drives_an_order_over_http(tst: Database, tmp_path: Path) -> None:
    port = _free_port()
    url = tst.engine.url.render_as_string(hide_password=False)
    proseo = str(Path(sys.executable).parent / "proseo")
    server = subprocess.Popen(
        [
            proseo,
            "--database-url",
            url,
            "--data-dir",
            str(tmp_path),
            "serve",
            "--port",
            str(port),
            "--sweep-interval",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/missions", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not come up")
        order = httpx.post(
            f"{base}/orders",
            json=tst_order_spec(
                identifier="HTTP-1", orbits=[{"spacecraft": "TST1", "from": 1, "to": 1}]
            ),
        ).json()
        order_id = order["id"]
        assert httpx.post(f"{base}/orders/{order_id}/approve").json()["state"] == "APPROVED"
        assert httpx.post(f"{base}/orders/{order_id}/plan").json()["job_steps"] == 2
        released = httpx.post(f"{base}/orders/{order_id}/release").json()
        assert released["result"] == {"READY": 1, "WAITING_INPUT": 1}
        shown = httpx.get(f"{base}/orders/{order_id}").json()
        assert shown["state"] == "RELEASED"
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_readiness_sweep_catches_inputs_that_arrived_without_an_event(tst: Database) -> None:
    released_waiting_l1b_order(tst, "SWEEP")
    start = TST_T0 + 2 * TST_ORBIT + 4 * TST_ORBIT / 5
    with tst.transaction() as session:  # catalogued behind the ingestor's back
        add_product_with_file(session, "L0________", start, start + TST_ORBIT / 5)
    with tst.transaction() as session:
        assert recheck_waiting_job_steps(session, None) == 1
    with tst.transaction() as session:
        assert session.scalars(select(JobStep.state)).all() == [JobStepState.READY]
