"""Planning benchmark: a bulk reprocessing campaign of the S5P-like mission.

Builds the S5P catalogue for N orbits (5 L0 granules per orbit and one AUX_MET_2D per day,
all with files at the facility) and settles it as a live catalogue would be (``VACUUM
ANALYZE``), then plans two orders over all of it:

1. the six L2 products with ORBIT slicing (planning L1B with its 10 components backwards),
2. the daily L3 NO2 with CALENDAR_DAY slicing (reusing the L2 NO2 being produced by order 1),

on SQLite and on PostgreSQL (a private throwaway cluster, or PROSEO_BENCH_DATABASE_URL), each
backend in its own process. Prints job steps, seconds, job steps per second and the peak
resident memory of that process.

    .venv/bin/python bench/plan.py [--orbits 6000] [--backend sqlite|postgresql|both] [--runs N]

With ``--runs N`` each backend is measured N times, each time in a new process on a newly
built catalogue (and a new PostgreSQL cluster), and the median is printed as well: on a
shared 2-core virtual machine one run can be 20 % off.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402


def file_rows(product_ids: list[int], facility_id: int) -> list[dict[str, object]]:
    """One 1,000-byte POSIX file row per product, for bulk inserts of a synthetic catalogue."""
    return [
        {
            "product_id": pid,
            "processing_facility_id": facility_id,
            "product_file_name": f"p{pid}.nc",
            "file_path": "S5P",
            "file_size_bytes": 1000,
            "auxiliary_file_names": [],
            "storage_type": "POSIX",
        }
        for pid in product_ids
    ]


def build_catalogue(url: str, orbits: int) -> float:
    """Create schema, sync S5P for ``orbits`` orbits, insert L0 and AUX products with files,
    then ``VACUUM ANALYZE`` (SQLite: ``ANALYZE``); returns the seconds taken."""
    from sqlalchemy import insert, select, text

    from missions.s5p import build_definition
    from proseo.catalogue.facilities import default_facility
    from proseo.catalogue.sync import sync_mission
    from proseo.db import Database, create_database_engine, migrate
    from proseo.model import Orbit, Product, ProductClass, ProductFile

    started = time.perf_counter()
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    database = Database(engine)
    first = 8138
    with database.transaction() as session:
        sync_mission(session, build_definition(), orbit_range=(first, first + orbits - 1))
        facility = default_facility(session)
        classes = {pc.product_type: pc.id for pc in session.scalars(select(ProductClass))}
        stored = session.execute(
            select(Orbit.id, Orbit.start_time, Orbit.stop_time).order_by(Orbit.orbit_number)
        ).all()
        rows = []
        for orbit_id, start, stop in stored:
            step = (stop - start) / 5
            for k in range(5):
                rows.append(
                    {
                        "product_class_id": classes["L0__ODB_1_"],
                        "sensing_start": start + k * step,
                        "sensing_stop": start + (k + 1) * step,
                        "generation_time": stop,
                        "orbit_id": orbit_id,
                        "file_class": "OFFL",
                        "mode": "OFFL",
                    }
                )
        day = stored[0][1].replace(hour=0, minute=0, second=0, microsecond=0)
        while day < stored[-1][2]:
            rows.append(
                {
                    "product_class_id": classes["AUX_MET_2D"],
                    "sensing_start": day,
                    "sensing_stop": day + timedelta(days=1),
                    "generation_time": day,
                    "file_class": "OFFL",
                }
            )
            day += timedelta(days=1)
        ids: list[int] = []
        for i in range(0, len(rows), 5000):
            ids += session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True),
                rows[i : i + 5000],
            ).all()
        files = file_rows(ids, facility.id)
        for i in range(0, len(files), 5000):
            session.execute(insert(ProductFile), files[i : i + 5000])
    # Settle the catalogue as a live one is (autovacuum has run, statistics are there): else
    # the autovacuum of the rows just loaded competes with planning for the two cores.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def plan_campaign(url: str, orbits: int) -> dict[str, object]:
    """Create and plan the two orders; returns the figures."""
    from orderman.orders import create_order, parse_order_spec
    from orderman.service import run_command, run_plan
    from proseo.db import Database, create_database_engine

    database = Database(create_database_engine(url))
    first, last = 8138, 8138 + orbits - 1
    from missions.s5p import build_definition

    nominal = build_definition().spacecraft[0].nominal_orbits
    assert nominal is not None
    start, stop = nominal.start_of(first), nominal.start_of(last + 1)
    specs: list[dict[str, Any]] = [
        {
            "identifier": "RPRO-L2",
            "requested_product_classes": [
                "L2__CLOUD_",
                "L2__O3____",
                "L2__NO2___",
                "L2__CO____",
                "L2__CH4___",
                "L2__AER_AI",
            ],
            "slicing_type": "ORBIT",
            "orbits": [{"spacecraft": "S5P", "from": first, "to": last}],
        },
        {
            "identifier": "RPRO-L3",
            "requested_product_classes": ["L3__NO2___"],
            "slicing_type": "CALENDAR_DAY",
            "start_time": start.isoformat(),
            "stop_time": stop.isoformat(),
        },
    ]
    results = []
    for spec in specs:
        with database.transaction() as session:
            order = create_order(
                session,
                parse_order_spec(
                    {"mission": "S5P", "processing_mode": "OFFL", "file_class": "RPRO", **spec}
                ),
            )
            order_id = order.id
        run_command(database, order_id, "approve")
        started = time.perf_counter()
        summary = run_plan(database, order_id)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        _, released = run_command(database, order_id, "release")
        release_seconds = time.perf_counter() - started
        results.append(
            {
                "order": spec["identifier"],
                "jobs": summary.jobs,
                "job_steps": summary.job_steps,
                "steps_per_class": summary.steps_per_class,
                "plan_seconds": round(seconds, 2),
                "phases": {name: round(value, 2) for name, value in summary.phases.items()},
                "integrity": summary.integrity,
                "release_seconds": round(release_seconds, 2),
                "released": released,
            }
        )
    database.dispose()
    return {"orders": results}


def child(backend: str, orbits: int) -> None:
    """Run one backend in this process and print its figures as JSON."""
    with database_url(backend) as url:
        build_seconds = build_catalogue(url, orbits)
        figures = plan_campaign(url, orbits)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "backend": backend,
                "orbits": orbits,
                "catalogue_seconds": round(build_seconds, 1),
                "peak_rss_mb": round(peak_mb),
                **figures,
            }
        )
    )


def _measure(backend: str, orbits: int) -> dict[str, Any] | None:
    """Run one backend in a child process; its figures, or None (error printed)."""
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--backend", backend, "--orbits", str(orbits)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return None
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _report(backend: str, orbits: int, data: dict[str, Any]) -> float:
    """Print the figures of one run; returns its total planning seconds."""
    total_steps = sum(o["job_steps"] for o in data["orders"])
    total_seconds: float = sum(o["plan_seconds"] for o in data["orders"])
    print(f"== {backend}: {orbits} orbits (catalogue built in {data['catalogue_seconds']} s)")
    for o in data["orders"]:
        rate = o["job_steps"] / o["plan_seconds"] if o["plan_seconds"] else 0
        print(
            f"   {o['order']}: {o['jobs']} jobs, {o['job_steps']} job steps planned in "
            f"{o['plan_seconds']} s ({rate:,.0f} job steps/s); "
            f"release {o['release_seconds']} s {o['released']}"
        )
        print(f"      references: {o['integrity']}")
        print("      phases: " + ", ".join(f"{k} {v} s" for k, v in o["phases"].items()))
    print(
        f"   total: {total_steps} job steps in {total_seconds:.2f} s "
        f"({total_steps / total_seconds if total_seconds else 0:,.0f} job steps/s); "
        f"peak RSS {data['peak_rss_mb']} MB"
    )
    return total_seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orbits", type=int, default=6000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1, help="measure each backend N times")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.backend, args.orbits)
        return 0
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        totals: list[float] = []
        for _run in range(args.runs):
            data = _measure(backend, args.orbits)
            if data is None:
                return 1
            totals.append(_report(backend, args.orbits, data))
        if args.runs > 1:
            print(
                f"== {backend}: median of {args.runs} runs {statistics.median(totals):.2f} s "
                f"(runs: {', '.join(f'{t:.2f}' for t in totals)})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
