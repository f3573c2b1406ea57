"""Ingestion benchmark: bulk metadata ingestion of products whose files are already stored.

Writes N small S5P L0 files into POSIX storage (not timed), then catalogues them in batches
(default 10,000) through :func:`ingestor.batch.catalogue_stored_products`, on SQLite and on
PostgreSQL (a private throwaway cluster, or PROSEO_BENCH_DATABASE_URL). Prints products per
second per backend, with and without the storage check (a stat per file).

    .venv/bin/python bench/ingest.py [--products 10000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402


def entries(storage_root: Path, count: int, tag: str) -> list[Any]:
    """``count`` stored L0 granules of the S5P mission (files written here, untimed)."""
    from ingestor.batch import StoredProductEntry
    from missions.s5p import ORBIT_ANCHORS

    start = ORBIT_ANCHORS[0][1]
    step = timedelta(seconds=6089.9 / 5)
    result = []
    folder = storage_root / "S5P" / "L0__ODB_1_" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        t0 = start + k * step
        name = f"S5P_OFFL_L0__ODB_1__{t0:%Y%m%dT%H%M%S}_{tag}{k:08d}.bin"
        content = f"granule {k}".encode()
        (folder / name).write_bytes(content)
        result.append(
            StoredProductEntry(
                mission="S5P",
                product_type="L0__ODB_1_",
                sensing_start=t0,
                sensing_stop=t0 + step,
                generation_time=t0,
                file_class="OFFL",
                mode="OFFL",
                parameters={"granule": str(k)},
                files=[
                    {
                        "key": f"S5P/L0__ODB_1_/bench/{name}",
                        "size_bytes": len(content),
                        "md5": hashlib.md5(content, usedforsecurity=False).hexdigest(),
                    }
                ],
            )
        )
    return result


def run(url: str, count: int, batch: int) -> dict[str, float]:
    from ingestor.batch import catalogue_stored_products
    from missions.s5p import build_definition
    from proseo.catalogue.facilities import default_facility
    from proseo.catalogue.sync import sync_mission
    from proseo.db import Database, create_database_engine, migrate
    from proseo.storage import PosixStorage

    engine = create_database_engine(url)
    migrate.upgrade(engine)
    database = Database(engine)
    with database.transaction() as session:
        sync_mission(session, build_definition(), orbit_range=(8138, 8140))
    root = Path(tempfile.mkdtemp(prefix="proseo-ingest-bench-"))
    figures: dict[str, float] = {}
    for verify in (True, False):
        items = entries(root / ("v" if verify else "n"), count, "v" if verify else "n")
        storage = PosixStorage(root / ("v" if verify else "n"))
        started = time.perf_counter()
        for first in range(0, count, batch):
            with database.transaction() as session:
                report = catalogue_stored_products(
                    session,
                    storage,
                    default_facility(session),
                    items[first : first + batch],
                    verify=verify,
                )
                assert report.ingested == len(items[first : first + batch])
        seconds = time.perf_counter() - started
        figures["verified" if verify else "trusted"] = count / seconds
    database.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        with database_url(backend) as url:
            figures = run(url, args.products, args.batch)
        print(
            f"== {backend}: {args.products} products in batches of {args.batch}: "
            f"{figures['verified']:,.0f} products/s with a storage check per file, "
            f"{figures['trusted']:,.0f} products/s trusting the producer"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
