"""Pickup points: a folder or an S3 prefix watched for new products.

Each scan groups the settled files (unchanged for ``settle_s`` seconds) into products with the
mission plug-ins and ingests every product on its own, so one bad product never blocks the
others. Ingested files move to ``.ingested/``; a product that fails moves to ``.failed/`` with
``<file>.reason.txt`` saying why; files that belong to no complete product after
``orphan_after_s`` seconds are set aside the same way. Hence each file is ingested once. When
the database or the storage is busy or out of reach (an outage), the files stay where they
are and the next scan tries them again; a scan that meets an outage stops there, and the
next scans come after 2, 4, 8 ... times the interval (at most 60 s) until one gets through.
:func:`watch` runs scans on an interval with APScheduler.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingestor.service import IngestItem, ingest
from proseo.backoff import Backoff
from proseo.db import Database
from proseo.errors import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    ProseoError,
    StorageError,
    StorageUnavailableError,
)
from proseo.plugins import MissionPlugin, load_mission_plugins
from proseo.storage import Storage
from proseo.storage.s3 import S3Storage

log = logging.getLogger(__name__)

INGESTED = ".ingested"
FAILED = ".failed"


@dataclass
class ScanReport:
    """One scan: products ingested, already catalogued (the same content: a no-op), and
    failed (file and reason), by main file name."""

    ingested: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    woken: int = 0
    outage: str | None = None
    """Set when the scan stopped because the database or the storage could not be reached
    (the message); what was left stays for a later scan."""


OUTAGE_BACKOFF_MAX_S = 60.0
"""The longest pause (seconds) between scans while the database or storage is away."""


def outage_backoff(interval_s: float) -> Backoff:
    """The back-off of one pickup point scanned every ``interval_s`` seconds: after a scan
    that met an outage, the next come after 2, 4, 8 ... times the interval (at most 60 s),
    so an outage is not met by a scan (and a log line per file) every interval."""
    return Backoff(first_s=2 * interval_s, max_s=OUTAGE_BACKOFF_MAX_S)


def scan_with_backoff(
    scan: Callable[[], ScanReport], backoff: Backoff
) -> tuple[ScanReport | None, str | None]:
    """Run ``scan`` if ``backoff`` says it is due.

    :returns: ``(None, None)`` when it is not due; otherwise its report (``None`` when the
        scan failed as a whole) and, after an outage or a failure of the pickup point, a line
        for the log saying when the next scan comes.
    """
    if not backoff.due():
        return None, None
    try:
        report = scan()
    except (DatabaseBusyError, StorageUnavailableError) as error:
        return None, f"{error.message} (next scan in {backoff.failed():.0f} s)"
    except ProseoError as error:
        return None, f"pickup point: {error.message}"
    if report.outage is not None:
        return report, f"{report.outage} (next scan in {backoff.failed():.0f} s)"
    backoff.passed()
    return report, None


def _move(files: list[Path], folder: Path, target: str, reason: str | None = None) -> None:
    destination = folder / target
    destination.mkdir(exist_ok=True)
    for path in files:
        moved = destination / path.name
        shutil.move(str(path), moved)
        if reason is not None:
            moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")


def _scan_files(
    database: Database,
    storage: Storage,
    candidates: list[Path],
    ages: dict[Path, float],
    *,
    set_aside: Callable[[list[Path], str, str | None], None],
    plugins: list[MissionPlugin] | None,
    orphan_after_s: float,
    facility: str | None = None,
) -> ScanReport:
    """Group settled local ``candidates`` into products, ingest each on its own and set its
    files aside with ``set_aside(files, INGESTED|FAILED, reason)``; ``ages`` are seconds
    since each file arrived (for orphans)."""
    report = ScanReport()
    claimed: set[Path] = set()
    for plugin in plugins if plugins is not None else list(load_mission_plugins().values()):
        code = plugin.definition().code
        try:
            groups = plugin.group_files([p for p in candidates if p not in claimed])
        except ProseoError as error:
            report.failed.append((code, error.message))
            continue
        for metadata, files in groups:
            claimed.update(files)
            try:
                outcome = ingest(
                    database,
                    storage,
                    [IngestItem(code, metadata, files)],
                    facility,
                    user="pickup",
                )
            except (DatabaseUnavailableError, StorageUnavailableError) as error:
                # an outage: the other products would meet it too; all stay for a later scan
                report.outage = error.message
                return report
            except (DatabaseBusyError, StorageError) as error:
                # the database or the storage is busy or refused, not the files' fault:
                # they stay where they are for the next scan
                report.failed.append((files[0].name, f"{error.message} (left for the next scan)"))
                continue
            except ProseoError as error:
                set_aside(files, FAILED, error.message)
                report.failed.append((files[0].name, error.message))
                continue
            report.woken += outcome.woken
            if outcome.ingested:
                report.ingested.append(files[0].name)
            else:
                report.already.append(files[0].name)
            set_aside(files, INGESTED, None)
    for path in candidates:
        if path not in claimed and ages[path] >= orphan_after_s:
            reason = (
                f"no mission plug-in made a complete product of it within {orphan_after_s:.0f} s"
            )
            set_aside([path], FAILED, reason)
            report.failed.append((path.name, reason))
    return report


def scan_once(
    database: Database,
    storage: Storage,
    folder: Path,
    *,
    plugins: list[MissionPlugin] | None = None,
    settle_s: float = 2.0,
    orphan_after_s: float = 3600.0,
    now: float | None = None,
    facility: str | None = None,
) -> ScanReport:
    """Ingest what has arrived in ``folder``; see the module docstring."""
    moment = time.time() if now is None else now
    ages = {
        p: moment - p.stat().st_mtime
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }
    candidates = sorted(p for p, age in ages.items() if age >= settle_s)
    if not candidates:
        return ScanReport()
    return _scan_files(
        database,
        storage,
        candidates,
        ages,
        set_aside=lambda files, target, reason: _move(files, folder, target, reason),
        plugins=plugins,
        orphan_after_s=orphan_after_s,
        facility=facility,
    )


def scan_s3_once(
    database: Database,
    storage: Storage,
    pickup: S3Storage,
    prefix: str = "",
    *,
    plugins: list[MissionPlugin] | None = None,
    settle_s: float = 2.0,
    orphan_after_s: float = 3600.0,
    facility: str | None = None,
) -> ScanReport:
    """Ingest what has arrived under ``prefix`` of an S3 pickup bucket (objects directly
    under it, settled for ``settle_s`` seconds by their LastModified): they are downloaded
    to a temporary folder, grouped and ingested like a folder's files, then moved (server
    side) to ``<prefix>/ingested/`` or ``<prefix>/failed/`` with ``<name>.reason.txt``."""
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    now = datetime.now(UTC)
    entries = [
        (key, (now - modified).total_seconds())
        for key, modified in pickup.entries(base)
        if "/" not in key[len(base) :] and not key[len(base) :].startswith(".")
    ]
    settled = [(key, age) for key, age in entries if age >= settle_s]
    if not settled:
        return ScanReport()
    with tempfile.TemporaryDirectory(prefix="proseo-pickup-") as temporary:
        folder = Path(temporary)
        keys: dict[Path, str] = {}
        ages: dict[Path, float] = {}
        for key, age in settled:
            path = pickup.get(key, folder / key[len(base) :])
            keys[path] = key
            ages[path] = age

        def set_aside(files: list[Path], target: str, reason: str | None) -> None:
            for path in files:
                aside = f"{base}{target.lstrip('.')}"  # storage keys never start with a dot
                pickup.move(keys[path], f"{aside}/{path.name}")
                if reason is not None:
                    note = folder / f"{path.name}.reason.txt"
                    note.write_text(reason + "\n", encoding="utf-8")
                    pickup.put(note, f"{aside}/{note.name}")

        return _scan_files(
            database,
            storage,
            sorted(keys),
            ages,
            set_aside=set_aside,
            plugins=plugins,
            orphan_after_s=orphan_after_s,
            facility=facility,
        )


def watch(
    scan: Callable[[], ScanReport],
    *,
    interval_s: float = 10.0,
    on_report: Callable[[ScanReport], None] | None = None,
) -> None:
    """Run ``scan`` (e.g. :func:`scan_once` or :func:`scan_s3_once` with their arguments
    bound) every ``interval_s`` seconds until interrupted (APScheduler). A scan that fails
    as a whole (the pickup folder or bucket unreachable) is reported and retried; during an
    outage with back-off (:func:`outage_backoff`)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    backoff = outage_backoff(interval_s)

    def tick() -> None:
        report, problem = scan_with_backoff(scan, backoff)
        if report is None and problem is None:
            return
        if report is None:
            report = ScanReport()
        if problem is not None:
            report.failed.append(("pickup point", problem))
        if on_report is not None:
            on_report(report)

    scheduler.add_job(tick, "interval", seconds=interval_s, max_instances=1, coalesce=True)
    tick()
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


def start_pickup_monitor(scans: list[Callable[[], ScanReport]], interval_s: float) -> Any:
    """Run every scan of ``scans`` each ``interval_s`` seconds in a background thread
    (APScheduler; ``proseo serve --pickup``). Failures are logged; the monitor carries on,
    backing off while the database or the storage is away (:func:`outage_backoff`).

    :returns: the running scheduler (call ``shutdown()`` to stop it).
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    backoffs = [outage_backoff(interval_s) for _ in scans]

    def tick() -> None:
        for scan, backoff in zip(scans, backoffs, strict=True):
            try:
                report, problem = scan_with_backoff(scan, backoff)
            except Exception:
                log.exception("pickup scan failed")
                continue
            if problem is not None:
                log.warning("pickup: %s", problem)
            if report is None:
                continue
            for name, reason in report.failed:
                log.warning("pickup: %s: %s", name, reason)
            if report.ingested:
                log.info("pickup: ingested %s", ", ".join(report.ingested))

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", seconds=interval_s, max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
