"""The Landsat mission's processors: TOA reflectance, NDVI and the maximum-NDVI composite.

Each is run as ``python -m missions.landsat.processors <toa|ndvi|composite> <Job Order File>``
(the wrapper appends the Job Order path as the only argument after the command). They read
their inputs from the Job Order, write exactly the outputs it names, and exit 0 on success,
or 255 with a message on stderr on failure (above 127 = failure, ESA Generic IPF rules).

* ``toa``: per L1TP scene, red and NIR top-of-atmosphere reflectance
  ``rho = (M * Qcal + A) / sin(sun elevation)`` (MTL coefficients), then a cosine
  topographic correction with slope and aspect from the DEM:
  ``rho_t = rho * cos(z) / cos(i)``, ``cos(i) = cos(z) cos(s) + sin(z) sin(s) cos(phi - a)``
  (z sun zenith, phi sun azimuth, s slope, a aspect; cos(i) floored at 0.1). Output: a
  float32 GeoTIFF with two bands per scene described ``<product id>:red`` / ``:nir``.
* ``ndvi``: ``(nir - red) / (nir + red)`` for every red/NIR pair of its TOA inputs; one
  band per scene described ``<product id>:ndvi``.
* ``composite``: the per-pixel maximum NDVI over all bands of all inputs (NaN where no scene
  has a value); the band's tags hold the mean, min and max and the scenes used.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from missions.landsat.mtl import MTLError, scene_metadata
from processor_wrappers.joborder import JobOrder, read_job_order
from proseo.errors import JobOrderError

PIXEL_SIZE_M = 30.0
MIN_COS_INCIDENCE = 0.1


class ProcessingError(RuntimeError):
    """The inputs do not allow the computation (the message says which input and why)."""


def _files(job_order: JobOrder, file_type: str) -> list[Path]:
    paths = [Path(name) for i in job_order.inputs_of(file_type) for name in i.file_names]
    if not paths:
        raise ProcessingError(f"the Job Order has no input of file type {file_type}")
    return paths


def _output(job_order: JobOrder) -> Path:
    outputs = [o for p in job_order.procs for o in p.outputs]
    if len(outputs) != 1:
        raise ProcessingError(f"expected exactly one output in the Job Order, found {len(outputs)}")
    return Path(outputs[0].file_name)


def _write(
    path: Path,
    bands: Sequence[tuple[str, np.ndarray]],
    profile: dict[str, Any],
    tags: dict[str, str] | None = None,
) -> None:
    profile = {
        **profile,
        "driver": "GTiff",
        "dtype": "float32",
        "count": len(bands),
        "nodata": float("nan"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as out:
        for index, (description, data) in enumerate(bands, start=1):
            out.write(data.astype(np.float32), index)
            out.set_band_description(index, description)
        if tags:
            out.update_tags(**tags)


def _slope_aspect(dem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope and aspect (radians; aspect clockwise from north) of a north-up DEM grid."""
    d_row, d_col = np.gradient(dem.astype(np.float64), PIXEL_SIZE_M)
    dz_east, dz_north = d_col, -d_row
    slope = np.arctan(np.hypot(dz_east, dz_north))
    aspect = np.mod(np.arctan2(-dz_east, -dz_north), 2 * np.pi)
    return slope, aspect


def toa(job_order: JobOrder) -> None:
    """TOA reflectance with topographic correction for every L1TP scene of the Job Order."""
    files = _files(job_order, "L1TP")
    (dem_path,) = _files(job_order, "DEM")[:1]
    with rasterio.open(dem_path) as dem_file:
        dem = dem_file.read(1, masked=True).astype(np.float64).filled(np.nan)
        profile = dict(dem_file.profile)
    slope, aspect = _slope_aspect(dem)
    bands: list[tuple[str, np.ndarray]] = []
    for mtl_path in sorted(p for p in files if p.name.endswith("_MTL.txt")):
        try:
            scene = scene_metadata(mtl_path)
        except MTLError as error:
            raise ProcessingError(str(error)) from error
        zenith = np.radians(90.0 - scene.sun_elevation_deg)
        azimuth = np.radians(scene.sun_azimuth_deg)
        cos_i = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(
            azimuth - aspect
        )
        correction = np.cos(zenith) / np.maximum(cos_i, MIN_COS_INCIDENCE)
        for label, band in zip(("red", "nir"), scene.red_nir_bands, strict=True):
            band_path = next(
                (p for p in files if p.name == f"{scene.product_id}_B{band}.TIF"), None
            )
            if band_path is None:
                raise ProcessingError(
                    f"scene {scene.product_id}: band file B{band} is not an input"
                )
            with rasterio.open(band_path) as source:
                if source.shape != dem.shape or source.transform != profile["transform"]:
                    raise ProcessingError(f"{band_path.name} is not on the DEM grid")
                dn = source.read(1).astype(np.float64)
            reflectance = (
                scene.reflectance_mult[band] * dn + scene.reflectance_add[band]
            ) / np.sin(np.radians(scene.sun_elevation_deg))
            reflectance = np.where(dn > 0, reflectance * correction, np.nan)
            bands.append((f"{scene.product_id}:{label}", reflectance))
    if not bands:
        raise ProcessingError("no _MTL.txt among the L1TP inputs")
    _write(_output(job_order), bands, profile)


def ndvi(job_order: JobOrder) -> None:
    """NDVI for every red/NIR pair of the TOA inputs."""
    layers: list[tuple[str, np.ndarray]] = []
    profile: dict[str, Any] = {}
    for path in _files(job_order, "L2_TOA"):
        with rasterio.open(path) as source:
            profile = dict(source.profile)
            named = {source.descriptions[i]: source.read(i + 1) for i in range(source.count)}
        scenes = sorted({name.rsplit(":", 1)[0] for name in named if name})
        for scene in scenes:
            red, nir = named.get(f"{scene}:red"), named.get(f"{scene}:nir")
            if red is None or nir is None:
                raise ProcessingError(f"{path.name}: scene {scene} lacks a red or NIR band")
            with np.errstate(invalid="ignore", divide="ignore"):
                value = (nir - red) / (nir + red)
            layers.append((f"{scene}:ndvi", np.where(np.isfinite(value), value, np.nan)))
    _write(_output(job_order), layers, profile)


def composite(job_order: JobOrder) -> None:
    """Per-pixel maximum NDVI over all input bands, with statistics as tags."""
    stack: list[np.ndarray] = []
    scenes: list[str] = []
    profile: dict[str, Any] = {}
    for path in _files(job_order, "L2_NDVI"):
        with rasterio.open(path) as source:
            profile = dict(source.profile)
            for i in range(source.count):
                stack.append(source.read(i + 1))
                scenes.append((source.descriptions[i] or "").rsplit(":", 1)[0])
    layers = np.stack(stack)
    valid = np.isfinite(layers).any(axis=0)
    maximum = np.where(
        valid, np.nanmax(np.where(np.isfinite(layers), layers, -np.inf), axis=0), np.nan
    )
    values = maximum[np.isfinite(maximum)]
    tags = {
        "NDVI_MEAN": f"{values.mean():.6f}" if values.size else "nan",
        "NDVI_MIN": f"{values.min():.6f}" if values.size else "nan",
        "NDVI_MAX": f"{values.max():.6f}" if values.size else "nan",
        "VALID_PIXELS": str(int(values.size)),
        "SCENES": ",".join(sorted(set(scenes))),
    }
    _write(_output(job_order), [("max_ndvi", maximum)], profile, tags)


PROCESSORS = {"toa": toa, "ndvi": ndvi, "composite": composite}


def main(argv: Sequence[str] | None = None) -> int:
    """``processors <toa|ndvi|composite> <Job Order File>``; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in PROCESSORS:
        print(
            "usage: python -m missions.landsat.processors toa|ndvi|composite JOBORDER",
            file=sys.stderr,
        )
        return 255
    try:
        job_order = read_job_order(Path(args[1]))
        PROCESSORS[args[0]](job_order)
    except (JobOrderError, ProcessingError, rasterio.errors.RasterioIOError) as error:
        print(f"{args[0]}: {error}", file=sys.stderr)
        return 255
    print(f"{args[0]}: done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
