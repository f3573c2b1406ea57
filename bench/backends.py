"""Database URLs for the benchmarks: a fresh SQLite file, or PostgreSQL from
PROSEO_BENCH_DATABASE_URL or a private throwaway cluster (stopped afterwards)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def database_url(backend: str) -> Iterator[str]:
    """Yield an SQLAlchemy URL for ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='proseo-bench-')}/bench.sqlite"
        return
    given = os.environ.get("PROSEO_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    from tests.pgcluster import PostgresCluster

    cluster = PostgresCluster().start()
    try:
        yield cluster.url
    finally:
        cluster.stop()
