"""`proseo serve` as a real process on a free localhost port, driven over HTTP only; and
the readiness safety-net sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from planner.readiness import recheck_waiting_job_steps
from proseo.api.app import API_PREFIX
from proseo.config import Settings
from proseo.db import Database
from proseo.enums import JobStepState
from proseo.model import JobStep
from tests.conftest import (
    TEST_PASSWORD,
    TST_ORBIT,
    TST_T0,
    add_product_with_file,
    add_user,
    released_waiting_l1b_order,
    tst_order_spec,
)
from tests.servers import serve_database, stop_server


def test_server_watches_a_pickup_folder(tst: Database, tmp_path: Path) -> None:
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    add_user(tst, "reader", ["PRODUCT_READER"])
    server, base = serve_database(
        tst, tmp_path / "data", "--sweep-interval", "0", "--pickup", str(pickup),
        "--pickup-interval", "0.3",
    )  # fmt: skip
    try:
        start = TST_T0 + 40 * TST_ORBIT
        stop = start + TST_ORBIT / 5
        parts = ["TST", "OPER", "L0________", f"{start:%Y%m%dT%H%M%S}", f"{stop:%Y%m%dT%H%M%S}"]
        name = "_".join([*parts, "00041", f"{TST_T0:%Y%m%dT%H%M%S}"]) + ".dat"
        (pickup / name).write_bytes(b"granule")
        old = time.time() - 60
        os.utime(pickup / name, (old, old))
        deadline = time.monotonic() + 30
        while not (pickup / ".ingested" / name).exists():
            assert time.monotonic() < deadline, "the server did not pick the file up"
            time.sleep(0.2)
        page = httpx.get(
            f"{base}/products",
            params={"product_class": "L0________", "sensing_from": start.isoformat()},
            auth=("reader", TEST_PASSWORD),
        ).json()
        assert [p["file_name"] for p in page["products"]] == [name]
    finally:
        stop_server(server)


def test_server_drives_an_order_over_http(
    tst: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    """A whole order through HTTP only: create, approve, plan, release; the server's own
    dispatcher runs it to COMPLETED; products and job steps with logs are served."""
    operator = add_user(
        tst,
        "operator",
        ["ORDER_MGR", "ORDER_PLANNER", "ORDER_READER", "PRODUCT_READER"],
    )
    approver = add_user(tst, "approver", ["ORDER_APPROVER"])
    server, base = serve_database(
        tst, tst_settings.data_dir, "--sweep-interval", "0", "--dispatch-interval", "0.3"
    )
    ops = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {operator}"})
    try:
        assert httpx.get(f"{base}/orders").status_code == 401
        order = ops.post(
            "/orders",
            json=tst_order_spec(
                identifier="HTTP-1", orbits=[{"spacecraft": "TST1", "from": 1, "to": 1}]
            ),
        ).json()
        order_id = order["id"]
        assert ops.post(f"/orders/{order_id}/approve").status_code == 403
        approved = httpx.post(
            f"{base}/orders/{order_id}/approve", headers={"Authorization": f"Bearer {approver}"}
        )
        assert approved.json()["state"] == "APPROVED"
        assert ops.post(f"/orders/{order_id}/plan").json()["job_steps"] == 2
        released = ops.post(f"/orders/{order_id}/release").json()
        assert released["result"] == {"READY": 1, "WAITING_INPUT": 1}
        deadline = time.monotonic() + 60
        while (shown := ops.get(f"/orders/{order_id}").json())["state"] != "COMPLETED":
            assert time.monotonic() < deadline, shown
            time.sleep(0.2)
        assert [s["state"] for s in shown["job_steps_detail"]] == ["COMPLETED", "COMPLETED"]
        (job,) = ops.get(f"/orders/{order_id}/jobs").json()
        assert job["state"] == "COMPLETED"
        assert job["steps_by_state"] == {"COMPLETED": 2}
        assert job["orbit"] == 1
        made = ops.get(f"/orders/{order_id}/products").json()
        assert {p["product_type"] for p in made} == {
            "L1B_______",
            "L1B_RA____",
            "L1B_IR____",
            "L2________",
        }
        assert all(p["md5"] for p in made)
        step = shown["job_steps_detail"][1]
        detail = ops.get(f"/jobsteps/{step['id']}").json()
        assert "TST processor" in detail["log"]
        assert detail["exit_code"] == 0
        page = ops.get(
            "/products",
            params={"product_class": "L2________", "with_files": "true", "limit": 1},
        ).json()
        assert page["total"] == 1
        (l2,) = page["products"]
        product = ops.get(f"/products/{l2['id']}").json()
        assert product["files"][0]["md5"]
        assert {p["product_type"] for p in product["inputs"]} >= {"L1B_RA____"}
        refused = ops.get("/products", params={"limit": 0})
        assert refused.status_code == 422
        assert "limit" in refused.text
        assert httpx.get(base.removesuffix(API_PREFIX) + "/docs").status_code == 200
    finally:
        stop_server(server)


def test_readiness_sweep_catches_inputs_that_arrived_without_an_event(tst: Database) -> None:
    released_waiting_l1b_order(tst, "SWEEP")
    start = TST_T0 + 2 * TST_ORBIT + 4 * TST_ORBIT / 5
    with tst.transaction() as session:  # catalogued behind the ingestor's back
        add_product_with_file(session, "L0________", start, start + TST_ORBIT / 5)
    with tst.transaction() as session:
        assert recheck_waiting_job_steps(session, None) == 1
    with tst.transaction() as session:
        assert session.scalars(select(JobStep.state)).all() == [JobStepState.READY]
