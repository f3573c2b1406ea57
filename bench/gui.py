"""GUI benchmark: every page and list of the operator GUI with about 1,000,000 products and
300,000 job steps in PostgreSQL, timed over HTTP against a real ``proseo serve``.

Builds the S5P catalogue and the queued L2 campaign of ``bench/backlog.py`` (43,000 orbits:
215,000 L0 granules, and 301,000 job steps whose planned outputs are product rows too), tops
the products up to ``--products`` with more L0 granules, and gives the dashboard a history:
``--finished`` job steps COMPLETED over the last 7 days and ``--failed`` FAILED in the last 24
hours. Then a real ``proseo serve`` (no dispatcher) answers each page ``--repeat`` times for a
logged-in ROOT operator; printed: median, 95th percentile and maximum per page, in ms.
The target (issue 18): every page under 200 ms at the 95th percentile.

    .venv/bin/python bench/gui.py [--orbits 43000] [--products 1000000] [--repeat 20]

With ``PROSEO_BENCH_DATABASE_URL`` naming an empty PostgreSQL database, the data stay there
and a second run reuses them (migrated to the newest schema first).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import database_url  # noqa: E402
from bench.backlog import fill_queue  # noqa: E402
from bench.plan import build_catalogue, file_rows  # noqa: E402

PASSWORD = "benchmark password 1"


def top_up_products(database: Any, wanted: int) -> int:
    """Add L0 granules (with files) after the last orbit until ``wanted`` products exist;
    returns the count."""
    from sqlalchemy import func, insert, select

    from proseo.catalogue.facilities import default_facility
    from proseo.model import Product, ProductClass, ProductFile

    with database.transaction() as session:
        have = session.scalar(select(func.count(Product.id))) or 0
        if have >= wanted:
            return have
        facility = default_facility(session)
        l0 = session.scalar(
            select(ProductClass.id).where(ProductClass.product_type == "L0__ODB_1_")
        )
        last = session.scalar(select(func.max(Product.sensing_stop)))
        assert last is not None
        rows = [
            {
                "product_class_id": l0,
                "sensing_start": last + timedelta(minutes=20 * k),
                "sensing_stop": last + timedelta(minutes=20 * (k + 1)),
                "generation_time": last,
                "file_class": "OFFL",
                "mode": "OFFL",
            }
            for k in range(wanted - have)
        ]
        for i in range(0, len(rows), 5000):
            ids = session.scalars(
                insert(Product).returning(Product.id, sort_by_parameter_order=True),
                rows[i : i + 5000],
            ).all()
            session.execute(insert(ProductFile), file_rows(list(ids), facility.id))
        return session.scalar(select(func.count(Product.id))) or 0


def give_history(database: Any, finished: int, failed: int) -> None:
    """Mark ``finished`` READY job steps COMPLETED over the last 7 days and ``failed`` FAILED
    in the last 24 hours (times only; the dashboard reads them)."""
    from sqlalchemy import select, update

    from proseo.enums import JobStepState
    from proseo.model import JobStep
    from proseo.model.base import utc_now

    now = utc_now()
    with database.transaction() as session:
        ids = session.scalars(
            select(JobStep.id)
            .where(JobStep.state == JobStepState.READY)
            .order_by(JobStep.id)
            .limit(finished + failed)
        ).all()
        done = [
            {
                "id": step_id,
                "state": JobStepState.COMPLETED if k < finished else JobStepState.FAILED,
                "processing_start_time": now - timedelta(seconds=(k * 604_800) // finished + 90)
                if k < finished
                else now - timedelta(seconds=(k - finished) * 80 + 90),
                "processing_completion_time": now - timedelta(seconds=(k * 604_800) // finished)
                if k < finished
                else now - timedelta(seconds=(k - finished) * 80),
                "exit_code": 0 if k < finished else 1,
            }
            for k, step_id in enumerate(ids)
        ]
        session.execute(update(JobStep), done)


def pages(database: Any) -> list[str]:
    """The pages timed, with real ids of the built data."""
    from sqlalchemy import func, select

    from proseo.model import Job, JobStep, ProcessingOrder, Product

    with database.transaction() as session:
        newest_order = session.scalar(select(func.max(ProcessingOrder.id)))
        oldest_order = session.scalar(select(func.min(ProcessingOrder.id)))
        step = session.scalar(
            select(JobStep.id).join(Job).where(Job.processing_order_id == newest_order).limit(1)
        )
        product = session.scalar(select(func.max(Product.id)).where(Product.job_step_id.is_(None)))
        made = session.scalar(select(func.min(Product.id)).where(Product.job_step_id.isnot(None)))
    return [
        "/",
        "/dashboard/live",
        "/orders",
        "/orders?state=RELEASED",
        "/orders?product_class=L2__NO2___&identifier=queue",
        f"/orders?before={newest_order}",
        "/orders?sensing_from=2020-01-01T00:00Z&sensing_to=2020-02-01T00:00Z",
        f"/orders/{newest_order}",
        f"/orders/{oldest_order}",
        f"/orders/{newest_order}/live",
        f"/jobsteps/{step}",
        "/products",
        "/products?product_class=L2__NO2___",
        "/products?product_class=L0__ODB_1_&sensing_from=2021-06-01T00:00Z"
        "&sensing_to=2021-06-02T00:00Z",
        "/products?orbit=20000",
        "/products?before=2020-01-01T00:00:00.000000Z~999999999",
        f"/products/{product}",
        f"/products/{made}",
        "/missions",
        "/missions/S5P",
        "/missions/S5P/classes/L1B_______",
        "/processors",
        "/facilities",
        "/templates",
        "/triggers",
        "/campaigns",
        "/campaigns/S5P/QUEUE",
        "/users",
    ]


def built(database: Any) -> bool:
    """Whether the database holds the data of an earlier run (its operator user)."""
    from sqlalchemy import inspect, select

    from proseo.model import User

    if not inspect(database.engine).has_table("users"):
        return False
    with database.transaction() as session:
        return session.scalar(select(User.id).where(User.username == "operator")) is not None


def main() -> int:
    """Command line; prints the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orbits", type=int, default=43_000)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--finished", type=int, default=20_000)
    parser.add_argument("--failed", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import httpx
    from sqlalchemy import func, select, text

    from proseo.config import SecuritySettings
    from proseo.db import Database, create_database_engine, migrate
    from proseo.enums import UserRole
    from proseo.model import JobStep, Product
    from proseo.security.accounts import create_user

    folder = Path(tempfile.mkdtemp(prefix="proseo-bench-gui-"))
    with database_url("postgresql") as url:
        database = Database(create_database_engine(url))
        if built(database):
            print("reusing the data of an earlier run (PROSEO_BENCH_DATABASE_URL)")
            migrate.upgrade(database.engine)
        else:
            seconds = build_catalogue(url, args.orbits)
            print(f"catalogue of {args.orbits} orbits: {seconds:.1f} s")
            print(f"campaign planned and released: {fill_queue(database, args.orbits):.1f} s")
            top_up_products(database, args.products)
            give_history(database, args.finished, args.failed)
            with database.transaction() as session:
                create_user(
                    session, "operator", PASSWORD, SecuritySettings(), mission=None,
                    roles=[UserRole.ROOT],
                )  # fmt: skip
        with database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.execute(text("VACUUM ANALYZE"))
        with database.transaction() as session:
            steps = session.scalar(select(func.count(JobStep.id)))
            total = session.scalar(select(func.count(Product.id)))
        print(f"{total:,} products, {steps:,} job steps")
        from tests.servers import start_server, stop_server

        server, root = start_server(
            url, folder, "--sweep-interval", "0", "--trigger-interval", "0",
            "--evict-interval", "0",
        )  # fmt: skip
        try:
            client = httpx.Client(base_url=root, timeout=60, follow_redirects=False)
            form = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert token is not None
            answer = client.post(
                "/login",
                data={"username": "operator", "password": PASSWORD, "csrf_token": token[1]},
            )
            assert answer.status_code == 303, answer.text
            worst = 0.0
            print(f"{'page':<72} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for path in pages(database):
                times = []
                for _ in range(args.repeat + 1):
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.text[:300])
                times = sorted(times[1:])  # the first answer warms the caches
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                worst = max(worst, p95)
                flag = "" if p95 < 200 else "  <- over 200 ms"
                print(
                    f"{path[:72]:<72} {statistics.median(times):8.1f} {p95:8.1f} "
                    f"{times[-1]:8.1f}{flag}"
                )
            print(f"slowest page at the 95th percentile: {worst:.1f} ms")
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
