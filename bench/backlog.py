"""Backlog benchmark: the dispatcher and the readiness re-check with a deep queue.

Builds the S5P catalogue for N orbits (as ``bench/plan.py``: 5 L0 granules per orbit and one
AUX_MET_2D per day, with files), then a reprocessing campaign of the six L2 products over all
of them, planned and released batch by batch as the server would (batches of 430 orbits, about
a month): 7 job steps per orbit, the L1B READY (its inputs exist) and the six L2 WAITING_INPUT
(for the L1B components). 43,000 orbits make about 300,000 queued job steps. Then:

1. one dispatcher round with the facility on the real Slurm (``--hold``, job arrays) and
   ``max_job_steps`` of ``--dispatch`` (default 5,000): seconds to pick, count attempts, set
   RUNNING, write the job step descriptions and submit them;
2. the readiness re-check after one arrival: one dispatched L1B job step's outputs get their
   files (as the dispatcher's output ingestion does) and
   :func:`planner.readiness.recheck_waiting_job_steps` runs for them, timed over ``--probes``
   different job steps; for comparison, the same re-check over every waiting query of the
   arrived classes (what it did before it looked only near the arrival).

Uses the Slurm named by ``SLURM_CONF``, else starts a private single-node Slurm as the tests
do (root, Debian). PostgreSQL: a private throwaway cluster, or PROSEO_BENCH_DATABASE_URL.

    .venv/bin/python bench/backlog.py [--orbits 43000] [--dispatch 5000] [--probes 20]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402
from bench.campaign import l2_campaign_spec  # noqa: E402
from bench.dispatch import slurm_conf  # noqa: E402
from bench.plan import build_catalogue  # noqa: E402


def fill_queue(database: object, orbits: int) -> float:
    """Plan and release the L2 campaign batch by batch; returns the seconds taken."""
    from orderman.automation import advance_orders
    from orderman.campaigns import advance_campaigns, create_campaign, run_campaign_command
    from proseo.db import Database

    assert isinstance(database, Database)
    spec = l2_campaign_spec("QUEUE", orbits, 430)
    started = time.perf_counter()
    with database.transaction() as session:
        create_campaign(session, spec, "bench")
    run_campaign_command(database, "S5P", "QUEUE", "start", "bench")
    while advance_campaigns(database).ordered:
        advance_orders(database, notify=False)
    return time.perf_counter() - started


@contextlib.contextmanager
def explained(database: Any, on: bool, threshold_s: float = 0.01) -> Iterator[None]:
    """While ``on``: print each SELECT over ``threshold_s`` with its ``EXPLAIN ANALYZE``."""
    if not on:
        yield
        return
    from sqlalchemy import event

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seconds = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        if seconds > threshold_s and statement.lstrip().upper().startswith("SELECT"):
            other = conn.connection.cursor()  # this cursor's rows are not read yet
            other.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print(f"-- {seconds * 1000:.0f} ms: {' '.join(statement.split())[:300]}")
            for (line,) in other.fetchall():
                print("   ", line)
            other.close()

    event.listen(database.engine, "before_cursor_execute", before)
    event.listen(database.engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(database.engine, "before_cursor_execute", before)
        event.remove(database.engine, "after_cursor_execute", after)


def main() -> int:
    """Command line; prints the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orbits", type=int, default=43_000)
    parser.add_argument("--dispatch", type=int, default=5_000, help="facility max_job_steps")
    parser.add_argument("--probes", type=int, default=20, help="arrivals timed")
    parser.add_argument(
        "--profile", action="store_true", help="print where the dispatcher round's time went"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the plan of each SELECT of the dispatcher round over 50 ms and of the "
        "first re-check over 10 ms",
    )
    args = parser.parse_args()

    from sqlalchemy import func, select

    from planner.readiness import Arrival, recheck_waiting_job_steps
    from productionplanner.dispatcher import Dispatcher
    from proseo.catalogue.facilities import default_facility
    from proseo.config import load_settings
    from proseo.db import Database, create_database_engine
    from proseo.enums import JobStepState
    from proseo.model import JobStep, Product, ProductFile

    folder = Path(tempfile.mkdtemp(prefix="proseo-bench-backlog-"))
    with database_url("postgresql") as url, slurm_conf(folder / "slurm") as conf:
        print(
            f"catalogue of {args.orbits} orbits built in {build_catalogue(url, args.orbits):.1f} s"
        )
        database = Database(create_database_engine(url))
        print(f"campaign planned and released in {fill_queue(database, args.orbits):.1f} s")
        with database.transaction() as session:
            states = dict(
                session.execute(select(JobStep.state, func.count()).group_by(JobStep.state)).all()
            )
            facility = default_facility(session)
            facility.executor_kind = "slurm"
            facility.executor_settings = {"slurm_conf": conf, "extra_args": ["--hold"]}
            facility.max_job_steps = args.dispatch
            facility_id = facility.id
        queued = states.get(JobStepState.READY, 0) + states.get(JobStepState.WAITING_INPUT, 0)
        print(
            f"queue: {queued} job steps ({states.get(JobStepState.READY, 0)} READY, "
            f"{states.get(JobStepState.WAITING_INPUT, 0)} WAITING_INPUT)"
        )
        dispatcher = Dispatcher(database, load_settings(data_dir=folder / "data", database_url=url))
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        with explained(database, args.explain, 0.05):
            report = dispatcher.tick()
        round_s = time.perf_counter() - started
        if profile is not None:
            profile.disable()
            stats = pstats.Stats(profile).sort_stats("cumulative")
            stats.print_stats(30)
            stats.print_callers("_flush|execute. of .psycopg2")
        print(
            f"dispatcher round: {report.submitted} job steps submitted to Slurm in {round_s:.2f} s"
            f" ({report.submitted / round_s:,.0f}/s)"
        )
        with database.transaction() as session:
            running = list(
                session.scalars(
                    select(JobStep.id)
                    .where(JobStep.state == JobStepState.RUNNING)
                    .order_by(JobStep.id)
                    .limit(args.probes)
                )
            )
        near: list[float] = []
        wide: list[float] = []
        woken: list[int] = []
        for k, step_id in enumerate(running):
            with database.transaction() as session:
                arrivals = []
                for product in session.scalars(
                    select(Product).where(Product.job_step_id == step_id)
                ):
                    session.add(
                        ProductFile(
                            product_id=product.id,
                            processing_facility_id=facility_id,
                            product_file_name=f"bench-{product.id}",
                            file_path="bench",
                            file_size_bytes=1,
                        )
                    )
                    arrivals.append(
                        Arrival(
                            product.product_class_id, product.sensing_start, product.sensing_stop
                        )
                    )
                session.flush()
                if k < 3:  # the class-wide re-check (rolled back), for comparison
                    nested = session.begin_nested()
                    started = time.perf_counter()
                    recheck_waiting_job_steps(session, {a.product_class_id for a in arrivals})
                    wide.append(time.perf_counter() - started)
                    nested.rollback()
                started = time.perf_counter()
                with explained(database, args.explain and k == 0):
                    woken.append(recheck_waiting_job_steps(session, arrivals=arrivals))
                near.append(time.perf_counter() - started)
        executor = dispatcher._executors[facility_id]
        executor.cancel(executor.adopt([f"proseo-{i}-1" for i in range(1, 10 * queued)]))
        database.dispose()
    print(
        f"readiness re-check after one arrival ({len(near)} job steps' outputs, "
        f"{statistics.mean(woken):.1f} job steps made READY each): median "
        f"{statistics.median(near) * 1000:.1f} ms, max {max(near) * 1000:.1f} ms; over every "
        f"waiting query of the classes: median {statistics.median(wide) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
