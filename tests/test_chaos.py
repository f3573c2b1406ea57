"""The short chaos runs in CI: ``bench/chaos.py --short`` (12 faults of every kind over six
orbits of systematic production on PostgreSQL), with the local executor and POSIX storage,
and on a private Slurm (with controller restarts) storing in a private Ceph S3 gateway (one
60 s gateway stop among the faults), must pass every check of their books."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


CHECKS = (
    "orders completed",
    "each product made once",
    "stored MD5 matches the catalogue",
    "no attempt ran twice",
    "storage and catalogue agree",
    "no job step left RUNNING",
    "no process exited by itself",
)


def _chaos(*options: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--short", *options],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-5000:]
    assert "12 faults" in report
    for check in CHECKS:
        assert f"PASS  {check}" in report, report[-5000:]
    return report


def test_short_chaos_run_keeps_the_books() -> None:
    _chaos("--seed", "3")


def test_short_chaos_run_on_slurm_and_s3_keeps_the_books() -> None:
    if os.geteuid() != 0 and os.environ.get("PROSEO_REQUIRE_SLURM") != "1":
        pytest.skip("a private Slurm is started as root")
    report = _chaos("--slurm", "--s3", "--seed", "4")
    assert "'stop-s3': 1" in report
