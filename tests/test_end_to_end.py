"""The main job end to end on the real Landsat data, through the CLI only, on SQLite and
PostgreSQL: pickup ingestion, an L3 order planned backwards, the dispatcher running the real
processors through the wrapper, the L3 statistics and quicklook; a second order reuses it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from missions.landsat.sample_data import fetch_sample_data
from proseo.cli.app import run

WINDOW = ("--start", "2001-01-01T00:00:00Z", "--stop", "2014-01-01T00:00:00Z")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_landsat_l3_order_end_to_end(
    empty_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = fetch_sample_data()
    base = ("--data-dir", str(tmp_path / "data"), "--database-url", _url(empty_engine))

    def proseo(*args: str) -> str:
        code = run([*base, *args])
        out, err = capsys.readouterr()
        assert code == 0, f"proseo {' '.join(args)} -> {code}\n{out}\n{err}"
        return out

    def as_json(*args: str) -> dict[str, Any]:
        (document,) = json.loads(proseo(*args, "--format", "json"))
        assert isinstance(document, dict)
        return document

    proseo("db", "upgrade")
    proseo("mission", "sync", "LANDSAT")
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    for path in sample.iterdir():
        shutil.copy2(path, pickup / path.name)
    scan = proseo("ingest", "watch", str(pickup), "--once")
    assert "3 ingested, 0 already there, 0 set aside" in scan
    assert sorted(p.name for p in pickup.iterdir()) == [".ingested"]

    proseo("order", "create", "-m", "LANDSAT", "--id", "L3", "-c", "L3_MAXNDVI", "--mode", "OPER",
           "--slicing", "NONE", *WINDOW)  # fmt: skip
    proseo("order", "approve", "1")
    plan = proseo("order", "plan", "1", "--dry-run")
    # printed backwards: L3 <- NDVI <- TOA <- L1 (both scenes) + DEM
    assert "1 jobs, 3 job steps" in plan
    for line in ("L3_MAXNDVI by LMAXNDVI", "L2_NDVI by LNDVI", "L2_TOA by LTOA"):
        assert line in plan
    proseo("order", "plan", "1")
    proseo("order", "release", "1")
    dispatched = proseo("dispatcher", "run", "--until-idle", "--interval", "0.2",
                        "--timeout", "600")  # fmt: skip
    assert "completed 3" in dispatched

    order = as_json("order", "show", "1", "--products")
    assert order["state"] == "COMPLETED"
    assert [(s["output"], s["state"], s["attempt"]) for s in order["job_steps_detail"]] == [
        ("L2_TOA", "COMPLETED", 1),
        ("L2_NDVI", "COMPLETED", 1),
        ("L3_MAXNDVI", "COMPLETED", 1),
    ]
    assert all(s["duration_s"] > 0 for s in order["job_steps_detail"])
    made = {p["product_type"]: p for p in order["products"]}
    assert set(made) == {"L2_TOA", "L2_NDVI", "L3_MAXNDVI"}
    assert made["L2_TOA"]["made_from"].count("L1TP#") == 2  # both scenes
    assert "DEM#" in made["L2_TOA"]["made_from"]
    assert made["L3_MAXNDVI"]["made_from"] == f"L2_NDVI#{made['L2_NDVI']['id']}"
    assert all(len(p["md5"]) == 32 and p["size_bytes"] > 0 for p in made.values())

    l3 = made["L3_MAXNDVI"]["id"]
    quicklook = tmp_path / "out" / "l3.png"
    product = as_json("product", "show", str(l3), "--stats", "--quicklook", str(quicklook))
    statistics = {k: float(v) for k, v in product["statistics"].items()}
    # the maximum NDVI of the two real scenes over the 41 x 41 px crop
    assert statistics["valid_pixels"] == 1681
    assert statistics["ndvi_mean"] == pytest.approx(0.501, abs=0.001)
    assert statistics["ndvi_min"] == pytest.approx(0.037, abs=0.001)
    assert statistics["ndvi_max"] == pytest.approx(0.825, abs=0.001)
    png = quicklook.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 41 * 8  # width
    fetched = proseo("product", "fetch", str(l3), str(tmp_path / "out")).strip()
    assert Path(fetched).name == made["L3_MAXNDVI"]["file_name"]

    # the second time: ingestion and planning reuse what exists
    for path in sample.iterdir():
        shutil.copy2(path, pickup / path.name)
    assert "0 ingested, 3 already there" in proseo("ingest", "watch", str(pickup), "--once")
    proseo("order", "create", "-m", "LANDSAT", "--id", "L3-AGAIN", "-c", "L3_MAXNDVI",
           "--mode", "OPER", "--slicing", "NONE", *WINDOW)  # fmt: skip
    proseo("order", "approve", "2")
    again = proseo("order", "plan", "2")
    assert "0 job steps" in again
    assert "1 job windows already produced" in again
    second = as_json("order", "show", "2")
    assert second["state"] == "COMPLETED"
    assert second["state_message"] == "all requested products exist; nothing planned"
