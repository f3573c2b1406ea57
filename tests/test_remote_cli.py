"""The CLI in remote mode: ``proseo login`` against a real ``proseo serve``, then the TST
order flow through the REST API with the same output formats and exit codes as local mode."""

from __future__ import annotations

import io
import json
import stat
import time
from pathlib import Path

import httpx
import pytest

from proseo.api.app import API_PREFIX
from proseo.cli.app import run
from proseo.config import Settings
from proseo.db import Database
from tests.conftest import TEST_PASSWORD, TST_ORBIT, TST_T0, add_user
from tests.servers import serve_database, stop_server

OPERATOR_ROLES = [
    "CLI_USER",
    "MISSION_READER",
    "ORDER_MGR",
    "ORDER_PLANNER",
    "ORDER_READER",
    "PRODUCT_READER",
    "PRODUCT_INGESTOR",
    "FACILITY_READER",
]


class Cli:
    """``proseo`` in this process with its own configuration folder (one login each)."""

    def __init__(
        self, folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setenv("PROSEO_CONFIG_DIR", str(self.folder))
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = run(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str, stdin: str = "") -> str:
        code, out, err = self(*args, stdin=stdin)
        assert code == 0, (args, out, err)
        return out


def test_order_flow_in_remote_mode(
    tst: Database,
    tst_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_user(tst, "operator", OPERATOR_ROLES)
    add_user(tst, "approver", ["CLI_USER", "ORDER_APPROVER"])
    add_user(tst, "nocli", ["ORDER_READER"])
    monkeypatch.delenv("PROSEO_LOCAL", raising=False)
    monkeypatch.setenv("PROSEO_DATA_DIR", str(tmp_path / "elsewhere"))  # never used remotely
    server, base = serve_database(
        tst, tst_settings.data_dir, "--sweep-interval", "0", "--dispatch-interval", "0.3"
    )
    url = base.removesuffix(API_PREFIX)
    operator = Cli(tmp_path / "operator", monkeypatch, capsys)
    approver = Cli(tmp_path / "approver", monkeypatch, capsys)
    try:
        code, _, err = operator("login", "--url", url, "--user", "operator",
                                "--password-stdin", stdin="wrong password\n")  # fmt: skip
        assert code == 12, err  # AuthenticationError, as in local mode
        code, _, err = Cli(tmp_path / "nocli", monkeypatch, capsys)(
            "login", "--url", url, "--user", "nocli", "--password-stdin", stdin=TEST_PASSWORD
        )
        assert code == 13, err
        assert "CLI_USER" in err
        out = operator.ok("login", "--url", url, "--user", "operator", "--password-stdin",
                          stdin=TEST_PASSWORD + "\n")  # fmt: skip
        assert "logged in" in out
        approver.ok("login", "--url", url, "--user", "approver", "--password-stdin",
                    stdin=TEST_PASSWORD + "\n")  # fmt: skip
        profile = tmp_path / "operator" / "remote.json"
        assert stat.S_IMODE(profile.stat().st_mode) == 0o600
        assert stat.S_IMODE(profile.parent.stat().st_mode) == 0o700
        assert TEST_PASSWORD not in profile.read_text()

        missions = json.loads(operator.ok("mission", "list", "--format", "json"))
        assert [m["code"] for m in missions] == ["TST"]
        out = operator.ok("order", "create", "-m", "TST", "--id", "REMOTE-1", "-c",
                          "L2________", "--orbits", "TST1:1", "--slicing", "ORBIT",
                          "--mode", "OPER")  # fmt: skip
        assert "created in state INITIAL" in out
        (row,) = json.loads(operator.ok("order", "list", "--format", "json"))
        order_id = str(row["id"])
        assert row["identifier"] == "REMOTE-1"
        code, _, err = operator("order", "approve", order_id)
        assert code == 13, err  # its creator may not approve it
        code, _, err = operator("order", "release", order_id)
        assert code == 6, err  # not allowed in INITIAL: the exit code of local mode
        assert "release needs state PLANNED" in err
        assert operator("order", "show", "99999")[0] == 4
        assert "now APPROVED" in approver.ok("order", "approve", order_id)
        out = operator.ok("order", "plan", order_id)
        assert "2 job steps" in out
        assert "L1B_______: 1 job steps" in out
        assert "RELEASED" in operator.ok("order", "release", order_id)
        deadline = time.monotonic() + 90
        while True:
            (shown,) = json.loads(operator.ok("order", "show", order_id, "--format", "json"))
            if shown["state"] == "COMPLETED":
                break
            assert time.monotonic() < deadline, shown
            time.sleep(0.3)
        step = shown["job_steps_detail"][1]
        (detail,) = json.loads(operator.ok("jobstep", "show", str(step["id"]), "--format", "json"))
        assert detail["exit_code"] == 0
        table = operator.ok("order", "show", order_id, "--products")
        assert "Products made" in table
        page = json.loads(
            operator.ok("product", "list", "-c", "L2________", "--with-files", "--format", "json")
        )
        assert len(page) == 1
        assert json.loads(operator.ok("product", "show", str(page[0]["id"]), "--format", "json"))

        start = TST_T0 + 70 * TST_ORBIT
        stop = start + TST_ORBIT / 5
        name = (
            f"TST_OPER_L0_________{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
            f"00071_{TST_T0:%Y%m%dT%H%M%S}.dat"
        )
        granule = tmp_path / name
        granule.write_bytes(b"uploaded granule")
        out = operator.ok("ingest", str(granule))
        assert f"ingested: L0________ {name}" in out
        assert "1 ingested, 0 already there" in out
        assert "already ingested" in operator.ok("ingest", str(granule))
        facilities = json.loads(operator.ok("facility", "list", "--format", "json"))
        assert facilities[0]["name"] == "localhost"

        code, _, err = operator("mission", "sync", "TST")
        assert code == 11, err  # needs the database: refused, not silently local
        assert "direct database access" in err
        token = json.loads(profile.read_text())["token"]
        assert "token revoked" in operator.ok("logout")
        assert not profile.exists()
        revoked = httpx.get(f"{base}/missions", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
    finally:
        stop_server(server)
