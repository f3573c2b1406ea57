"""``proseo serve`` as a process of its own on a free localhost port, for the tests and the
benchmarks: start it and wait until it answers, stop it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from proseo.api.app import API_PREFIX
from proseo.db import Database
from tests.pgcluster import free_port


def start_server(
    url: str, data_dir: Path, *options: str, timeout_s: float = 20.0
) -> tuple[subprocess.Popen[bytes], str]:
    """``proseo serve`` on the database ``url`` with ``options``; its output goes to
    ``<data_dir>/serve.log``. Returns the process and its root URL
    (``http://127.0.0.1:<port>``) once ``/health`` answers 200.

    :raises AssertionError: when it does not answer within ``timeout_s`` seconds (it is
        stopped; the log says why).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "serve.log").open("w")
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "proseo"),
            "--database-url", url, "--data-dir", str(data_dir),
            "serve", "--port", str(port), *options,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()  # the child has its own handle; a pipe would fill up and block the server
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{root}{API_PREFIX}/health", timeout=1).status_code == 200:
                return server, root
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"proseo serve did not come up; see {data_dir / 'serve.log'}")


def serve_database(
    database: Database, data_dir: Path, *options: str
) -> tuple[subprocess.Popen[bytes], str]:
    """:func:`start_server` on ``database``; returns the process and the base URL of the
    versioned API."""
    url = database.engine.url.render_as_string(hide_password=False)
    server, root = start_server(url, data_dir, *options)
    return server, f"{root}{API_PREFIX}"


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, and SIGKILL if it has not ended after ``timeout_s`` seconds."""
    server.terminate()
    try:
        server.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
