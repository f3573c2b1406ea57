"""Fetch the real Landsat sample scenes (Debian package ``r-cran-satellite``) into a cache.

The package ships Landsat-7 and Landsat-8 Collection-1 L1TP band crops with their real
``_MTL.txt`` and a DEM on the same 41x41 grid, under
``usr/lib/R/site-library/satellite/extdata/`` (no R needed). ``apt-get download`` fetches
the .deb from the machine's Debian mirror and ``dpkg-deb -x`` unpacks it.

Command line: ``python -m missions.landsat.sample_data [CACHE_DIR]`` prints the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "r-cran-satellite"
EXTDATA = Path("usr/lib/R/site-library/satellite/extdata")
SCENES = ("LE07_L1TP_195025_20010730_20170204_01_T1", "LC08_L1TP_195025_20130707_20170503_01_T1")


class SampleDataError(RuntimeError):
    """The sample data could not be fetched (the message says which step failed and why)."""


def default_cache() -> Path:
    """``$PROSEO_SAMPLE_DATA`` or ``~/.cache/proseo-py/landsat``."""
    given = os.environ.get("PROSEO_SAMPLE_DATA")
    return Path(given) if given else Path.home() / ".cache" / "proseo-py" / "landsat"


def _complete(folder: Path) -> bool:
    return (folder / "DEM.TIF").exists() and all(
        (folder / f"{scene}_MTL.txt").exists() for scene in SCENES
    )


def _download(folder: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "download", PACKAGE], cwd=folder, capture_output=True, text=True, check=False
    )


def fetch_sample_data(cache: Path | None = None) -> Path:
    """The folder holding the sample scenes and DEM, fetched on first use.

    :raises SampleDataError: when apt-get or dpkg-deb are missing or fail.
    """
    target = (cache or default_cache()).resolve()
    if _complete(target):
        return target
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SampleDataError(f"{tool} not found: the sample data come from Debian's {PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="proseo-landsat-") as work:
        result = _download(work)
        if result.returncode != 0 and os.geteuid() == 0:
            # A fresh machine may have no package lists yet: refresh them once and retry.
            subprocess.run(["apt-get", "update"], capture_output=True, check=False)
            result = _download(work)
        debs = list(Path(work).glob(f"{PACKAGE}_*.deb"))
        if result.returncode != 0 or not debs:
            raise SampleDataError(f"apt-get download {PACKAGE} failed: {result.stderr.strip()}")
        unpacked = Path(work) / "x"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True)
        target.mkdir(parents=True, exist_ok=True)
        for path in (unpacked / EXTDATA).iterdir():
            if path.suffix.upper() in (".TIF", ".TXT"):
                shutil.copy2(path, target / path.name)
    if not _complete(target):
        raise SampleDataError(f"{PACKAGE} did not contain the expected scenes and DEM")
    return target


if __name__ == "__main__":
    print(fetch_sample_data(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
