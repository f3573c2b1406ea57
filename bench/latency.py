"""Near-real-time latency benchmark: L0 granules dropped into a pickup folder at a steady rate,
a data-driven trigger, and a real ``proseo serve`` (pickup, triggers, dispatcher with local
processes) making L1B and L2 from them, nobody typing a command.

Mission TST (L0 -> L1B -> L2; five L0 granules per 100-minute orbit, an L1B needs 90 % of
its orbit's L0). The data-driven trigger on L0 makes one L2 order per granule over its orbit
(``auto_release``); the first of each orbit plans L1B and L2, the others find them being
produced. The TST processor does nothing but write its outputs, so what is measured is the
system: ingestion, triggers, planning, readiness, dispatch and output ingestion (each run
still starts the processor wrapper and the processor as two Python processes).

Printed, p50 and p99 over all granules or orbits, in seconds (from the database's own
timestamps: product and file arrival, order creation, job step state history):

- ``granule ingested -> order created`` (trigger, per granule);
- ``orbit complete -> L1B READY`` (the last granule of an orbit arrived -> its L1B step);
- ``L1B output ingested -> L2 READY`` (a dependent step woken by a produced product);
- ``READY -> RUNNING`` (dispatch, every job step);
- ``RUNNING -> output ingested`` (processor wrapper and processor, every job step);
- ``chain overhead``: orbit complete -> L2 output ingested, minus the two processor runs.

    .venv/bin/python bench/latency.py [--backend sqlite|postgresql] [--rate 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402

GRANULES_PER_ORBIT = 5


def _proseo(url: str, data_dir: Path, *args: str) -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "proseo"), "--database-url", url, "--data-dir",
         str(data_dir), *args],
        check=True, capture_output=True, text=True, env={**os.environ, "PROSEO_LOCAL": "1"},
    )  # fmt: skip


def _quantiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.3f} s   p99 {p99:6.3f} s   (n={len(ordered)})"


def run(backend: str, rate: float, seconds: float, capacity: int) -> dict[str, list[float]]:
    """Run the benchmark; returns the latencies (seconds) by measure."""
    from sqlalchemy import select

    from proseo.db import Database, create_database_engine
    from proseo.enums import StatefulEntity
    from proseo.model import (
        Job,
        JobStep,
        ProcessingOrder,
        Product,
        ProductClass,
        ProductFile,
        StateHistory,
        TriggerOccurrence,
    )
    from tests.servers import start_server, stop_server

    orbits = max(1, round(rate * seconds / GRANULES_PER_ORBIT))
    if orbits > 100:
        raise SystemExit(f"{orbits} orbits: TST has 100; lower --rate or --seconds")
    work = Path(tempfile.mkdtemp(prefix="proseo-latency-"))
    with database_url(backend) as url:
        data_dir = work / "data"
        _proseo(url, data_dir, "db", "upgrade")
        _proseo(url, data_dir, "mission", "sync", "TST")
        _proseo(url, data_dir, "facility", "set", "--capacity", str(capacity))
        template = {
            "mission": "TST", "name": "L2-NRT", "requested_product_classes": ["L2________"],
            "slicing_type": "ORBIT", "processing_mode": "OPER", "auto_release": True,
        }  # fmt: skip
        (work / "l2.json").write_text(json.dumps(template))
        _proseo(url, data_dir, "template", "create", "--file", str(work / "l2.json"))
        _proseo(
            url, data_dir, "trigger", "create", "ON-L0", "-m", "TST", "--kind", "DATA_DRIVEN",
            "--template", "L2-NRT", "--product-type", "L0________",
            "--settings", '{"window": "orbit"}',
        )  # fmt: skip
        from missions.testmission.sample_data import write_sample_data

        staging, pickup = work / "staging", work / "pickup"
        pickup.mkdir()
        inputs = sorted(write_sample_data(staging, 1, orbits))
        aux = [p for p in inputs if "AUX_ORB" in p.name]
        granules = [p for p in inputs if "L0____" in p.name]
        server, _ = start_server(
            url, data_dir, "--pickup", str(pickup), "--pickup-interval", "0.1",
            "--dispatch-interval", "1", "--trigger-interval", "1", "--sweep-interval", "30",
        )  # fmt: skip
        try:
            for path in aux:
                shutil.move(path, pickup / path.name)
            started = time.monotonic()
            for n, path in enumerate(granules):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                shutil.move(path, pickup / path.name)
            database = Database(create_database_engine(url))
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with database.transaction() as session:
                    done = session.scalar(
                        select(ProductFile.id)
                        .join(Product)
                        .join(ProductClass)
                        .where(ProductClass.product_type == "L2________")
                        .order_by(ProductFile.id)
                        .offset(orbits - 1)
                        .limit(1)
                    )
                if done is not None:
                    break
                time.sleep(0.5)
        finally:
            stop_server(server)
        measures: dict[str, list[float]] = defaultdict(list)
        with database.transaction() as session:
            granule_arrivals = session.execute(
                select(Product.sensing_start, ProductFile.created_at)
                .join(ProductFile)
                .join(ProductClass)
                .where(ProductClass.product_type == "L0________")
            ).all()
            occurrences = {
                key.removeprefix("product:"): created
                for key, created in session.execute(
                    select(TriggerOccurrence.occurrence_key, ProcessingOrder.created_at).join(
                        ProcessingOrder, TriggerOccurrence.processing_order_id == ProcessingOrder.id
                    )
                )
            }
            for uuid, arrived in session.execute(
                select(Product.uuid, ProductFile.created_at)
                .join(ProductFile)
                .join(ProductClass)
                .where(ProductClass.product_type == "L0________")
            ):
                if str(uuid) in occurrences:
                    measures["granule ingested -> order created"].append(
                        (occurrences[str(uuid)] - arrived).total_seconds()
                    )
            history: dict[int, dict[str, datetime]] = defaultdict(dict)
            for step_id, state, moment in session.execute(
                select(StateHistory.entity_id, StateHistory.to_state, StateHistory.changed_at)
                .where(
                    StateHistory.entity_type == StatefulEntity.JOB_STEP,
                    StateHistory.to_state.in_(["READY", "RUNNING"]),
                )
                .order_by(StateHistory.id)
            ):
                history[step_id].setdefault(state, moment)
            steps = session.execute(
                select(
                    JobStep.id,
                    ProductClass.product_type,
                    Job.start_time,
                    Job.stop_time,
                    ProductFile.created_at,
                )
                .join(Job, JobStep.job_id == Job.id)
                .join(Product, Product.job_step_id == JobStep.id)
                .join(ProductClass, Product.product_class_id == ProductClass.id)
                .join(ProductFile, ProductFile.product_id == Product.id)
                .where(Product.enclosing_product_id.is_(None))
            ).all()
        by_orbit: dict[tuple[datetime, datetime], dict[str, tuple[int, datetime]]] = defaultdict(
            dict
        )
        for step_id, product_type, start, stop, produced in steps:
            by_orbit[(start, stop)][product_type] = (step_id, produced)
            ready, running = history[step_id].get("READY"), history[step_id].get("RUNNING")
            if ready and running:
                measures["READY -> RUNNING"].append((running - ready).total_seconds())
            if running:
                measures["RUNNING -> output ingested"].append((produced - running).total_seconds())
        for (start, stop), made in by_orbit.items():
            if "L1B_______" not in made or "L2________" not in made:
                continue
            l1b, l1b_done = made["L1B_______"]
            l2, l2_done = made["L2________"]
            inside = [arrived for begin, arrived in granule_arrivals if start <= begin < stop]
            complete = max(inside) if len(inside) == GRANULES_PER_ORBIT else None
            if complete is not None and history[l1b].get("READY"):
                measures["orbit complete -> L1B READY"].append(
                    (history[l1b]["READY"] - complete).total_seconds()
                )
            if history[l2].get("READY"):
                measures["L1B output ingested -> L2 READY"].append(
                    (history[l2]["READY"] - l1b_done).total_seconds()
                )
            if complete is not None and history[l1b].get("RUNNING") and history[l2].get("RUNNING"):
                processing = (l1b_done - history[l1b]["RUNNING"]) + (
                    l2_done - history[l2]["RUNNING"]
                )
                measures["chain overhead (processor runs excluded)"].append(
                    (l2_done - complete - processing).total_seconds()
                )
    return measures


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=float, default=5.0, help="L0 granules per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--capacity", type=int, default=4, help="job steps at once")
    args = parser.parse_args()
    measures = run(args.backend, args.rate, args.seconds, args.capacity)
    print(f"latency, {args.backend}, {args.rate:g} granules/s for {args.seconds:g} s:")
    for name, values in measures.items():
        print(f"  {name:42} {_quantiles(values)}")


if __name__ == "__main__":
    main()
