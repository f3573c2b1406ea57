"""Dispatch benchmark: N ready job steps submitted to a real Slurm by one dispatcher round.

Builds the S5P catalogue for N orbits (as bench/plan.py), plans and releases an L1B order
over all of it (ORBIT slicing: N job steps, all READY as their L0 and AUX exist), points the
facility at Slurm with a capacity of N, and times one dispatcher round: lock and pick the
READY steps by priority, count attempts, set them RUNNING, build and write N job step
descriptions, commit, and submit them (job arrays, one ``sbatch`` per resource group).
Prints steps/s submitted. The jobs are submitted held (``--hold``) and cancelled afterwards,
so the figure is the dispatcher's and Slurm's submission path, not the processors'.

Uses the Slurm named by ``SLURM_CONF``, else starts a private single-node Slurm as the tests
do (root, Debian). Database: PostgreSQL (private throwaway cluster, or
PROSEO_BENCH_DATABASE_URL) or SQLite.

    .venv/bin/python bench/dispatch.py [--steps 1000] [--backend postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402
from bench.plan import build_catalogue  # noqa: E402


@contextlib.contextmanager
def slurm_conf(folder: Path) -> Iterator[str]:
    """``SLURM_CONF`` of a running Slurm: the environment's, or a private one started now."""
    given = os.environ.get("SLURM_CONF")
    if given:
        yield given
        return
    from tests.slurmcluster import SlurmCluster

    cluster = SlurmCluster(folder).start()
    try:
        yield str(cluster.conf)
    finally:
        cluster.stop()


def run(backend: str, steps: int) -> dict[str, float]:
    """Build, plan, release, then time one dispatcher round; returns the figures."""
    from orderman.orders import create_order, parse_order_spec
    from orderman.service import run_command, run_plan
    from productionplanner.dispatcher import Dispatcher
    from proseo.catalogue.facilities import default_facility
    from proseo.config import load_settings
    from proseo.db import Database, create_database_engine

    folder = Path(tempfile.mkdtemp(prefix="proseo-bench-dispatch-"))
    with database_url(backend) as url, slurm_conf(folder / "slurm") as conf:
        build_catalogue(url, steps)
        database = Database(create_database_engine(url))
        first = 8138
        with database.transaction() as session:
            order_id = create_order(
                session,
                parse_order_spec(
                    {
                        "mission": "S5P",
                        "identifier": "BENCH-L1B",
                        "requested_product_classes": ["L1B_RA_BD1"],
                        "slicing_type": "ORBIT",
                        "orbits": [{"spacecraft": "S5P", "from": first, "to": first + steps - 1}],
                        "processing_mode": "OFFL",
                    }
                ),
            ).id
            facility = default_facility(session)
            facility.executor_kind = "slurm"
            facility.executor_settings = {"slurm_conf": conf, "extra_args": ["--hold"]}
            facility.max_job_steps = steps
        run_command(database, order_id, "approve")
        run_plan(database, order_id)
        _, released = run_command(database, order_id, "release")
        settings = load_settings(data_dir=folder / "data", database_url=url)
        dispatcher = Dispatcher(database, settings)
        started = time.perf_counter()
        report = dispatcher.tick()
        seconds = time.perf_counter() - started
        executor = dispatcher._executors[facility.id]
        executor.cancel(executor.adopt([f"proseo-{i}-1" for i in range(1, 10 * steps)]))
        database.dispose()
    return {
        "ready": float(released["READY"]),
        "submitted": float(report.submitted),
        "seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    args = parser.parse_args()
    figures = run(args.backend, args.steps)
    rate = figures["submitted"] / figures["seconds"] if figures["seconds"] else 0.0
    print(
        f"== {args.backend}: {figures['ready']:.0f} READY job steps; one dispatcher round "
        f"submitted {figures['submitted']:.0f} to Slurm in {figures['seconds']:.2f} s "
        f"= {rate:.0f} steps/s (target >= 200)"
    )
    return 0 if figures["submitted"] == figures["ready"] else 1


if __name__ == "__main__":
    sys.exit(main())
