"""The operator web GUI in process (both databases): login and sessions, CSRF, roles, every
page, order creation and actions through the same services as the API. The browser tests
(``tests/test_gui_browser.py``) drive a real server in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from orderman.service import run_command, run_plan
from proseo.config import Settings
from proseo.db import Database
from proseo.gui.app import create_web_app
from proseo.gui.session import SESSION_COOKIE
from proseo.model import ApiToken
from tests.conftest import TEST_PASSWORD, add_user, approved_tst_order

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

OPERATOR_ROLES = [
    "ORDER_READER",
    "ORDER_MGR",
    "ORDER_PLANNER",
    "PRODUCT_READER",
    "MISSION_READER",
    "PROCESSOR_READER",
    "FACILITY_READER",
]


def _client(settings: Settings, database: Database) -> TestClient:
    return TestClient(create_web_app(settings, database), follow_redirects=False)


def _log_in(client: TestClient, username: str, password: str = TEST_PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def test_login_session_cookie_and_logout(tst_settings: Settings, tst: Database) -> None:
    add_user(tst, "operator", OPERATOR_ROLES)
    client = _client(tst_settings, tst)
    first = client.get("/orders?state=RUNNING")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Forders%3Fstate%3DRUNNING"

    # a wrong password is refused on the form, and the form's own CSRF check holds
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    wrong = client.post(
        "/login", data={"username": "operator", "password": "nope", "csrf_token": token.group(1)}
    )
    assert wrong.status_code == 401
    assert "wrong user name or password" in wrong.text or "refused" in wrong.text
    forged = client.post(
        "/login", data={"username": "operator", "password": TEST_PASSWORD, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in client.cookies

    form = client.get("/login?next=/orders")
    token = CSRF.search(form.text)
    assert token is not None
    good = client.post(
        "/login",
        data={
            "username": "operator",
            "password": TEST_PASSWORD,
            "csrf_token": token.group(1),
            "next": "/orders",
        },
    )
    assert good.status_code == 303
    assert good.headers["location"] == "/orders"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("Strict", "strict")
    with tst.transaction() as session:
        sessions = session.query(ApiToken).filter(ApiToken.name == "web session").all()
        assert len(sessions) == 1
        assert sessions[0].revoked_at is None

    page = client.get("/")
    assert page.status_code == 200
    assert "operator" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    # an open redirect through next= is not possible
    assert client.get("/login?next=//evil.example/").text.count("//evil") == 0

    out = client.post("/logout", data={"csrf_token": csrf.group(1)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    with tst.transaction() as session:
        assert session.query(ApiToken).filter(ApiToken.name == "web session").one().revoked_at
    # the old cookie is worth nothing any more
    client.cookies.set(SESSION_COOKIE, good.cookies[SESSION_COOKIE])
    assert client.get("/").status_code == 303


def test_every_page_renders(tst_settings: Settings, tst: Database) -> None:
    add_user(tst, "operator", [*OPERATOR_ROLES, "ORDER_APPROVER", "USERMGR"])
    order_id = approved_tst_order(tst)
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    client = _client(tst_settings, tst)
    _log_in(client, "operator")
    with tst.transaction() as session:
        from sqlalchemy import select

        from proseo.model import JobStep, Product

        step_id = session.scalars(select(JobStep.id).order_by(JobStep.id)).first()
        product_id = session.scalars(
            select(Product.id).where(Product.job_step_id.is_(None)).order_by(Product.id)
        ).first()
    pages = [
        "/",
        "/dashboard/live",
        "/orders",
        "/orders?state=RELEASED&product_class=L2________&identifier=or",
        "/orders/new",
        f"/orders/{order_id}",
        f"/orders/{order_id}/live",
        f"/jobsteps/{step_id}",
        f"/jobsteps/{step_id}/log",
        "/products",
        "/products?product_class=L0________&sensing_from=2024-01-01T00:00Z&orbit=1",
        f"/products/{product_id}",
        "/missions",
        "/missions/TST",
        "/missions/TST/classes/L1B_______",
        "/processors",
        "/facilities",
        "/templates",
        "/triggers",
        "/campaigns",
        "/users",
    ]
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
    order = client.get(f"/orders/{order_id}").text
    # the plan's graph: L2 <- L1B <- L0 (+ AUX from the catalogue)
    assert 'data-class="L2________"' in order
    assert 'data-class="L1B_______"' in order
    assert 'data-class="L0________"' in order
    assert order.index('data-class="L0________"') < order.index('data-class="L1B_______"')
    assert order.index('data-class="L1B_______"') < order.index('data-class="L2________"')
    # released: the actions a planner may take now, no others
    assert 'data-action="suspend"' in order
    assert 'data-action="approve"' not in order
    assert 'data-action="release"' not in order

    def listed_states(page: str) -> set[str]:
        table = page[page.index('id="job-steps"') :]
        table = table[: table.index("</table>")]
        return set(re.findall(r'class="state state-(\w+)"', table))

    assert listed_states(order) == {"READY", "WAITING_INPUT"}  # L1B ready, L2 waits for it
    assert listed_states(client.get(f"/orders/{order_id}?step_state=READY").text) == {"READY"}
    assert client.get(f"/orders/{order_id}?step_state=BOGUS").status_code == 422
    assert client.get(f"/orders/{order_id}?steps_from=-1").status_code == 422
    assert client.get("/orders?state=BOGUS").status_code == 422
    assert "sensing_from" in client.get("/products?sensing_from=yesterday").text
    assert client.get("/orders/999999").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert "text/html" in client.get("/no/such/page").headers["content-type"]
    # the API keeps its JSON errors beside the GUI
    api = client.get("/api/v1/orders")
    assert api.status_code == 401
    assert api.json()["error"] == "AuthenticationError"
    static = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert static.status_code == 200
    assert len(static.content) > 10_000


def _form_post(client: TestClient, path: str, csrf: str | None, **data: Any) -> Any:
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(path, data=data)


def test_order_from_the_form_and_its_actions(tst_settings: Settings, tst: Database) -> None:
    add_user(tst, "manager", [*OPERATOR_ROLES])
    add_user(tst, "approver", ["ORDER_READER", "ORDER_APPROVER"])
    manager = _client(tst_settings, tst)
    csrf = _log_in(manager, "manager")

    # bad input: the form comes back naming the field and value; nothing is stored
    bad = _form_post(
        manager,
        "/orders/new",
        csrf,
        mission="TST",
        identifier="GUI-1",
        requested_product_classes="L2________",
        slicing_type="ORBIT",
        start_time="not a time",
    )
    assert bad.status_code == 422
    assert "start_time" in bad.text
    assert "not a time" in bad.text
    assert 'value="GUI-1"' in bad.text  # the operator's input is kept
    unknown = _form_post(
        manager,
        "/orders/new",
        csrf,
        mission="TST",
        identifier="GUI-1",
        requested_product_classes="NOPE",
        spacecraft="TST1",
        orbit_from="1",
        orbit_to="2",
        slicing_type="ORBIT",
    )
    assert unknown.status_code == 422
    assert "NOPE" in unknown.text
    with tst.transaction() as session:
        from proseo.model import ProcessingOrder

        assert session.query(ProcessingOrder).count() == 0

    made = _form_post(
        manager,
        "/orders/new",
        csrf,
        mission="TST",
        identifier="GUI-1",
        requested_product_classes="L2________",
        spacecraft="TST1",
        orbit_from="1",
        orbit_to="2",
        slicing_type="ORBIT",
        processing_mode="OPER",
    )
    assert made.status_code == 303, made.text
    order_path = made.headers["location"]
    order_id = int(order_path.rsplit("/", 1)[1])
    page = manager.get(order_path).text
    assert "created (INITIAL)" in page  # the flash message
    assert 'data-action="approve"' not in page  # a manager cannot approve
    assert 'data-action="delete"' in page

    # the approver approves (separation of duties: not the creator)
    approver = _client(tst_settings, tst)
    approver_csrf = _log_in(approver, "approver")
    done = _form_post(approver, f"/orders/{order_id}/action/approve", approver_csrf)
    assert done.status_code == 303
    assert "APPROVED" in approver.get(order_path).text
    # the approver may not plan: refused with 403, nothing changes
    refused = _form_post(approver, f"/orders/{order_id}/action/plan", approver_csrf)
    assert refused.status_code == 403
    assert "ORDER_PLANNER" in refused.text

    # the preview writes nothing; planning then release
    preview = _form_post(manager, f"/orders/{order_id}/preview", csrf)
    assert preview.status_code == 200
    assert "Dry run" in preview.text
    assert re.search(r"<strong>4</strong> job steps", preview.text), preview.text
    assert "APPROVED" in manager.get(f"/orders/{order_id}/live").text
    _form_post(manager, f"/orders/{order_id}/action/plan", csrf)
    assert "PLANNED" in manager.get(f"/orders/{order_id}/live").text
    # a command the state does not allow is refused with its reason on the page
    again = _form_post(manager, f"/orders/{order_id}/action/approve", csrf)
    assert again.status_code in (303, 403)
    released = _form_post(manager, f"/orders/{order_id}/action/release", csrf)
    assert released.status_code == 303
    assert "RELEASED" in manager.get(f"/orders/{order_id}/live").text


def test_csrf_and_read_only_users(tst_settings: Settings, tst: Database) -> None:
    add_user(tst, "reader", ["ORDER_READER", "PRODUCT_READER", "MISSION_READER"])
    add_user(tst, "planner", ["ORDER_READER", "ORDER_PLANNER", "ORDER_MGR"])
    order_id = approved_tst_order(tst)
    reader = _client(tst_settings, tst)
    reader_csrf = _log_in(reader, "reader")
    page = reader.get(f"/orders/{order_id}").text
    assert "data-action" not in page
    assert 'id="preview"' not in page
    assert 'id="new-order"' not in reader.get("/orders").text
    for path in (f"/orders/{order_id}/action/plan", f"/orders/{order_id}/preview"):
        answer = _form_post(reader, path, reader_csrf)
        assert answer.status_code == 403, path
        assert "ORDER_PLANNER" in answer.text
    assert _form_post(reader, "/orders/new", reader_csrf, mission="TST").status_code == 403
    assert reader.get("/users").status_code == 403

    planner = _client(tst_settings, tst)
    planner_csrf = _log_in(planner, "planner")
    # without the CSRF token (or with another session's) the form is refused, nothing runs
    for token in (None, "0" * 64, reader_csrf):
        answer = _form_post(planner, f"/orders/{order_id}/action/plan", token)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    assert "APPROVED" in planner.get(f"/orders/{order_id}/live").text
    # the header htmx sends is accepted as well
    answer = planner.post(f"/orders/{order_id}/preview", headers={"X-CSRF-Token": planner_csrf})
    assert answer.status_code == 200
    assert "Dry run" in answer.text


def test_dashboard_counts_and_failures(tst_settings: Settings, tst: Database) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from proseo.enums import JobStepState
    from proseo.model import JobStep
    from proseo.model.base import utc_now

    add_user(tst, "operator", OPERATOR_ROLES)
    order_id = approved_tst_order(tst)
    run_plan(tst, order_id)
    run_command(tst, order_id, "release")
    now = utc_now()
    with tst.transaction() as session:
        steps = session.scalars(select(JobStep).order_by(JobStep.id)).all()
        failed, done, held, retried = steps[0], steps[1], steps[2], steps[3]
        held.state, held.transient_failures = JobStepState.READY, 2
        held.not_before = now + timedelta(minutes=10)  # requeued after a storage outage
        retried.state, retried.transient_failures = JobStepState.RUNNING, 3
        failed.state = JobStepState.FAILED
        failed.processing_start_time = now - timedelta(minutes=10)
        failed.processing_completion_time = now - timedelta(minutes=5)
        failed.exit_code = 7
        done.state = JobStepState.COMPLETED
        done.processing_start_time = now - timedelta(hours=3, minutes=1)
        done.processing_completion_time = now - timedelta(hours=3)
    client = _client(tst_settings, tst)
    _log_in(client, "operator")
    live = client.get("/dashboard/live").text
    assert f'<a href="/jobsteps/{failed.id}">' in live
    assert ">7</td>" in live  # the exit code
    cells = dict(re.findall(r'data-facility="[^"]+" data-state="(\w+)">(\d+)<', live))
    assert cells["FAILED"] == "1"
    assert 'data-held-back="1"' in live
    assert "1 (requeued up to 3&times;)" in live
    page = client.get("/").text
    series = re.search(r"data-series='([^']+)'", page)
    assert series is not None
    import json

    day = json.loads(series.group(1))
    assert len(day["labels"]) in (24, 25)
    assert sum(day["completed"]) == 1
    assert sum(day["failed"]) == 1
    assert 60.0 in day["run_s"]


def test_gui_pages_of_another_mission_are_refused(tst_settings: Settings, tst: Database) -> None:
    from proseo.model import Mission

    with tst.transaction() as session:
        session.add(Mission(code="OTH", name="Other mission"))
    add_user(tst, "other", ["ORDER_READER", "PRODUCT_READER", "MISSION_READER"], mission="OTH")
    order_id = approved_tst_order(tst)
    client = _client(tst_settings, tst)
    _log_in(client, "other")
    assert client.get(f"/orders/{order_id}").status_code == 403
    assert client.get("/orders?mission=TST").status_code == 403
    assert f'data-order="{order_id}"' not in client.get("/orders").text
    assert client.get("/missions/TST").status_code == 403
    assert "TST" not in re.sub(r"<nav.*?</nav>", "", client.get("/missions").text, flags=re.S)


def test_every_gui_route_needs_a_session(tmp_path: Path) -> None:
    """Each page and action declares the session dependency (an action: the CSRF-checked
    form, which needs the session too); only the login form and its POST are open."""
    from fastapi.routing import APIRoute

    from proseo.api.routes import API_PREFIX
    from proseo.config import load_settings
    from proseo.gui.session import checked_form, web_user

    def needs(dependant: Any) -> set[Any]:
        found = {d.call for d in dependant.dependencies}
        for d in dependant.dependencies:
            found |= needs(d)
        return found

    app = create_web_app(load_settings(data_dir=tmp_path))
    pages = [
        r
        for router in app.state.gui_routers
        for r in router.routes
        if isinstance(r, APIRoute) and not r.path.startswith(API_PREFIX)
    ]
    assert len(pages) >= 25
    open_routes = sorted(
        f"{sorted(r.methods or ())[0]} {r.path}"
        for r in pages
        if web_user not in needs(r.dependant)
    )
    assert open_routes == ["GET /login", "POST /login"]
    posts = [r for r in pages if "POST" in (r.methods or ()) and r.path != "/login"]
    assert posts
    assert [r.path for r in posts if checked_form not in needs(r.dependant)] == []
