"""A private, throwaway PostgreSQL cluster for the test suite (see shared INFRA.md).

``initdb`` refuses to run as root, so as root the cluster is created and started as the
``postgres`` user. The cluster listens on 127.0.0.1 on a free port with its socket in its own
folder, with ``fsync=off``: fast, and independent of whatever else runs on the machine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresClusterError(RuntimeError):
    """The private cluster could not be created or started."""


def _find_bindir() -> Path:
    candidates = [os.environ.get("PROSEO_PG_BINDIR", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresClusterError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; install the Debian package "
        "postgresql or set PROSEO_TEST_DATABASE_URL to an existing server"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """Create with :meth:`start`, connect with :attr:`url`, remove with :meth:`stop`."""

    def __init__(self) -> None:
        self.bindir = _find_bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="proseo-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``postgres`` database (trust authentication)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresClusterError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
            )

    def start(self) -> PostgresCluster:
        """Initialise and start the cluster; about a second on a small machine."""
        if self._as_postgres:
            shutil.chown(self.directory, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server of the initialised cluster (again, after :meth:`pause`)."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c timezone=UTC"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def pause(self) -> None:
        """Stop the server (every connection is cut), keeping the data: an outage."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """Stop the cluster and delete its folder."""
        with contextlib.suppress(PostgresClusterError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
