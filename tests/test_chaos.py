"""The short chaos run in CI: ``bench/chaos.py --short`` (12 faults of every kind over six
orbits of systematic production on PostgreSQL) must pass every check of its books."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_chaos_run_keeps_the_books() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--short", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-5000:]
    assert "12 faults" in report
    for check in (
        "orders completed",
        "each product made once",
        "stored MD5 matches the catalogue",
        "no attempt ran twice",
        "storage and catalogue agree",
        "no job step left RUNNING",
        "no process exited by itself",
    ):
        assert f"PASS  {check}" in report, report[-5000:]
