"""Pickup points: a folder watched for new products (the embedded kind; S3 prefixes follow).

Each scan groups the settled files (unchanged for ``settle_s`` seconds) into products with the
mission plug-ins and ingests every product on its own, so one bad product never blocks the
others. Ingested files move to ``.ingested/``; a product that fails moves to ``.failed/`` with
``<file>.reason.txt`` saying why; files that belong to no complete product after
``orphan_after_s`` seconds are set aside the same way. Hence each file is ingested once.
:func:`watch` runs scans on an interval with APScheduler.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingestor.service import IngestItem, ingest
from proseo.db import Database
from proseo.errors import ProseoError
from proseo.plugins import MissionPlugin, load_mission_plugins
from proseo.storage import Storage

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


def _move(files: list[Path], folder: Path, target: str, reason: str | None = None) -> None:
    destination = folder / target
    destination.mkdir(exist_ok=True)
    for path in files:
        moved = destination / path.name
        shutil.move(str(path), moved)
        if reason is not None:
            moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")


def scan_once(
    database: Database,
    storage: Storage,
    folder: Path,
    *,
    plugins: list[MissionPlugin] | None = None,
    settle_s: float = 2.0,
    orphan_after_s: float = 3600.0,
    now: float | None = None,
) -> ScanReport:
    """Ingest what has arrived in ``folder``; see the module docstring."""
    moment = time.time() if now is None else now
    report = ScanReport()
    candidates = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and moment - p.stat().st_mtime >= settle_s
    )
    if not candidates:
        return report
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
                outcome = ingest(database, storage, [IngestItem(code, metadata, files)])
            except ProseoError as error:
                _move(files, folder, FAILED, error.message)
                report.failed.append((files[0].name, error.message))
                continue
            report.woken += outcome.woken
            if outcome.ingested:
                report.ingested.append(files[0].name)
            else:
                report.already.append(files[0].name)
            _move(files, folder, INGESTED)
    for path in candidates:
        if path not in claimed and moment - path.stat().st_mtime >= orphan_after_s:
            reason = (
                f"no mission plug-in made a complete product of it within {orphan_after_s:.0f} s"
            )
            _move([path], folder, FAILED, reason)
            report.failed.append((path.name, reason))
    return report


def watch(
    database: Database,
    storage: Storage,
    folder: Path,
    *,
    interval_s: float = 10.0,
    on_report: Callable[[ScanReport], None] | None = None,
) -> None:
    """Scan ``folder`` every ``interval_s`` seconds until interrupted (APScheduler)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")

    def tick() -> None:
        report = scan_once(database, storage, folder)
        if on_report is not None:
            on_report(report)

    scheduler.add_job(tick, "interval", seconds=interval_s, max_instances=1, coalesce=True)
    tick()
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
