"""The operator GUI in a real browser: Playwright driving Debian's Chromium against a real
``proseo serve`` (with its dispatcher) on a free port, on the real Landsat scenes.

An operator logs in, creates an L3 order from the form, an approver approves it, the operator
previews the plan, plans and releases it and watches it complete without reloading the page;
then opens the L3 product's lineage (both ways) and its quicklook. A read-only user sees no
action and gets 403 when posting anyway; a form without its CSRF token is refused.

Every page visited is saved as a PNG under ``build/gui-screenshots/<database>/`` (or
``$PROSEO_SCREENSHOT_DIR``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from missions.landsat.sample_data import fetch_sample_data
from proseo.cli.app import run
from proseo.db import Database
from tests.conftest import add_user
from tests.servers import serve_database, stop_server

CHROMIUM = Path(os.environ.get("PROSEO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
"""Chromium's switches on a machine with a closed network (see ../shared notes in the
operations guide, "Browser tests")."""

OPERATOR_ROLES = [
    "ORDER_READER",
    "ORDER_MGR",
    "ORDER_PLANNER",
    "PRODUCT_READER_ALL",
    "MISSION_READER",
    "PROCESSOR_READER",
    "FACILITY_READER",
    "USERMGR",
]
WINDOW = ("2001-01-01T00:00:00Z", "2014-01-01T00:00:00Z")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium through Playwright (Debian's; never a downloaded one)."""
    if not CHROMIUM.exists():
        if os.environ.get("PROSEO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Shots:
    """Numbered screenshots of the pages a test visits."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0

    def take(self, page: Any, name: str) -> None:
        """Save the whole page as ``NN-name.png``."""
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def _screenshot_folder(backend: str) -> Path:
    base = os.environ.get("PROSEO_SCREENSHOT_DIR")
    root = Path(base) if base else Path(__file__).resolve().parent.parent / "build"
    return root / "gui-screenshots" / backend


def _log_in(context: Any, root: str, username: str, shots: Shots | None = None) -> Any:
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{root}/orders")
    assert "/login?next=" in page.url
    if shots is not None:
        shots.take(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("#login")
    page.wait_for_url(f"{root}/orders")
    return page


def _state(page: Any) -> str:
    return str(page.text_content("#order-state"))


def _prepare(engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Database:
    url = engine.url.render_as_string(hide_password=False)
    base = ["--data-dir", str(tmp_path / "data"), "--database-url", url]

    def proseo(*args: str) -> None:
        code = run([*base, *args])
        out, err = capsys.readouterr()
        assert code == 0, f"proseo {' '.join(args)} -> {code}\n{out}\n{err}"

    proseo("db", "upgrade")
    proseo("mission", "sync", "LANDSAT")
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    for path in fetch_sample_data().iterdir():
        shutil.copy2(path, pickup / path.name)
    proseo("ingest", "watch", str(pickup), "--once")
    database = Database(engine)
    add_user(database, "operator", OPERATOR_ROLES, mission="LANDSAT")
    add_user(database, "approver", ["ORDER_READER", "ORDER_APPROVER"], mission="LANDSAT")
    add_user(
        database,
        "viewer",
        ["ORDER_READER", "PRODUCT_READER", "MISSION_READER"],
        mission="LANDSAT",
    )
    return database


def test_operator_runs_an_order_in_the_browser(
    browser: Any,
    empty_engine: Engine,
    backend: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playwright.sync_api import expect

    database = _prepare(empty_engine, tmp_path, capsys)
    shots = Shots(_screenshot_folder(backend))
    server, api = serve_database(
        database,
        tmp_path / "data",
        "--dispatch-interval",
        "0.3",
        "--sweep-interval",
        "0",
        "--trigger-interval",
        "0",
    )
    root = api.rsplit("/api/", 1)[0]
    try:
        operator = browser.new_context(viewport={"width": 1400, "height": 900})
        page = _log_in(operator, root, "operator", shots)
        shots.take(page, "orders-empty")

        # a bad order comes back with the field named and the input kept
        page.click("#new-order")
        page.fill("input[name=mission]", "LANDSAT")
        page.fill("input[name=identifier]", "GUI-L3")
        page.fill("input[name=requested_product_classes]", "L3_MAXNDVI")
        page.fill("input[name=start_time]", "2014-01-01T00:00:00Z")
        page.fill("input[name=stop_time]", "2001-01-01T00:00:00Z")
        page.fill("input[name=processing_mode]", "OPER")
        page.click("#create-order")
        expect(page.locator("#form-error")).to_contain_text("stop_time")
        assert page.input_value("input[name=identifier]") == "GUI-L3"
        shots.take(page, "order-form-error")
        page.fill("input[name=start_time]", WINDOW[0])
        page.fill("input[name=stop_time]", WINDOW[1])
        page.click("#create-order")
        page.wait_for_url(f"{root}/orders/*")
        order_url = page.url
        assert _state(page) == "INITIAL"
        assert page.locator("[data-action=approve]").count() == 0  # not the creator's to do
        shots.take(page, "order-initial")

        approver = browser.new_context()
        other = _log_in(approver, root, "approver")
        other.goto(order_url)
        other.click("[data-action=approve]")
        other.wait_for_url(order_url)
        assert _state(other) == "APPROVED"
        assert other.locator("[data-action=plan]").count() == 0  # the approver does not plan
        approver.close()

        page.reload()
        assert _state(page) == "APPROVED"
        page.click("#preview")
        summary = page.locator("#plan-summary")
        expect(summary).to_contain_text("3 job steps in 1 jobs")
        expect(summary).to_contain_text("L2_TOA")
        shots.take(page, "order-plan-preview")
        assert _state(page) == "APPROVED"  # the preview wrote nothing
        page.click("[data-action=plan]")
        page.wait_for_url(order_url)
        expect(page.locator(".flash")).to_contain_text("planned: 3 job steps")
        for level in ("L2_TOA", "L2_NDVI", "L3_MAXNDVI"):
            assert page.locator(f".graph-node[data-class={level}]").count() == 1
        shots.take(page, "order-planned")
        page.click("[data-action=release]")
        page.wait_for_url(order_url)
        # from here the page is not reloaded: htmx brings the state
        page.evaluate("window.proseoSamePage = true")
        page.wait_for_function(
            "document.querySelector('#order-state').textContent === 'COMPLETED'", timeout=300_000
        )
        assert page.evaluate("window.proseoSamePage") is True
        page.reload()
        assert page.locator("#job-steps .state-COMPLETED").count() == 3
        shots.take(page, "order-completed")

        step = page.locator("#job-steps a").first
        step.click()
        expect(page.locator("#inputs")).to_contain_text("L1TP")
        expect(page.locator("#log-tail")).to_be_visible()
        shots.take(page, "job-step")

        page.goto(f"{root}/products?product_class=L3_MAXNDVI")
        shots.take(page, "products")
        page.locator("#products a").first.click()
        expect(page.locator("#made-from")).to_contain_text("L2_NDVI")
        expect(page.locator("#files")).to_contain_text("tif")
        quicklook = page.locator("#quicklook")
        quicklook.scroll_into_view_if_needed()
        page.wait_for_function(
            "document.querySelector('#quicklook').complete && "
            "document.querySelector('#quicklook').naturalWidth > 0"
        )
        assert quicklook.evaluate("img => img.naturalWidth") == 41 * 8
        shots.take(page, "product-l3-quicklook")
        page.locator("#made-from a").first.click()
        expect(page.locator("#used-by")).to_contain_text("L3_MAXNDVI")
        shots.take(page, "product-l2-lineage")

        page.goto(f"{root}/")
        expect(page.locator("#live")).to_contain_text("Job steps by facility")
        assert page.locator("canvas.plot[data-drawn]").count() == 2  # Chart.js drew both
        shots.take(page, "dashboard")
        for path, name in (
            ("/orders", "orders"),
            ("/missions", "missions"),
            ("/missions/LANDSAT", "mission"),
            ("/missions/LANDSAT/classes/L2_TOA", "product-class"),
            ("/processors", "processors"),
            ("/facilities", "facilities"),
            ("/templates", "templates"),
            ("/triggers", "triggers"),
            ("/campaigns", "campaigns"),
            ("/users", "users"),
        ):
            answer = page.goto(root + path)
            assert answer is not None
            assert answer.status == 200, path
            shots.take(page, name)

        # a form without its CSRF token is refused, and nothing happens
        order_id = order_url.rsplit("/", 1)[1]
        forged = operator.request.post(
            f"{root}/orders/{order_id}/action/close", form={"csrf_token": "forged"}
        )
        assert forged.status == 403
        assert "CSRF" in forged.text()
        page.goto(order_url)
        assert _state(page) == "COMPLETED"
        page.click("#logout")
        page.wait_for_url(f"{root}/login")
        operator.close()

        # a read-only user sees no action, and is refused when posting anyway
        viewer = browser.new_context()
        seen = _log_in(viewer, root, "viewer")
        seen.goto(order_url)
        assert seen.locator("[data-action]").count() == 0
        assert seen.locator("#preview").count() == 0
        shots.take(seen, "order-read-only")
        csrf = seen.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
        refused = viewer.request.post(
            f"{root}/orders/{order_id}/action/close", form={"csrf_token": csrf}
        )
        assert refused.status == 403
        assert "ORDER_PLANNER" in refused.text()
        viewer.close()
    finally:
        stop_server(server)
    assert shots.count >= 20
