"""Chaos run: systematic production of the TST mission while processes are killed and the
database is stopped, at moments drawn from a seed; then the books are checked.

Production: a private PostgreSQL; ``proseo serve`` with a pickup folder, the production
triggers (a data-driven trigger makes an L2 order per L0 granule, auto-released, up to 10
retries: the kills aim at running steps, and late in the run few run) and no dispatcher of
its own; two ``proseo dispatcher run`` processes with the local executor and POSIX storage.
The L0 granules of ``--orbits`` orbits are dropped into the pickup folder orbit by orbit,
spread over the time the faults take. Meanwhile ``--faults`` faults are injected, one every
0.3-2 s:

- ``kill-server``: SIGKILL of ``proseo serve`` (restarted at once);
- ``kill-dispatcher``: SIGKILL of one dispatcher (restarted at once);
- ``kill-wrapper``: SIGKILL of a running processor wrapper (its run fails; the step retries);
- ``kill-processor``: SIGKILL of a running TST processor (the same);
- ``restart-postgres``: the database stopped for 1-4 s (every connection cut), then started.

At the end (everything ingested, every order finished, or ``--timeout``) it checks and
prints: every order COMPLETED and one per granule; every L1B and L2 product made exactly
once, with a file whose MD5 in storage matches the catalogue; no attempt of a job step ran its
processor twice (the processor's attempt log); storage and catalogue agree (no orphaned
object, no missing file: ``proseo facility check``); no job step left RUNNING; the faults
injected, by kind. Exit code 0 when every check passed.

    .venv/bin/python bench/chaos.py [--seed 1] [--faults 100] [--orbits 30]
    .venv/bin/python bench/chaos.py --short        # 12 faults over 6 orbits (CI)

With ``--slurm`` the job steps run on a private single-node Slurm (as the tests start it)
and ``restart-slurmctld`` (the controller down for 1-5 s) joins the faults. With ``--s3`` the
facility stores its products in a bucket of a private Ceph RADOS Gateway (as the tests start
it) and ``stop-s3`` joins them: the gateway stopped for ``--s3-outage`` seconds (60) while
the other faults go on, one stop per 40 faults (at least one) at even places among them. The
wrappers wait 20 s for the storage, then give up and the dispatcher requeues their runs
without counting an attempt (held back 5 s, doubling); pickup leaves the files it cannot
store for its next scan. The full run of the issue is ``--slurm --s3``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("kill-server", "kill-dispatcher", "kill-wrapper", "kill-processor", "restart-postgres")
"""The faults injected (``--slurm`` adds ``restart-slurmctld``, ``--s3`` adds ``stop-s3``)."""

S3_ENVIRONMENT = {
    "PROSEO_EXECUTOR__STORAGE_PATIENCE_S": "20",
    "PROSEO_EXECUTOR__REQUEUE_BACKOFF_S": "5",
}
"""With ``--s3``: the wrappers wait 20 s for the storage (so some runs give up in a 60 s
outage and are requeued), requeued runs are held back 5 s, doubling."""

GRANULES_PER_ORBIT = 5


class Production:
    """The processes of the production: the server and two dispatchers, restartable."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        pickup: Path,
        logs: Path,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.data_dir = data_dir
        self.pickup = pickup
        self.logs = logs
        self.environment = environment or {}
        self.server: subprocess.Popen[bytes] | None = None
        self.dispatchers: list[subprocess.Popen[bytes] | None] = [None, None]
        self.starts: Counter[str] = Counter()

    def _proseo(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.starts[name] += 1
        log = (self.logs / f"{name}-{self.starts[name]}.log").open("w")
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "proseo"),
                "--database-url",
                self.url,
                "--data-dir",
                str(self.data_dir),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "PROSEO_LOCAL": "1",
                "PROSEO_EXECUTOR__MAX_PARALLEL": "4",
                **self.environment,
            },
        )
        log.close()
        return process

    def start_server(self) -> None:
        """``proseo serve`` with the pickup folder and the triggers (no dispatcher)."""
        from tests.pgcluster import free_port

        self.server = self._proseo(
            "server",
            "serve",
            "--port",
            str(free_port()),
            "--pickup",
            str(self.pickup),
            "--pickup-interval",
            "0.5",
            "--trigger-interval",
            "0.5",
            "--sweep-interval",
            "5",
            "--dispatch-interval",
            "0",
        )

    def start_dispatcher(self, index: int) -> None:
        """Dispatcher ``index`` (0 or 1)."""
        self.dispatchers[index] = self._proseo(
            f"dispatcher{index}", "dispatcher", "run", "--interval", "0.3"
        )

    def start(self) -> None:
        """Everything."""
        self.start_server()
        for index in range(len(self.dispatchers)):
            self.start_dispatcher(index)

    def stop(self) -> None:
        """Everything, gently."""
        for process in [self.server, *self.dispatchers]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.server, *self.dispatchers]:
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()

    def died(self) -> list[str]:
        """Processes that ended by themselves (they must not: outages are ridden out)."""
        ended = []
        if self.server is not None and self.server.poll() is not None:
            ended.append(f"server (exit {self.server.returncode})")
        for index, process in enumerate(self.dispatchers):
            if process is not None and process.poll() is not None:
                ended.append(f"dispatcher{index} (exit {process.returncode})")
        return ended


def _processes() -> dict[int, tuple[int, str]]:
    """Every process: pid -> (parent pid, command line), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (parent, command)
    return found


def own_runs(data_dir: Path, kind: str) -> list[int]:
    """This run's own wrappers (their command line names a description in ``data_dir``) or
    the TST processors they started; never another process on the machine (a test suite
    running beside the chaos run has wrappers too)."""
    processes = _processes()
    wrappers = {
        pid
        for pid, (_, command) in processes.items()
        if "processor_wrappers" in command and str(data_dir) in command
    }
    if kind == "kill-wrapper":
        return sorted(wrappers)
    return sorted(
        pid
        for pid, (parent, command) in processes.items()
        if "missions.testmission.processor" in command and parent in wrappers
    )


class GatewayOutages:
    """Stops of the S3 gateway, each ``outage_s`` seconds long, in a thread of its own so the
    other faults go on meanwhile; one at a time."""

    def __init__(self, gateway: Any, outage_s: float) -> None:
        self.gateway = gateway
        self.outage_s = outage_s
        self.thread: threading.Thread | None = None
        self.back_at = 0.0

    def busy(self) -> bool:
        """Whether the gateway is stopped now, or came back less than 10 s ago."""
        running = self.thread is not None and self.thread.is_alive()
        return running or time.monotonic() - self.back_at < 10

    def stop_for_a_while(self) -> None:
        """Stop the gateway now and start it again after the outage (in the background)."""

        def outage() -> None:
            self.gateway.stop_gateway()
            try:
                time.sleep(self.outage_s)
            finally:
                self.gateway.start_gateway()
                self.back_at = time.monotonic()

        self.thread = threading.Thread(target=outage, daemon=True)
        self.thread.start()

    def wait(self) -> None:
        """Until the gateway is back."""
        if self.thread is not None:
            self.thread.join()


def inject(
    kind: str,
    production: Production,
    cluster: Any,
    rng: random.Random,
    slurm: Any = None,
    gateway: GatewayOutages | None = None,
) -> bool:
    """Inject one fault of ``kind``; ``False`` when there was nothing to hit (no run, or the
    gateway is already stopped)."""
    if kind == "kill-server":
        assert production.server is not None
        production.server.send_signal(signal.SIGKILL)
        production.server.wait()
        production.start_server()
        return True
    if kind == "kill-dispatcher":
        index = rng.randrange(len(production.dispatchers))
        process = production.dispatchers[index]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        production.start_dispatcher(index)
        return True
    if kind in ("kill-wrapper", "kill-processor"):
        running = own_runs(production.data_dir, kind)
        if not running:
            return False
        try:
            os.kill(rng.choice(running), signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True
    if kind == "restart-slurmctld":
        slurm.restart_controller(rng.uniform(1.0, 5.0))
        return True
    if kind == "stop-s3":
        assert gateway is not None
        if gateway.busy():
            return False
        gateway.stop_for_a_while()
        return True
    if kind == "restart-postgres":
        cluster.pause()
        time.sleep(rng.uniform(1.0, 4.0))
        cluster.resume()
        return True
    raise ValueError(kind)


def setup(
    url: str,
    data_dir: Path,
    work: Path,
    slurm_conf: str | None,
    s3_settings: dict[str, Any] | None = None,
) -> None:
    """Schema, TST, the L2 template and the data-driven trigger (through the CLI); the
    facility on Slurm when ``slurm_conf`` is given, its storage in S3 with ``s3_settings``
    (the keys sealed by ``proseo facility set``)."""

    def proseo(*args: str) -> None:
        subprocess.run(
            [
                str(Path(sys.executable).parent / "proseo"),
                "--database-url",
                url,
                "--data-dir",
                str(data_dir),
                *args,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PROSEO_LOCAL": "1"},
        )

    proseo("db", "upgrade")
    proseo("mission", "sync", "TST")
    if slurm_conf is not None:
        proseo(
            "facility", "set", "localhost", "--executor", "slurm",
            "--executor-settings", json.dumps({"slurm_conf": slurm_conf}),
        )  # fmt: skip
    if s3_settings is not None:
        proseo(
            "facility", "set", "localhost", "--storage", "S3",
            "--storage-settings", json.dumps(s3_settings),
        )  # fmt: skip
    template = {
        "mission": "TST",
        "name": "L2-NRT",
        "requested_product_classes": ["L2________"],
        "slicing_type": "ORBIT",
        "processing_mode": "OPER",
        "auto_release": True,
        # the faults aim at running job steps: late in the run, when few steps run, several
        # can hit the same one; a site's retry policy for a fault campaign
        "max_retries": 10,
        "dynamic_processing_parameters": {
            "tstRunLog": str(work / "runs.log"),
            "tstAttemptLog": str(work / "attempts.log"),
            "tstSleepSeconds": "1.5",
        },
    }
    (work / "l2.json").write_text(json.dumps(template))
    proseo("template", "create", "--file", str(work / "l2.json"))
    proseo(
        "trigger", "create", "ON-L0", "-m", "TST", "--kind", "DATA_DRIVEN", "--template",
        "L2-NRT", "--product-type", "L0________", "--settings", '{"window": "orbit"}',
    )  # fmt: skip


def feed(
    granules: list[Path], aux: list[Path], pickup: Path, pace_s: float, done: threading.Event
) -> None:
    """Drop the AUX file, then the granules orbit by orbit, one orbit every ``pace_s``."""
    for path in aux:
        shutil.move(path, pickup / path.name)
    for first in range(0, len(granules), GRANULES_PER_ORBIT):
        for path in granules[first : first + GRANULES_PER_ORBIT]:
            shutil.move(path, pickup / path.name)
        time.sleep(pace_s)
    done.set()


def finished(database: Any, expected_orders: int) -> bool:
    """Every granule ordered and every order finished (no step left to run)."""
    from sqlalchemy import func, select

    from proseo.enums import OrderState
    from proseo.errors import DatabaseBusyError
    from proseo.model import ProcessingOrder

    try:
        with database.transaction() as session:
            states = dict(
                session.execute(
                    select(ProcessingOrder.state, func.count()).group_by(ProcessingOrder.state)
                ).all()
            )
    except DatabaseBusyError:
        return False
    total = sum(states.values())
    done = states.get(OrderState.COMPLETED, 0) + states.get(OrderState.FAILED, 0)
    return total >= expected_orders and done == total


def requeued(database: Any) -> int:
    """Runs requeued without counting an attempt (they could not reach the storage)."""
    from sqlalchemy import func, select

    from proseo.model import JobStep

    with database.transaction() as session:
        return int(session.scalar(select(func.sum(JobStep.transient_failures))) or 0)


def check(database: Any, settings: Any, work: Path, orbits: int) -> dict[str, Any]:
    """The books after the run (see the module docstring)."""
    from sqlalchemy import func, select

    from proseo.catalogue.consistency import check_consistency
    from proseo.catalogue.facilities import storage_of_facility
    from proseo.enums import JobStepState, OrderState
    from proseo.model import JobStep, ProcessingOrder, ProductFile
    from tests.books import made_products

    results: dict[str, Any] = {}
    with database.transaction() as session:
        states = Counter(
            dict(
                session.execute(
                    select(ProcessingOrder.state, func.count()).group_by(ProcessingOrder.state)
                ).all()
            )
        )
        files = session.execute(
            select(ProductFile.file_path, ProductFile.product_file_name, ProductFile.checksum)
        ).all()
        running = session.scalar(
            select(func.count(JobStep.id)).where(JobStep.state == JobStepState.RUNNING)
        )
    total = sum(states.values())
    results["orders completed"] = (
        states.get(OrderState.COMPLETED, 0) == total == orbits * GRANULES_PER_ORBIT,
        f"{dict((s.value, n) for s, n in states.items())}, expected "
        f"{orbits * GRANULES_PER_ORBIT} COMPLETED",
    )
    made = made_products(database)
    per_class = Counter(product_type for product_type, _, _ in made)
    results["each product made once"] = (
        per_class == {"L1B_______": orbits, "L2________": orbits}
        and (max(made.values()) if made else 0) == 1,
        f"{dict(per_class)}, most of one window {max(made.values()) if made else 0}",
    )
    storage = storage_of_facility(database, settings)
    wrong = [
        f"{folder}/{name}"
        for folder, name, md5 in files
        if storage.stat(f"{folder}/{name}").md5 != md5
    ]
    results["stored MD5 matches the catalogue"] = (not wrong, f"{len(files)} files, {wrong[:3]}")
    attempts = Counter((work / "attempts.log").read_text().split())
    twice = [key for key, n in attempts.items() if n > 1]
    results["no attempt ran twice"] = (not twice, f"{len(attempts)} runs, twice: {twice[:5]}")
    report = check_consistency(database, settings)
    results["storage and catalogue agree"] = (
        report.consistent,
        f"{report.objects} objects, orphans {[k for k, _ in report.orphans][:3]}, "
        f"missing {report.missing[:3]}",
    )
    results["no job step left RUNNING"] = (running == 0, f"{running} RUNNING")
    return results


def main() -> int:
    """Command line; prints the faults and the checks."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--orbits", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--short", action="store_true", help="12 faults over 6 orbits")
    parser.add_argument(
        "--slurm",
        action="store_true",
        help="run the job steps on a private single-node Slurm (started here, as root) and "
        "add slurmctld restarts to the faults",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="store the products in a private Ceph RADOS Gateway (started here, as root) and "
        "add gateway stops to the faults",
    )
    parser.add_argument(
        "--s3-outage", type=float, default=60.0, help="seconds the gateway stays stopped"
    )
    args = parser.parse_args()
    if args.short:
        args.faults, args.orbits = 12, 6

    from missions.testmission.sample_data import write_sample_data
    from proseo.config import load_settings
    from proseo.db import Database, create_database_engine
    from tests.pgcluster import PostgresCluster

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="proseo-chaos-"))
    data_dir, pickup, logs = work / "data", work / "pickup", work / "logs"
    for folder in (data_dir, pickup, logs):
        folder.mkdir()
    cluster = PostgresCluster().start()
    slurm = None
    kinds: tuple[str, ...] = KINDS
    if args.slurm:
        from tests.slurmcluster import SlurmCluster

        slurm = SlurmCluster(work / "slurm").start()
        kinds = (*kinds, "restart-slurmctld")
    rgw = gateway = None
    s3_settings = None
    if args.s3:
        from proseo.storage.s3 import S3Storage
        from tests.cephcluster import CephRGW

        rgw = CephRGW(work / "ceph").start()
        s3_settings = {
            "kind": "s3", "bucket": "proseo-chaos", "prefix": "archive",
            "endpoint_url": rgw.endpoint_url, "access_key": rgw.access_key,
            "secret_key": rgw.secret_key,
        }  # fmt: skip
        S3Storage.from_settings(s3_settings).client.create_bucket(Bucket="proseo-chaos")
        gateway = GatewayOutages(rgw, args.s3_outage)
    # the gateway stops come at even places among the faults, one per 40 (at least one)
    count = max(1, args.faults // 40) if args.s3 else 0
    s3_stops = {args.faults * (k + 1) // (count + 1) for k in range(count)}

    production = Production(
        cluster.url, data_dir, pickup, logs, S3_ENVIRONMENT if args.s3 else None
    )
    try:
        setup(cluster.url, data_dir, work, None if slurm is None else str(slurm.conf), s3_settings)
        inputs = sorted(write_sample_data(work / "staging", 1, args.orbits))
        aux = [p for p in inputs if "AUX_ORB" in p.name]
        granules = [p for p in inputs if "L0____" in p.name]
        database = Database(create_database_engine(cluster.url))
        settings = load_settings(data_dir=data_dir, database_url=cluster.url)
        production.start()
        fed = threading.Event()
        # the orbits arrive over the time the faults take (about 1.8 s a fault with the
        # restarts), so the faults fall on a production that is busy
        pace = max(1.0, 1.8 * args.faults / args.orbits)
        threading.Thread(target=feed, args=(granules, aux, pickup, pace, fed), daemon=True).start()
        started = time.monotonic()
        injected: Counter[str] = Counter()
        missed: Counter[str] = Counter()
        while sum(injected.values()) < args.faults and time.monotonic() - started < args.timeout:
            time.sleep(rng.uniform(0.3, 2.0))
            kind = rng.choice(kinds)
            if sum(injected.values()) in s3_stops:
                s3_stops.discard(sum(injected.values()))
                kind = "stop-s3"
            if inject(kind, production, cluster, rng, slurm, gateway):
                injected[kind] += 1
            else:
                missed[kind] += 1
        print(f"seed {args.seed}: {sum(injected.values())} faults in "
              f"{time.monotonic() - started:.0f} s: {dict(injected)} "
              f"(nothing to hit: {dict(missed)})")  # fmt: skip
        if gateway is not None:
            gateway.wait()
        deadline = time.monotonic() + args.timeout
        while not (fed.is_set() and finished(database, args.orbits * GRANULES_PER_ORBIT)):
            if time.monotonic() > deadline:
                print("timeout: production did not finish")
                break
            time.sleep(1)
        died = production.died()
        production.stop()
        results = check(database, settings, work, args.orbits)
        results["no process exited by itself"] = (not died, ", ".join(died) or "none")
        ok = True
        for name, (passed, detail) in results.items():
            ok = ok and passed
            print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
        print(f"runs requeued without counting an attempt (storage outages): "
              f"{requeued(database)}")  # fmt: skip
        print(f"logs in {logs}")
        return 0 if ok else 1
    finally:
        production.stop()
        cluster.stop()
        if slurm is not None:
            slurm.stop()
        if gateway is not None:
            gateway.wait()
        if rgw is not None:
            rgw.stop()


if __name__ == "__main__":
    raise SystemExit(main())
