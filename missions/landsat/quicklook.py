"""Statistics and PNG quicklooks of the Landsat NDVI products (``L2_NDVI``, ``L3_MAXNDVI``).

NDVI values in [-1, 1] map to a brown - yellow - green palette; pixels without a value are
transparent. The 41x41 px crops are enlarged ``scale`` times (nearest neighbour) so the
quicklook is readable. Written with rasterio's PNG driver (GDAL), no plotting library.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

NDVI_TYPES = ("L2_NDVI", "L3_MAXNDVI")
NODATA = 255

# (NDVI, (red, green, blue)) anchors of the palette, linear in between.
_PALETTE = (
    (-1.0, (90, 60, 30)),
    (0.0, (200, 170, 110)),
    (0.3, (240, 230, 90)),
    (0.6, (110, 180, 60)),
    (1.0, (0, 90, 20)),
)


def _ndvi(path: Path) -> np.ndarray:
    """Per-pixel NDVI: the maximum over the bands of the file (NaN where none is valid)."""
    with rasterio.open(path) as source:
        stack = source.read().astype(np.float64)
    finite = np.isfinite(stack)
    return np.where(finite.any(axis=0), np.nanmax(np.where(finite, stack, -np.inf), axis=0), np.nan)


def ndvi_statistics(path: Path) -> dict[str, str]:
    """Mean, minimum and maximum NDVI and the number of valid pixels of an NDVI file."""
    values = _ndvi(path)
    valid = values[np.isfinite(values)]
    if not valid.size:
        return {"valid_pixels": "0"}
    return {
        "ndvi_mean": f"{valid.mean():.4f}",
        "ndvi_min": f"{valid.min():.4f}",
        "ndvi_max": f"{valid.max():.4f}",
        "valid_pixels": str(int(valid.size)),
        "pixels": str(int(values.size)),
    }


def _colour_table() -> dict[int, tuple[int, int, int, int]]:
    anchors = np.array([a for a, _ in _PALETTE])
    colours = np.array([c for _, c in _PALETTE], dtype=np.float64)
    table: dict[int, tuple[int, int, int, int]] = {}
    for index in range(NODATA):
        value = -1.0 + 2.0 * index / (NODATA - 1)
        rgb = [int(np.rint(np.interp(value, anchors, colours[:, k]))) for k in range(3)]
        table[index] = (rgb[0], rgb[1], rgb[2], 255)
    table[NODATA] = (0, 0, 0, 0)
    return table


def write_quicklook(path: Path, png_path: Path, scale: int = 8) -> Path:
    """A palette PNG of the NDVI file at ``path``, enlarged ``scale`` times."""
    values = _ndvi(path)
    index = np.full(values.shape, NODATA, dtype=np.uint8)
    finite = np.isfinite(values)
    index[finite] = np.round((np.clip(values[finite], -1, 1) + 1) / 2 * (NODATA - 1)).astype(
        np.uint8
    )
    height, width = values.shape[0] * scale, values.shape[1] * scale
    index = np.kron(index, np.ones((scale, scale), dtype=np.uint8))
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            png_path,
            "w",
            driver="PNG",
            width=width,
            height=height,
            count=1,
            dtype="uint8",
        ) as out:
            out.write(index, 1)
            out.write_colormap(1, _colour_table())
    for sidecar in png_path.parent.glob(png_path.name + ".aux.xml"):
        sidecar.unlink()
    return png_path
