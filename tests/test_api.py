"""The REST API drives an order through its life, on both databases (FastAPI TestClient)."""

from __future__ import annotations

from proseo.api.app import create_app
from proseo.config import load_settings
from proseo.db import Database
from tests.conftest import add_user, api_client, tst_order_spec


def test_order_through_the_rest_api(tst: Database) -> None:
    token = add_user(
        tst, "operator", ["MISSION_READER", "ORDER_MGR", "ORDER_READER", "ORDER_PLANNER"]
    )
    approver = add_user(tst, "approver", ["ORDER_APPROVER", "ORDER_READER"])
    app = create_app(load_settings(), database=tst)
    client = api_client(app, token)
    assert [m["code"] for m in client.get("/missions").json()] == ["TST"]
    spec = tst_order_spec(identifier="API-1")
    created = client.post("/orders", json=spec)
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    assert created.json()["state"] == "INITIAL"

    refused = client.post(f"/orders/{order_id}/release")
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "CommandNotAllowed"
    assert "release needs state PLANNED" in body["message"]

    assert client.post(f"/orders/{order_id}/approve").status_code == 403  # its creator
    approved = api_client(app, approver).post(f"/orders/{order_id}/approve")
    assert approved.json()["state"] == "APPROVED"
    dry = client.post(f"/orders/{order_id}/plan", params={"dry_run": True}).json()
    assert (dry["dry_run"], dry["job_steps"]) == (True, 4)
    assert client.get(f"/orders/{order_id}").json()["state"] == "APPROVED"
    planned = client.post(f"/orders/{order_id}/plan").json()
    assert planned["steps_per_class"] == {"L1B_______": 2, "L2________": 2}
    released = client.post(f"/orders/{order_id}/release").json()
    assert released["state"] == "RELEASED"
    assert released["result"] == {"READY": 2, "WAITING_INPUT": 2}
    view = client.get(f"/orders/{order_id}").json()
    assert view["steps_by_state"] == {"READY": 2, "WAITING_INPUT": 2}
    step = client.get(f"/jobsteps/{view['job_steps_detail'][0]['id']}").json()
    assert {i["product_type"] for i in step["inputs"]} == {"L0________", "AUX_ORB___"}

    bad = client.post(
        "/orders", json={**spec, "identifier": "API-2", "requested_product_classes": ["NOPE"]}
    )
    assert bad.status_code == 422
    assert bad.json()["details"]["field"] == "requested_product_classes"
    assert "'NOPE'" in bad.json()["message"]
    duplicate = client.post("/orders", json=spec)
    assert duplicate.status_code == 409
    assert client.get("/orders/999").status_code == 404
    schemes = app.openapi()["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"basic", "bearer"}
