"""Prometheus metrics of this process (prometheus-client), in one registry.

Counters and histograms are updated where the work happens (dispatcher, planner, ingestion,
readiness, the REST API's middleware) and are per process, as Prometheus expects: scrape
each process that does work (``proseo serve --metrics-port``, ``proseo dispatcher run
--metrics-port``). Gauges of the database (job steps by facility and state, orders by
mission and state, facility capacity) are read at each scrape by the collector that
:func:`proseo.api.metrics.register_database_collector` adds.

Names follow Prometheus' conventions: ``proseo_`` prefix, base units (seconds), ``_total`` for
counters. Label values are bounded sets (facility names, product types, job step outcomes,
route templates, HTTP methods and status codes), never identifiers of orders or products.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

REGISTRY = CollectorRegistry(auto_describe=True)
"""Everything :func:`prometheus_client.generate_latest` exposes for proseo-py."""

_SHORT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Buckets (seconds) for work that should take well under a minute."""
_RUNS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
"""Buckets (seconds) for processor runs: a second to six hours."""

JOB_STEPS_DISPATCHED = Counter(
    "proseo_job_steps_dispatched",
    "Job steps handed to a facility's executor (one per attempt).",
    ["facility"],
    registry=REGISTRY,
)
JOB_STEPS_FINISHED = Counter(
    "proseo_job_steps_finished",
    "Job step runs collected by the dispatcher, by outcome (COMPLETED, FAILED, or REQUEUED "
    "after a storage outage).",
    ["facility", "outcome"],
    registry=REGISTRY,
)
JOB_STEP_DURATION = Histogram(
    "proseo_job_step_duration_seconds",
    "Wall time of a job step's run (processor wrapper start to end, from its manifest).",
    ["facility"],
    buckets=_RUNS,
    registry=REGISTRY,
)
INPUT_TO_READY = Histogram(
    "proseo_input_to_ready_seconds",
    "From an input's arrival (ingested, or the producing run's end) to the waiting job steps "
    "it completed becoming READY.",
    buckets=_SHORT,
    registry=REGISTRY,
)
PLAN_DURATION = Histogram(
    "proseo_plan_duration_seconds",
    "Planning one processing order (committed plans, dry runs excluded).",
    buckets=_SHORT,
    registry=REGISTRY,
)
PLANNED_JOB_STEPS = Counter(
    "proseo_planned_job_steps",
    "Job steps created by committed plans.",
    registry=REGISTRY,
)
PRODUCTS_INGESTED = Counter(
    "proseo_products_ingested",
    "Products catalogued by ingestion (REST, CLI, pickup points, bulk batches).",
    ["product_type"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "proseo_http_requests",
    "REST API requests, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "proseo_http_request_duration_seconds",
    "REST API request durations, by method and route template.",
    ["method", "route"],
    buckets=_SHORT,
    registry=REGISTRY,
)


def count_ingested_on_commit(session: Session, product_types: Iterable[str]) -> None:
    """Add the products (one product type per product) to ``proseo_products_ingested_total``
    once ``session``'s transaction commits; nothing if it rolls back."""
    tally = Tally(product_types)
    if not tally:
        return

    def count(_session: Session) -> None:
        for product_type, n in tally.items():
            PRODUCTS_INGESTED.labels(product_type).inc(n)

    event.listen(session, "after_commit", count, once=True)
