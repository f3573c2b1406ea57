"""The Prometheus side of the service: database gauges read at each scrape, the REST API's
request metrics (an ASGI middleware), and the metrics endpoint (``GET /metrics`` on its own
port, :func:`start_metrics_server`).

The metrics port is not the API's: it has no login, like other exporters, and listens on
127.0.0.1 unless told otherwise; expose it only where the scraper runs. What it tells is
operational (counts by facility, mission and state, durations), never product or order
identifiers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orderman.monitoring import (
    facility_capacities,
    job_step_counts,
    order_counts,
    requeue_counts,
)
from proseo.db import Database
from proseo.metrics import HTTP_DURATION, HTTP_REQUESTS, REGISTRY

log = logging.getLogger(__name__)


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape (:mod:`orderman.monitoring`):
    ``proseo_job_steps`` (facility, state; the states of ``ACTIVE_STEP_STATES``),
    ``proseo_orders`` (mission, state) and
    ``proseo_facility_capacity`` (facility: ``max_job_steps``),
    ``proseo_job_steps_held_back`` and ``proseo_job_step_requeues_max`` (facility: job steps
    requeued after a storage outage and held back now, the most requeues of one unfinished
    step; see :func:`orderman.monitoring.requeue_counts`). A failing read is logged and
    yields no samples (the scrape still answers, with ``proseo_database_up`` 0)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One read transaction per scrape."""
        steps = GaugeMetricFamily(
            "proseo_job_steps",
            "Job steps by facility and state (PLANNED, WAITING_INPUT, READY, RUNNING, FAILED).",
            labels=["facility", "state"],
        )
        orders = GaugeMetricFamily(
            "proseo_orders", "Processing orders by mission and state.", labels=["mission", "state"]
        )
        capacity = GaugeMetricFamily(
            "proseo_facility_capacity",
            "Most job steps a facility runs at once (max_job_steps), by facility and state.",
            labels=["facility", "state"],
        )
        held_back = GaugeMetricFamily(
            "proseo_job_steps_held_back",
            "READY job steps requeued after a storage outage and held back now, by facility.",
            labels=["facility"],
        )
        requeues = GaugeMetricFamily(
            "proseo_job_step_requeues_max",
            "Most storage-outage requeues of one unfinished job step, by facility "
            "(climbing: the facility's storage stays out of reach).",
            labels=["facility"],
        )
        up = GaugeMetricFamily("proseo_database_up", "1 when the scrape could read the database.")
        try:
            with self.database.transaction() as session:
                for facility, state, count in job_step_counts(session):
                    steps.add_metric([facility, state], count)
                for mission, order_state, count in order_counts(session):
                    orders.add_metric([mission, order_state], count)
                for name, facility_state, most in facility_capacities(session):
                    capacity.add_metric([name, facility_state], most)
                for requeued in requeue_counts(session):
                    held_back.add_metric([requeued.facility], requeued.held_back)
                    requeues.add_metric([requeued.facility], requeued.most_requeues)
            up.add_metric([], 1)
        except Exception as error:  # a scrape must answer; the reason goes to the log
            log.warning("metrics: reading the database failed: %s", error)
            up.add_metric([], 0)
        yield from (steps, orders, capacity, held_back, requeues, up)


def register_database_collector(
    database: Database, registry: CollectorRegistry = REGISTRY
) -> DatabaseCollector:
    """Add the database gauges to ``registry`` (once per process and registry)."""
    collector = DatabaseCollector(database)
    registry.register(collector)
    return collector


def start_metrics_server(
    database: Database, port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> Any:
    """Serve ``GET /metrics`` (Prometheus text format) of ``registry``, database gauges
    included, on ``host``:``port`` in a background thread.

    :returns: prometheus-client's server (``shutdown()`` stops it).
    :raises OSError: when the port cannot be bound."""
    register_database_collector(database, registry)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%s/metrics", host, port)
    return server


Scope = MutableMapping[str, Any]


def _route_template(scope: Scope) -> str:
    """The matched route as a template (``/api/v1/orders/{order_id}``): the request path
    with each path parameter's segment named, or ``unmatched`` when no route matched (so a
    scan of random URLs cannot grow the label set)."""
    if scope.get("route") is None:
        return "unmatched"
    values = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{values[s]}}}" if s in values else s for s in segments)


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware counting REST requests by method, route template (``/api/v1/orders/
    {order_id}``, or ``unmatched``) and status, and timing them. Pure ASGI, so request
    bodies stay streamed (uploads)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count it when the response ended (500 if none started)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
