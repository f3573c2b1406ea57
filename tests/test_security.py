"""The secured service: every route declares a role; route x role x own/other mission is
allowed or refused as declared; passwords, lockout, tokens, separation of duties, actors,
product visibility, unverified ingestion and the upload limit; on both databases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select

from orderman.campaigns import create_campaign, parse_campaign_spec
from orderman.orders import create_order, parse_order_spec
from orderman.templates import create_template, parse_template_spec
from orderman.triggers import create_trigger, parse_trigger_spec
from proseo.api.app import API_PREFIX, api_routes, create_app
from proseo.api.auth import PUBLIC, RoleCheck
from proseo.cli.app import run
from proseo.config import SecuritySettings, load_settings
from proseo.db import Database
from proseo.enums import StatefulEntity, UserRole, Visibility
from proseo.errors import AuthenticationError
from proseo.model import (
    ApiToken,
    Job,
    JobStep,
    Mission,
    ProcessingOrder,
    Product,
    ProductClass,
    StateHistory,
    User,
)
from proseo.model.base import utc_now
from proseo.security.accounts import authenticate_password, create_user
from proseo.security.principal import IMPLIED
from tests.conftest import TEST_PASSWORD, TST_ORBIT, TST_T0, add_user, api_client, tst_order_spec
from tests.servers import serve_database, stop_server


def _role_checks(dependant: Any) -> list[RoleCheck]:
    found = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleCheck):
            found.append(dependency.call)
        found.extend(_role_checks(dependency))
    return found


def unprotected_routes(app: FastAPI) -> list[str]:
    """Routes of ``app`` that declare no role check (nor :data:`PUBLIC`), and routes the
    OpenAPI document lists that the walk does not reach (added around the routers)."""
    walked = api_routes(app)
    missing = [
        f"{sorted(route.methods or ())[0]} {path}"
        for path, route in walked
        if not _role_checks(route.dependant)
    ]
    reached = {(m.lower(), path) for path, route in walked for m in route.methods or ()}
    for path, operations in app.openapi()["paths"].items():
        missing.extend(
            f"{method.upper()} {path} (not walked)"
            for method in operations
            if (method, path) not in reached
        )
    return missing


def test_every_route_is_versioned_and_declares_a_role(tmp_path: Path) -> None:
    app = create_app(load_settings(data_dir=tmp_path))
    routes = api_routes(app)
    assert len(routes) >= 28
    assert [p for p in app.openapi()["paths"] if not p.startswith(API_PREFIX + "/")] == []
    assert unprotected_routes(app) == []
    public = [p for p, r in routes if PUBLIC in [d.call for d in r.dependant.dependencies]]
    assert public == [f"{API_PREFIX}/health"]
    schemes = app.openapi()["components"]["securitySchemes"]
    assert sorted(s["scheme"] for s in schemes.values()) == ["basic", "bearer"]

    sneaky = create_app(load_settings(data_dir=tmp_path))

    @sneaky.get(f"{API_PREFIX}/around")
    def around() -> None:
        """A route added beside the routers: the check must find it."""

    forgetful = APIRouter()

    @forgetful.get("/forgotten")
    def forgotten() -> None:
        """A route someone adds without a role: the check must find it."""

    sneaky.state.routers.append(forgetful)
    sneaky.include_router(forgetful, prefix=API_PREFIX)
    assert unprotected_routes(sneaky) == [
        f"GET {API_PREFIX}/forgotten",
        f"GET {API_PREFIX}/around (not walked)",
    ]


@dataclass(frozen=True)
class Case:
    """One row of the matrix: a request on TST objects and the role it needs."""

    method: str
    path: str
    role: UserRole
    body: str | None = None
    listing: bool = False  # of the user's own mission: elsewhere it lists, without TST


def _matrix() -> list[Case]:
    R = UserRole  # noqa: N806  (read like a table)
    return [
        Case("GET", "/missions", R.MISSION_READER, listing=True),
        Case("GET", "/facilities", R.FACILITY_READER, listing=True),
        Case("GET", "/missions/TST", R.MISSION_READER),
        Case("GET", "/missions/TST/productclasses", R.PRODUCTCLASS_READER),
        Case("GET", "/missions/TST/productclasses/L2________", R.PRODUCTCLASS_READER),
        Case("GET", "/missions/TST/processors", R.PROCESSOR_READER),
        Case("GET", "/products?mission=TST", R.PRODUCT_READER),
        Case("GET", "/products/{product}", R.PRODUCT_READER),
        Case("DELETE", "/products/{product}", R.PRODUCT_MGR),  # 409: a planned step needs it
        Case("POST", "/orders", R.ORDER_MGR, "order"),
        Case("GET", "/orders?mission=TST", R.ORDER_READER),
        Case("GET", "/orders/{order}", R.ORDER_READER),
        Case("GET", "/orders/{order}/jobs", R.ORDER_READER),
        Case("GET", "/orders/{order}/products", R.ORDER_READER),
        Case("GET", "/jobsteps/{job_step}", R.ORDER_READER),
        Case("POST", "/orders/{approvable}/approve", R.ORDER_APPROVER),
        Case("POST", "/orders/{order}/plan?dry_run=true", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/suspend", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/cancel", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/retry", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/reset", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/release", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/resume", R.ORDER_PLANNER),
        Case("POST", "/orders/{order}/close", R.ORDER_PLANNER),
        Case("POST", "/ingest/batch", R.PRODUCT_INGESTOR, "batch"),
        Case("POST", "/ingest/TST", R.PRODUCT_INGESTOR, "upload"),
        Case("POST", "/orders/{order}/delete", R.ORDER_MGR),
        Case("GET", "/templates?mission=TST", R.ORDER_READER),
        Case("POST", "/templates", R.ORDER_MGR, "template"),
        Case("GET", "/templates/TST/TPL", R.ORDER_READER),
        Case("PUT", "/templates/TST/TPL", R.ORDER_MGR, "template-version"),
        Case("GET", "/triggers?mission=TST", R.ORDER_READER),
        Case("POST", "/triggers", R.ORDER_APPROVER, "trigger"),
        Case("GET", "/triggers/TST/TRG", R.ORDER_READER),
        Case("GET", "/triggers/TST/TRG/preview?next=2", R.ORDER_READER),
        Case("POST", "/triggers/TST/TRG/disable", R.ORDER_APPROVER),
        Case("POST", "/triggers/TST/TRG/enable", R.ORDER_APPROVER),
        Case("DELETE", "/triggers/TST/TRG", R.ORDER_APPROVER),
        Case("DELETE", "/templates/TST/TPL", R.ORDER_MGR),  # its trigger is gone by now
        Case("GET", "/campaigns?mission=TST", R.ORDER_READER),
        Case("POST", "/campaigns", R.ORDER_MGR, "campaign"),
        Case("GET", "/campaigns/TST/CMP", R.ORDER_READER),
        Case("POST", "/campaigns/TST/CMP/start", R.ORDER_APPROVER),
        Case("POST", "/campaigns/TST/CMP/pause", R.ORDER_PLANNER),
        Case("POST", "/campaigns/TST/CMP/resume", R.ORDER_PLANNER),
        Case("POST", "/campaigns/TST/CMP/retry", R.ORDER_PLANNER),
        Case("POST", "/campaigns/TST/CMP/cancel", R.ORDER_PLANNER),
        Case("POST", "/reprocess?dry_run=true", R.ORDER_MGR, "reprocess"),
        Case("POST", "/tokens", R.CLI_USER, "token", listing=True),
        Case("DELETE", "/tokens/{token}", R.CLI_USER),  # its own: the caller's last request
    ]


TEMPLATE = {
    "mission": "TST",
    "requested_product_classes": ["L2________"],
    "slicing_type": "ORBIT",
    "processing_mode": "OPER",
}
CAMPAIGN = {
    "mission": "TST",
    "settings": {k: v for k, v in TEMPLATE.items() if k != "mission"},
    "spacecraft": "TST1",
    "orbit_from": 1,
    "orbit_to": 2,
    "batch_unit": "ORBITS",
}
ROUTE_OF_CASE = {
    "/orders/{order_id}/plan": "/orders/{order}/plan?dry_run=true",
    "/reprocess": "/reprocess?dry_run=true",
}


def _call(client: Any, case: Case, ids: dict[str, int], tag: str) -> Any:
    path = case.path.format(**ids)
    if case.body == "order":
        return client.post(path, json=tst_order_spec(identifier=f"M-{tag}"))
    if case.body == "batch":
        entry = {
            "mission": "TST",
            "product_type": "L0________",
            "sensing_start": "2030-01-01T00:00:00Z",
            "sensing_stop": "2030-01-01T00:01:00Z",
            "files": [{"key": "absent/x.dat", "size_bytes": 1, "md5": "0" * 32}],
        }
        return client.post(path, json={"entries": [entry]})
    if case.body in ("template", "template-version"):
        if case.body == "template-version":  # the path names mission and template
            settings = {k: v for k, v in TEMPLATE.items() if k != "mission"}
            return client.put(path, json={**settings, "priority": 60})
        return client.post(path, json={**TEMPLATE, "name": f"T-{tag}"})
    if case.body == "reprocess":  # nothing depends on the processor: 422 for the holder
        return client.post(path, json={"mission": "TST", "after_processor": "TSTL2_1.10.0_1"})
    if case.body == "campaign":
        return client.post(path, json={**CAMPAIGN, "name": f"C-{tag}"})
    if case.body == "trigger":
        return client.post(
            path,
            json={
                "mission": "TST",
                "name": f"G-{tag}",
                "kind": "TIME_INTERVAL",
                "template": "TPL",
                "settings": {"interval_s": 3600},
            },
        )
    if case.body == "token":
        return client.post(path, json={"name": "matrix", "days": 1})
    if case.body == "upload":
        return client.post(path, data={"metadata": "{}"}, files=[("files", ("x.dat", b"x"))])
    return client.request(case.method, path)


@pytest.fixture
def matrix_world(tst: Database) -> tuple[FastAPI, dict[str, int]]:
    """TST with an order planned in it (created by someone else) and one awaiting approval,
    and a second mission OTH."""
    with tst.transaction() as session:
        session.add(Mission(code="OTH", name="Other mission"))
        order = create_order(session, parse_order_spec(tst_order_spec(identifier="SEEN")), "x")
        approvable = create_order(
            session, parse_order_spec(tst_order_spec(identifier="APPROVABLE")), "x"
        )
        session.flush()
        ids = {"order": order.id, "approvable": approvable.id}
        create_template(session, parse_template_spec({**TEMPLATE, "name": "TPL"}), "x")
        create_campaign(session, parse_campaign_spec({**CAMPAIGN, "name": "CMP"}), "x")
        create_trigger(
            session,
            parse_trigger_spec(
                {
                    "mission": "TST",
                    "name": "TRG",
                    "kind": "CALENDAR",
                    "template": "TPL",
                    "settings": {"cron": "0 2 * * *"},
                }
            ),
            "x",
        )
    from orderman.service import run_command, run_plan

    run_command(tst, ids["order"], "approve", "y")
    run_plan(tst, ids["order"])
    with tst.transaction() as session:
        ids["job_step"] = (
            session.scalars(
                select(JobStep.id).join(Job).where(Job.processing_order_id == ids["order"])
            ).first()
            or 0
        )
        ids["product"] = session.scalars(select(Product.id)).first() or 0
    return create_app(load_settings(), database=tst), ids


def test_route_role_mission_matrix(
    matrix_world: tuple[FastAPI, dict[str, int]], tmp_path: Path
) -> None:
    """The matrix against a real ``proseo serve`` on the test database (over HTTP)."""
    app, ids = matrix_world
    database = app.state.database
    cases = _matrix()
    covered = {(c.method, c.path.split("?")[0]) for c in cases}
    for path, route in api_routes(app):
        if path != f"{API_PREFIX}/health":
            template = path.removeprefix(API_PREFIX)
            example = ROUTE_OF_CASE.get(template, template).split("?")[0]
            shaped = {
                (m, p)
                for m, p in covered
                if p.count("/") == example.count("/")
                and all(
                    a == b or a.startswith("{") or b.startswith("{")
                    for a, b in zip(p.split("/"), example.split("/"), strict=True)
                )
            }
            methods = route.methods or set()
            assert any(m in methods for m, _ in shaped), f"no matrix row for {template}"
    roles = sorted({c.role for c in cases})
    holder = {r: add_user(database, f"has-{r}", [r]) for r in roles}
    other = {r: add_user(database, f"oth-{r}", [r], mission="OTH") for r in roles}
    lacking = {
        r: add_user(
            database,
            f"lacks-{r}",
            [x for x in UserRole if x not in {r, UserRole.ROOT} and r not in IMPLIED.get(x, ())],
        )
        for r in roles
    }
    with database.transaction() as session:
        ids["token"] = session.scalars(
            select(ApiToken.id).join(User).where(User.username == f"has-{UserRole.CLI_USER}")
        ).one()
    server, base = serve_database(database, tmp_path / "data", "--sweep-interval", "0")

    def client(token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=base, headers=headers, timeout=60)

    try:
        _walk_matrix(cases, ids, client, lacking, other, holder)
    finally:
        stop_server(server)
    with database.transaction() as session:
        approved = session.get_one(ProcessingOrder, ids["approvable"])
        assert approved.approved_by == f"has-{UserRole.ORDER_APPROVER}"


def _walk_matrix(
    cases: list[Case],
    ids: dict[str, int],
    client: Any,
    lacking: dict[UserRole, str],
    other: dict[UserRole, str],
    holder: dict[UserRole, str],
) -> None:
    anonymous = client()
    for n, case in enumerate(cases):
        label = f"{case.method} {case.path}"
        assert _call(anonymous, case, ids, f"a{n}").status_code == 401, label
        refused = _call(client(lacking[case.role]), case, ids, f"l{n}")
        assert refused.status_code == 403, (label, refused.text)
        assert refused.json()["details"]["role"] == case.role.value, label
        elsewhere = _call(client(other[case.role]), case, ids, f"o{n}")
        if case.listing:
            assert elsewhere.status_code in (200, 201), (label, elsewhere.text)
            assert "TST" not in elsewhere.text, label
        else:
            assert elsewhere.status_code == 403, (label, elsewhere.text)
            assert elsewhere.json()["details"]["mission"] == "TST", label
        allowed = _call(client(holder[case.role]), case, ids, f"h{n}")
        assert allowed.status_code not in (401, 403), (label, allowed.text)
        assert allowed.status_code < 500, (label, allowed.text)


def test_missions_and_orders_of_other_missions_are_not_listed(
    matrix_world: tuple[FastAPI, dict[str, int]],
) -> None:
    app, _ = matrix_world
    database = app.state.database
    oth_token = add_user(database, "o", ["MISSION_READER", "ORDER_READER"], mission="OTH")
    oth = api_client(app, oth_token)
    assert [m["code"] for m in oth.get("/missions").json()] == ["OTH"]
    assert oth.get("/orders").json() == []
    root = api_client(app, add_user(database, "root", ["ROOT"], mission=None))
    assert [m["code"] for m in root.get("/missions").json()] == ["OTH", "TST"]
    assert len(root.get("/orders").json()) == 2


def test_password_lockout_expiry_and_hashing(database: Database) -> None:
    policy = SecuritySettings(max_failed_logins=3, lockout_s=3600, min_password_length=12)
    with database.transaction() as session:
        with pytest.raises(Exception, match="shorter than 12"):
            create_user(session, "short", "12345", policy, mission=None, roles=[UserRole.ROOT])
        create_user(session, "alice", TEST_PASSWORD, policy, mission=None, roles=[UserRole.ROOT])
    with database.transaction() as session:
        stored = session.scalars(select(User.password_hash)).one()
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert TEST_PASSWORD not in stored
    assert authenticate_password(database, "alice", TEST_PASSWORD, policy).is_root
    with pytest.raises(AuthenticationError) as unknown:
        authenticate_password(database, "nobody", TEST_PASSWORD, policy)
    for _ in range(3):
        with pytest.raises(AuthenticationError) as wrong:
            authenticate_password(database, "alice", "not the password", policy)
        assert wrong.value.message == unknown.value.message
    with pytest.raises(AuthenticationError):  # locked: even the right password is refused
        authenticate_password(database, "alice", TEST_PASSWORD, policy)
    with database.transaction() as session:
        user = session.scalars(select(User)).one()
        assert user.locked_until is not None
        user.locked_until = utc_now() - timedelta(seconds=1)
    assert authenticate_password(database, "alice", TEST_PASSWORD, policy).username == "alice"
    with database.transaction() as session:
        session.scalars(select(User)).one().password_expires_at = utc_now()
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_password(database, "alice", TEST_PASSWORD, policy)


def test_tokens_stored_hashed_expire_and_revoke(tst: Database) -> None:
    app = create_app(load_settings(), database=tst)
    token = add_user(tst, "script", ["MISSION_READER"])
    client = api_client(app, token)
    assert client.get("/missions").status_code == 200
    with tst.transaction() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert token not in (stored.token_digest, stored.prefix)
        assert stored.last_used_at is not None
        stored.expires_at = utc_now() - timedelta(seconds=1)
    expired = client.get("/missions")
    assert expired.status_code == 401
    assert "Bearer" in expired.headers["www-authenticate"]
    with tst.transaction() as session:
        stored = session.scalars(select(ApiToken)).one()
        stored.expires_at, stored.revoked_at = None, utc_now()
    assert client.get("/missions").status_code == 401
    basic = api_client(app)
    assert basic.get("/missions", auth=("script", TEST_PASSWORD)).status_code == 200
    assert basic.get("/missions", auth=("script", "wrong")).status_code == 401
    with tst.transaction() as session:
        session.scalars(select(User)).one().enabled = False
    assert basic.get("/missions", auth=("script", TEST_PASSWORD)).status_code == 401


def test_separation_of_duties_and_actors(tst: Database) -> None:
    app = create_app(load_settings(), database=tst)
    manager = add_user(tst, "manager", ["ORDER_MGR", "ORDER_APPROVER", "ORDER_PLANNER"])
    approver = add_user(tst, "approver", ["ORDER_APPROVER"])
    client = api_client(app, manager)
    order_id = client.post("/orders", json=tst_order_spec(identifier="SOD")).json()["id"]
    refused = client.post(f"/orders/{order_id}/approve")
    assert refused.status_code == 403
    assert "created order 'SOD'" in refused.json()["message"]
    assert api_client(app, approver).post(f"/orders/{order_id}/approve").status_code == 200
    assert client.post(f"/orders/{order_id}/plan").status_code == 200
    with tst.transaction() as session:
        order = session.get_one(ProcessingOrder, order_id)
        assert (order.created_by, order.approved_by) == ("manager", "approver")
        history = session.execute(
            select(StateHistory.to_state, StateHistory.changed_by)
            .where(
                StateHistory.entity_id == order_id,
                StateHistory.entity_type == StatefulEntity.PROCESSING_ORDER,
            )
            .order_by(StateHistory.id)
        ).all()
        assert ("APPROVED", "approver") in history
        assert ("PLANNED", "manager") in history
    assert run(["--database-url", tst.engine.url.render_as_string(hide_password=False),
                "mission", "set", "TST", "--self-approval"]) == 0  # fmt: skip
    second = client.post("/orders", json=tst_order_spec(identifier="SELF")).json()["id"]
    assert client.post(f"/orders/{second}/approve").status_code == 200


def test_product_visibility(tst: Database) -> None:
    app = create_app(load_settings(), database=tst)
    with tst.transaction() as session:
        classes = {pc.product_type: pc for pc in session.scalars(select(ProductClass))}
        classes["AUX_ORB___"].visibility = Visibility.RESTRICTED
        classes["L0________"].visibility = Visibility.INTERNAL
        aux = session.scalars(
            select(Product.id).where(Product.product_class_id == classes["AUX_ORB___"].id)
        ).one()
    seen: dict[str, Any] = {}
    for role in ("PRODUCT_READER", "PRODUCT_READER_RESTRICTED", "PRODUCT_READER_ALL"):
        client = api_client(app, add_user(tst, role.lower(), [role]))
        page = client.get("/products", params={"limit": 1000}).json()
        seen[role] = {p["product_type"] for p in page["products"]}
        seen[role + " aux"] = client.get(f"/products/{aux}").status_code
    assert seen["PRODUCT_READER"] == set()
    assert seen["PRODUCT_READER aux"] == 403
    assert seen["PRODUCT_READER_RESTRICTED"] == {"AUX_ORB___"}
    assert seen["PRODUCT_READER_RESTRICTED aux"] == 200
    assert seen["PRODUCT_READER_ALL"] == {"AUX_ORB___", "L0________"}


def test_unverified_batch_needs_generator_and_uploads_are_capped(
    tst: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=tmp_path, security={"max_upload_bytes": 10})
    app = create_app(settings, database=tst)
    entry = {
        "mission": "TST",
        "product_type": "L0________",
        "sensing_start": "2030-01-01T00:00:00Z",
        "sensing_stop": "2030-01-01T00:01:00Z",
        "files": [{"key": "TST/x/unverified.dat", "size_bytes": 1, "md5": "0" * 32}],
    }
    body = {"entries": [entry], "verify": False}
    ingestor = api_client(app, add_user(tst, "ingestor", ["PRODUCT_INGESTOR"]))
    refused = ingestor.post("/ingest/batch", json=body)
    assert refused.status_code == 403
    assert refused.json()["details"]["role"] == "PRODUCT_GENERATOR"
    generator = api_client(
        app, add_user(tst, "generator", ["PRODUCT_INGESTOR", "PRODUCT_GENERATOR"])
    )
    done = generator.post("/ingest/batch", json=body)
    assert done.status_code == 200, done.text
    with tst.transaction() as session:
        made = session.get_one(Product, done.json()["products"][0]["product_id"])
        assert made.ingested_by == "generator"
    start = TST_T0 + 60 * TST_ORBIT
    metadata = {
        "product_type": "L0________",
        "sensing_start": start.isoformat(),
        "sensing_stop": (start + TST_ORBIT / 5).isoformat(),
    }

    def no_spooling(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the upload went through Starlette's spooled form parsing")

    monkeypatch.setattr("starlette.requests.Request.form", no_spooling)
    no_metadata = ingestor.post("/ingest/TST", files=[("files", ("a.dat", b"x"))])
    assert no_metadata.status_code == 422
    assert no_metadata.json()["details"]["field"] == "metadata"
    twice = ingestor.post(
        "/ingest/TST",
        data={"metadata": json.dumps(metadata)},
        files=[("files", ("a.dat", b"x")), ("files", ("a.dat", b"y"))],
    )
    assert twice.status_code == 422
    assert "uploaded twice" in twice.json()["message"]
    big = ingestor.post(
        "/ingest/TST",
        data={"metadata": json.dumps(metadata)},
        files=[("files", ("big.dat", b"x" * 11))],
    )
    assert big.status_code == 413, big.text
    assert "upload limit of 10 bytes" in big.json()["message"]
    with tst.transaction() as session:
        assert session.scalar(select(Product.id).where(Product.sensing_start == start)) is None
