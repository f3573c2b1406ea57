"""Prometheus metrics (issue 18): a real `proseo serve --metrics-port` scraped over HTTP while
its dispatcher runs an order, and the counters of planning and ingestion in this process,
which count committed work only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingestor.service import IngestItem, ingest
from orderman.service import run_command, run_plan
from proseo.api.metrics import register_database_collector
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import StorageError
from proseo.metrics import REGISTRY
from proseo.plugins import get_mission_plugin
from proseo.storage import PosixStorage
from tests.conftest import TST_ORBIT, TST_T0, FailingStorage, approved_tst_order
from tests.pgcluster import free_port
from tests.servers import serve_database, stop_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_served_order_shows_in_the_metrics(
    tst: Database, tst_settings: Settings, tmp_path: Path
) -> None:
    """The server's dispatcher runs a two-step order (L1B, then L2 woken by the L1B's
    output); its metrics port then tells exactly that, the requests the API answered (by route
    template and status) and the database's gauges."""
    port = free_port()
    server, base = serve_database(
        tst,
        tst_settings.data_dir,
        "--sweep-interval",
        "0",
        "--dispatch-interval",
        "0.3",
        "--metrics-port",
        str(port),
    )
    try:
        assert httpx.get(f"{base}/orders").status_code == 401
        assert httpx.get(f"{base}/orders/12345").status_code == 401
        order_id = approved_tst_order(tst, orbits=[{"spacecraft": "TST1", "from": 1, "to": 1}])
        run_plan(tst, order_id)
        run_command(tst, order_id, "release")
        deadline = time.monotonic() + 60
        while True:
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            samples = _samples(scraped.text)
            if _value(samples, "proseo_orders", mission="TST", state="COMPLETED") == 1:
                break
            assert time.monotonic() < deadline, scraped.text
            time.sleep(0.3)
    finally:
        stop_server(server)
    assert scraped.headers["content-type"].startswith("text/plain")
    assert _value(samples, "proseo_database_up") == 1
    assert _value(samples, "proseo_job_steps_dispatched_total", facility="localhost") == 2
    assert (
        _value(
            samples, "proseo_job_steps_finished_total", facility="localhost", outcome="COMPLETED"
        )
        == 2
    )
    assert _value(samples, "proseo_job_step_duration_seconds_count", facility="localhost") == 2
    assert _value(samples, "proseo_input_to_ready_seconds_count") == 1  # the L2, woken
    for state in ("READY", "RUNNING", "WAITING_INPUT"):
        assert _value(samples, "proseo_job_steps", facility="localhost", state=state) == 0
    assert _value(samples, "proseo_facility_capacity", facility="localhost", state="RUNNING") > 0
    by_route = {
        (dict(labels)["route"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "proseo_http_requests_total"
    }
    assert by_route.get(("/api/v1/orders", "401")) == 1, by_route
    assert by_route[("/api/v1/orders/{order_id}", "401")] == 1  # the template, not the id
    assert by_route[("/api/v1/health", "200")] >= 1
    assert not any("12345" in route for route, _ in by_route)


def test_planning_and_ingestion_count_committed_work_only(tst: Database, tmp_path: Path) -> None:
    """Planning adds its job steps and one duration; an ingestion adds its products by
    product type, but not when it fails and is rolled back. The database gauges go to any
    registry they are added to."""
    before = _samples(generate_latest(REGISTRY).decode())
    order_id = approved_tst_order(tst)
    run_plan(tst, order_id)
    plugin = get_mission_plugin("TST")
    start = TST_T0 + 10 * TST_ORBIT
    paths = []
    for k in range(3):
        path = tmp_path / (
            f"TST_OPER_L0_________{start + k * TST_ORBIT / 5:%Y%m%dT%H%M%S}_"
            f"{start + (k + 1) * TST_ORBIT / 5:%Y%m%dT%H%M%S}_00011_{TST_T0:%Y%m%dT%H%M%S}.dat"
        )
        path.write_bytes(f"granule {k}".encode())
        paths.append(path)
    items = [IngestItem("TST", m, files) for m, files in plugin.group_files(paths)]
    assert len(items) == 3

    with pytest.raises(StorageError, match="injected"):
        ingest(tst, FailingStorage(tmp_path / "failing", fail_at=3), items)
    assert len(ingest(tst, PosixStorage(tmp_path / "storage"), items).outcomes) == 3
    after = _samples(generate_latest(REGISTRY).decode())

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("proseo_planned_job_steps_total") == 4  # L1B and L2 of orbits 1-2
    assert delta("proseo_plan_duration_seconds_count") == 1
    assert delta("proseo_products_ingested_total", product_type="L0________") == 3
    registry = CollectorRegistry()
    register_database_collector(tst, registry)
    gauges = _samples(generate_latest(registry).decode())
    assert _value(gauges, "proseo_orders", mission="TST", state="PLANNED") == 1
    assert _value(gauges, "proseo_job_steps", facility="localhost", state="PLANNED") == 4
