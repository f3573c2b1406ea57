"""Campaign benchmark: a reprocessing campaign of the S5P-like mission, batch by batch.

Builds the S5P catalogue for N orbits as ``bench/plan.py`` does (5 L0 granules per orbit and
one AUX_MET_2D per day, with files), then a campaign for the six L2 products (ORBIT slicing,
planning L1B with its 10 components backwards) over all orbits in batches of B orbits and,
unless ``--no-l3``, a second one for the daily L3 NO2 (CALENDAR_DAY slicing, monthly batches)
over the same period, started a round later so that its orders find the L2 NO2 in
production. No in-flight limit; driven as the server
would (campaign rounds, then order automation: each batch ordered, approved, planned and
released). Prints the seconds of the dry runs, and per round the planning seconds and job
steps per second, so that one sees whether a batch's planning time grows with the batches
before it, and the peak resident memory of the process. 52,000 orbits are ten years.

    .venv/bin/python bench/campaign.py [--orbits 3000] [--batch 500] [--no-l3]
        [--backend postgresql|sqlite] [--no-dry-run]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402
from bench.plan import build_catalogue  # noqa: E402

L2 = ["L2__CLOUD_", "L2__O3____", "L2__NO2___", "L2__CO____", "L2__CH4___", "L2__AER_AI"]


def l2_campaign_spec(name: str, orbits: int, batch: int) -> Any:
    """The campaign of the six L2 products (mode OFFL, file class RPRO) over the first
    ``orbits`` orbits from 8138 in batches of ``batch`` orbits, with no in-flight limit."""
    from orderman.campaigns import parse_campaign_spec

    return parse_campaign_spec(
        {
            "mission": "S5P",
            "name": name,
            "settings": {
                "requested_product_classes": L2,
                "slicing_type": "ORBIT",
                "processing_mode": "OFFL",
                "file_class": "RPRO",
            },
            "spacecraft": "S5P",
            "orbit_from": 8138,
            "orbit_to": 8138 + orbits - 1,
            "batch_unit": "ORBITS",
            "batch_size": batch,
            "max_in_flight": 10_000_000,
        }
    )


def run(backend: str, orbits: int, batch: int, dry: bool, l3: bool) -> None:
    """Build, dry-run, then plan every batch; prints the figures."""
    from sqlalchemy import func, select

    from orderman.automation import advance_orders
    from orderman.campaigns import (
        advance_campaigns,
        create_campaign,
        dry_run,
        parse_campaign_spec,
        run_campaign_command,
    )
    from proseo.db import Database, create_database_engine
    from proseo.model import JobStep, Orbit, ProcessingOrder

    with database_url(backend) as url:
        print(f"catalogue of {orbits} orbits built in {build_catalogue(url, orbits):.1f} s")
        database = Database(create_database_engine(url))
        spec = l2_campaign_spec("RPRO-L2", orbits, batch)
        specs = [spec]
        if l3:
            with database.transaction() as session:
                first, last = session.execute(
                    select(func.min(Orbit.start_time), func.max(Orbit.stop_time))
                ).one()
            day = first.replace(hour=0, minute=0, second=0, microsecond=0)
            specs.append(
                parse_campaign_spec(
                    {
                        "mission": "S5P",
                        "name": "RPRO-L3",
                        "settings": {
                            "requested_product_classes": ["L3__NO2___"],
                            "slicing_type": "CALENDAR_DAY",
                            "processing_mode": "OFFL",
                            "file_class": "RPRO",
                        },
                        "start_time": day.isoformat(),
                        "stop_time": last.isoformat(),
                        "batch_unit": "MONTH",
                        "max_in_flight": 10_000_000,
                    }
                )
            )
        for one in specs if dry else []:
            started = time.perf_counter()
            result = dry_run(database, one)
            print(
                f"dry run {one.name}: {result.batches} batches, {result.job_steps} job steps "
                f"in {time.perf_counter() - started:.1f} s "
                f"({result.job_steps / (time.perf_counter() - started):,.0f}/s)"
            )
        for one in specs:
            with database.transaction() as session:
                create_campaign(session, one, "bench")
        # the L3 campaign starts a round after the L2 one, so that each of its monthly orders
        # finds the L2 NO2 of its days in production (one ahead, it would plan day-long L2
        # and L1B job steps of its own: a daily job's window is the day)
        run_campaign_command(database, "S5P", spec.name, "start", "bench")
        seconds: list[float] = []
        total = 0
        while True:
            ordered = advance_campaigns(database).ordered
            if not ordered:
                break
            started = time.perf_counter()
            moved = advance_orders(database, notify=False)
            if len(seconds) == 0 and len(specs) > 1:
                run_campaign_command(database, "S5P", specs[1].name, "start", "bench")
            elapsed = time.perf_counter() - started
            with database.transaction() as session:
                steps = session.scalar(select(func.count(JobStep.id))) or 0
                states = dict(
                    session.execute(
                        select(ProcessingOrder.state, func.count()).group_by(ProcessingOrder.state)
                    ).all()
                )
            made = steps - total
            total = steps
            seconds.append(elapsed)
            print(
                f"  round {len(seconds):3d}: {made} job steps planned and released in "
                f"{elapsed:.2f} s ({made / elapsed:,.0f}/s); {len(moved.released)} released; "
                f"orders {dict((k.value, v) for k, v in states.items())}"
            )
        database.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{backend}: {len(seconds)} rounds, {total} job steps in {sum(seconds):.1f} s "
        f"({total / sum(seconds):,.0f} job steps/s); batch median "
        f"{statistics.median(seconds):.2f} s, first {seconds[0]:.2f} s, "
        f"last {seconds[-1]:.2f} s; peak RSS {peak_mb:.0f} MB"
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orbits", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500, help="orbits per batch")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--no-dry-run", action="store_true", help="skip the dry run")
    parser.add_argument("--no-l3", action="store_true", help="no daily L3 campaign")
    args = parser.parse_args()
    run(args.backend, args.orbits, args.batch, not args.no_dry_run, not args.no_l3)


if __name__ == "__main__":
    main()
