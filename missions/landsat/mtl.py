"""Reader of Landsat Collection-1 ``_MTL.txt`` metadata (ODL ``KEY = VALUE`` lines).

Source: USGS "Landsat 8 Data Users Handbook" (LSDS-1574) and the Landsat 7 handbook
(LSDS-1927): reflectance rescaling ``rho' = REFLECTANCE_MULT_BAND_n * Qcal +
REFLECTANCE_ADD_BAND_n``, corrected for the sun elevation as ``rho = rho' / sin(SUN_ELEVATION)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Landsat WRS-2 scenes take about 24 s; the MTL gives only the scene centre time.
SCENE_DURATION = timedelta(seconds=24)

# Red and near-infrared band numbers per spacecraft.
RED_NIR_BANDS = {"LANDSAT_8": (4, 5), "LANDSAT_7": (3, 4)}


class MTLError(ValueError):
    """An MTL file lacks a field or holds a malformed value (the message names both)."""


def read_mtl(path: Path) -> dict[str, str]:
    """All ``KEY = VALUE`` pairs of an MTL file (groups flattened, quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip().strip('"')
        if key not in ("GROUP", "END_GROUP"):
            values[key] = value
    return values


@dataclass(frozen=True)
class SceneMetadata:
    """What the processors and the mission plug-in need from an MTL file."""

    product_id: str
    spacecraft: str
    scene_center: datetime
    sun_elevation_deg: float
    sun_azimuth_deg: float
    reflectance_mult: dict[int, float]
    reflectance_add: dict[int, float]
    wrs_path: int
    wrs_row: int
    processing_date: str

    @property
    def sensing_start(self) -> datetime:
        """Scene start: centre minus half the ~24 s scene duration (UTC)."""
        return self.scene_center - SCENE_DURATION / 2

    @property
    def sensing_stop(self) -> datetime:
        """Scene stop: centre plus half the ~24 s scene duration (UTC)."""
        return self.scene_center + SCENE_DURATION / 2

    @property
    def red_nir_bands(self) -> tuple[int, int]:
        """Band numbers of red and near infrared for this spacecraft."""
        try:
            return RED_NIR_BANDS[self.spacecraft]
        except KeyError:
            raise MTLError(f"SPACECRAFT_ID {self.spacecraft!r} is not Landsat 7 or 8") from None


def _field(values: dict[str, str], key: str, path: Path) -> str:
    if key not in values:
        raise MTLError(f"{path.name}: field {key} is missing")
    return values[key]


def _float(values: dict[str, str], key: str, path: Path) -> float:
    text = _field(values, key, path)
    try:
        return float(text)
    except ValueError:
        raise MTLError(f"{path.name}: field {key} = {text!r} is not a number") from None


def scene_metadata(path: Path) -> SceneMetadata:
    """Parse the fields proseo-py uses from an MTL file.

    :raises MTLError: naming the file and the field that is missing or malformed.
    """
    values = read_mtl(path)
    date = _field(values, "DATE_ACQUIRED", path)
    centre = _field(values, "SCENE_CENTER_TIME", path).rstrip("Z")
    hms, _, fraction = centre.partition(".")
    try:
        moment = datetime.strptime(f"{date} {hms}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise MTLError(f"{path.name}: DATE_ACQUIRED/SCENE_CENTER_TIME {date} {centre!r}") from None
    moment += timedelta(microseconds=int((fraction + "000000")[:6] or 0))
    bands = {
        int(k.rsplit("_", 1)[1]): float(v)
        for k, v in values.items()
        if k.startswith("REFLECTANCE_MULT_BAND_") and k.rsplit("_", 1)[1].isdigit()
    }
    adds = {
        int(k.rsplit("_", 1)[1]): float(v)
        for k, v in values.items()
        if k.startswith("REFLECTANCE_ADD_BAND_") and k.rsplit("_", 1)[1].isdigit()
    }
    product_id = _field(values, "LANDSAT_PRODUCT_ID", path)
    return SceneMetadata(
        product_id=product_id,
        spacecraft=_field(values, "SPACECRAFT_ID", path),
        scene_center=moment,
        sun_elevation_deg=_float(values, "SUN_ELEVATION", path),
        sun_azimuth_deg=_float(values, "SUN_AZIMUTH", path),
        reflectance_mult=bands,
        reflectance_add=adds,
        wrs_path=int(_field(values, "WRS_PATH", path)),
        wrs_row=int(_field(values, "WRS_ROW", path)),
        processing_date=product_id.split("_")[4] if product_id.count("_") >= 4 else "",
    )
