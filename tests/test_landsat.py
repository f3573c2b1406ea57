"""The Landsat mission on the real r-cran-satellite scenes: names, MTL times, processors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio

from missions.landsat.mtl import scene_metadata
from missions.landsat.sample_data import SCENES, fetch_sample_data
from processor_wrappers.joborder import (
    IpfProc,
    JobOrder,
    JobOrderInput,
    JobOrderOutput,
    write_job_order,
)
from proseo.plugins import get_mission_plugin


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """The real scenes (fetched from Debian on first use; no skip: CI must run this)."""
    return fetch_sample_data()


def test_scene_names_and_exact_times(sample_data: Path) -> None:
    plugin = get_mission_plugin("LANDSAT")
    band = sample_data / f"{SCENES[1]}_B4.TIF"
    named = plugin.parse_file_name(band.name)
    assert named is not None
    assert named.product_type == "L1TP"
    assert named.spacecraft_code == "LC08"
    assert dict(named.parameters) == {
        "productId": SCENES[1],
        "wrsPath": "195",
        "wrsRow": "025",
        "collection": "01",
        "tier": "T1",
    }
    exact = plugin.read_metadata(band)
    assert exact is not None
    centre = datetime(2013, 7, 7, 10, 17, 42, 166196, tzinfo=UTC)
    assert exact.sensing_start == centre - timedelta(seconds=12)
    assert exact.sensing_stop == centre + timedelta(seconds=12)
    assert exact.generation_time == datetime(2017, 5, 3, tzinfo=UTC)
    dem = plugin.read_metadata(sample_data / "DEM.TIF")
    assert dem is not None
    assert dem.product_type == "DEM"
    assert plugin.parse_file_name("S5P_OFFL_L2__NO2____x.nc") is None


def _run(step: str, job_order: JobOrder, path: Path) -> subprocess.CompletedProcess[str]:
    write_job_order(job_order, path)
    return subprocess.run(
        [sys.executable, "-m", "missions.landsat.processors", step, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def _job_order(name: str, inputs: list[JobOrderInput], output: Path) -> JobOrder:
    return JobOrder(
        processor_name=name,
        version="1.0.0",
        procs=[
            IpfProc(
                name,
                "1.0.0",
                inputs=inputs,
                outputs=[JobOrderOutput(file_type=name, file_name=str(output))],
            )
        ],
    )


def test_processors_compute_on_real_pixels(sample_data: Path, tmp_path: Path) -> None:
    scene_files = [str(p) for p in sorted(sample_data.glob("L[CE]0*_*"))]
    toa_path, ndvi_path, l3_path = tmp_path / "toa.tif", tmp_path / "ndvi.tif", tmp_path / "l3.tif"
    result = _run(
        "toa",
        _job_order(
            "L2_TOA",
            [
                JobOrderInput("L1TP", scene_files),
                JobOrderInput("DEM", [str(sample_data / "DEM.TIF")]),
            ],
            toa_path,
        ),
        tmp_path / "JobOrder.1.xml",
    )
    assert result.returncode == 0, result.stderr
    with rasterio.open(toa_path) as toa:
        assert toa.count == 4
        assert set(toa.descriptions) == {f"{s}:{b}" for s in SCENES for b in ("red", "nir")}
        red8 = toa.read(toa.descriptions.index(f"{SCENES[1]}:red") + 1)

    # An independent check of one interior pixel: TOA formula and cosine correction.
    scene = scene_metadata(sample_data / f"{SCENES[1]}_MTL.txt")
    with (
        rasterio.open(sample_data / f"{SCENES[1]}_B4.TIF") as b4,
        rasterio.open(sample_data / "DEM.TIF") as dem_file,
    ):
        dn, dem = float(b4.read(1)[20, 20]), dem_file.read(1).astype(float)
    dz_east = (dem[20, 21] - dem[20, 19]) / 60.0
    dz_north = (dem[19, 20] - dem[21, 20]) / 60.0
    slope = np.arctan(np.hypot(dz_east, dz_north))
    aspect = np.mod(np.arctan2(-dz_east, -dz_north), 2 * np.pi)
    zenith = np.radians(90 - scene.sun_elevation_deg)
    cos_i = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(
        np.radians(scene.sun_azimuth_deg) - aspect
    )
    rho = (2e-05 * dn - 0.1) / np.sin(np.radians(scene.sun_elevation_deg))
    assert red8[20, 20] == pytest.approx(rho * np.cos(zenith) / max(cos_i, 0.1), rel=1e-5)
    assert 0.0 < np.nanmedian(red8) < 0.3

    result = _run(
        "ndvi",
        _job_order("L2_NDVI", [JobOrderInput("L2_TOA", [str(toa_path)])], ndvi_path),
        tmp_path / "JobOrder.2.xml",
    )
    assert result.returncode == 0, result.stderr
    with rasterio.open(ndvi_path) as ndvi:
        layers = ndvi.read()
        assert ndvi.count == 2
    assert np.nanmin(layers) >= -1.0
    assert np.nanmax(layers) <= 1.0

    result = _run(
        "composite",
        _job_order("L3_MAXNDVI", [JobOrderInput("L2_NDVI", [str(ndvi_path)])], l3_path),
        tmp_path / "JobOrder.3.xml",
    )
    assert result.returncode == 0, result.stderr
    with rasterio.open(l3_path) as l3:
        composite, tags = l3.read(1), l3.tags()
    np.testing.assert_allclose(composite, np.fmax(layers[0], layers[1]), rtol=1e-6)
    assert float(tags["NDVI_MAX"]) == pytest.approx(float(np.nanmax(composite)), abs=1e-6)
    assert float(tags["NDVI_MEAN"]) == pytest.approx(float(np.nanmean(composite)), abs=1e-5)
    assert 0.3 < float(tags["NDVI_MEAN"]) < 0.95  # a vegetated German summer scene
    assert tags["SCENES"] == ",".join(sorted(SCENES))


def test_processor_failure_exits_above_127_with_a_reason(sample_data: Path, tmp_path: Path) -> None:
    scene_files = [str(p) for p in sorted(sample_data.glob(f"{SCENES[0]}_*"))]
    result = _run(
        "toa",
        _job_order("L2_TOA", [JobOrderInput("L1TP", scene_files)], tmp_path / "toa.tif"),
        tmp_path / "JobOrder.1.xml",
    )
    assert result.returncode == 255
    assert "no input of file type DEM" in result.stderr
    assert not (tmp_path / "toa.tif").exists()


def test_s5p_processor_writes_the_outputs_named(tmp_path: Path) -> None:
    from missions.s5p.processor import main

    job_order = JobOrder(
        processor_name="TROPNLL2DP",
        version="02.04.00",
        sensing_start=datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC),
        sensing_stop=datetime(2019, 9, 17, 0, 47, 30, tzinfo=UTC),
        procs=[
            IpfProc(
                "NO2",
                "02.04.00",
                inputs=[JobOrderInput("L1B_RA_BD4", ["bd4.nc"])],
                outputs=[
                    JobOrderOutput("L2__NO2___", "out/no2.nc"),
                    JobOrderOutput("L2__NO2___", str(tmp_path / "abs.nc")),
                ],
            )
        ],
    )
    path = write_job_order(job_order, tmp_path / "JobOrder.1.xml")
    assert main([str(path)]) == 0
    import json

    document = json.loads((tmp_path / "out" / "no2.nc").read_text())
    assert document["inputs"] == {"L1B_RA_BD4": ["bd4.nc"]}
    assert document["sensing_start"] == "2019-09-16T23:06:01+00:00"
    assert (tmp_path / "abs.nc").exists()
    (tmp_path / "bad.xml").write_text("<nope/>")
    assert main([str(tmp_path / "bad.xml")]) == 255
