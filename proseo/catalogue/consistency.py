"""Storage against catalogue: which stored objects no product file row names (orphans: an
upload whose ingestion was rolled back or killed, a deletion whose object removal failed) and
which product file rows name an object that is not stored (missing files).

:func:`check_consistency` only reports (``proseo facility check``, and periodically in the
server with ``--consistency-interval``); :func:`repair` is the separate, explicit step
(``proseo facility repair``): it deletes orphans older than a grace period, after checking
again that no row names them, and with ``forget_missing`` drops the rows of missing files
(their products stay in the catalogue, without that file at that facility).

Only keys under the mission codes (``<mission>/...``, where proseo-py stores product files)
are looked at; anything else in a bucket or folder is not proseo-py's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from proseo.catalogue.facilities import get_facility
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import StorageError
from proseo.model import Mission, ProductFile
from proseo.storage import Storage
from proseo.storage.factory import facility_storage

log = logging.getLogger(__name__)


@dataclass
class ConsistencyReport:
    """The outcome of one check of one facility's storage.

    ``objects``: keys found under the mission prefixes; ``catalogued``: keys the product file
    rows of the facility name (main and auxiliary files); ``orphans``: stored keys no row
    names, with their age in seconds when the storage tells it (S3), else ``None``;
    ``missing``: (product id, key) of rows whose object is not stored; ``seconds`` taken."""

    facility: str
    objects: int = 0
    catalogued: int = 0
    orphans: list[tuple[str, float | None]] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def consistent(self) -> bool:
        """Whether storage and catalogue agree."""
        return not self.orphans and not self.missing

    def as_dict(self) -> dict[str, Any]:
        """JSON data (CLI ``--format json``)."""
        return {
            "facility": self.facility,
            "objects": self.objects,
            "catalogued": self.catalogued,
            "orphans": [{"key": k, "age_s": age} for k, age in self.orphans],
            "missing": [{"product": p, "key": k} for p, k in self.missing],
            "consistent": self.consistent,
            "seconds": round(self.seconds, 3),
        }


def _catalogued(database: Database, facility_id: int) -> dict[str, int]:
    """Every key the facility's product file rows name, with the product id."""
    keys: dict[str, int] = {}
    with database.transaction() as session:
        for product_id, folder, name, auxiliary in session.execute(
            select(
                ProductFile.product_id,
                ProductFile.file_path,
                ProductFile.product_file_name,
                ProductFile.auxiliary_file_names,
            ).where(ProductFile.processing_facility_id == facility_id)
        ):
            prefix = f"{folder}/" if folder else ""
            for file_name in (name, *auxiliary):
                keys[prefix + file_name] = product_id
    return keys


def _stored(storage: Storage, prefixes: list[str]) -> dict[str, float | None]:
    """Stored keys under ``prefixes`` with their age in seconds where known."""
    now = datetime.now(UTC)
    found: dict[str, float | None] = {}
    entries = getattr(storage, "entries", None)
    for prefix in prefixes:
        if entries is not None:
            for key, modified in entries(prefix):
                found[key] = (now - modified).total_seconds()
        else:
            for key in storage.list(prefix):
                found[key] = _posix_age(storage, key)
    return found


def _posix_age(storage: Storage, key: str) -> float | None:
    root = getattr(storage, "root", None)
    if root is None:
        return None
    try:
        return float(time.time() - (root / key).stat().st_mtime)
    except OSError:
        return None


def check_consistency(
    database: Database, settings: Settings, facility: str | None = None
) -> ConsistencyReport:
    """Compare the storage of ``facility`` (default: the default facility) with the product
    file rows that name it. Reads only; the storage is listed under each mission's code.

    :raises InvalidInputError: for an unknown facility.
    :raises StorageError: when the storage cannot be listed (an outage)."""
    started = time.perf_counter()
    with database.transaction() as session:
        row = get_facility(session, facility)
        name, facility_id = row.name, row.id
        storage = facility_storage(row, settings)
        codes = list(session.scalars(select(Mission.code).order_by(Mission.code)))
    catalogued = _catalogued(database, facility_id)
    stored = _stored(storage, [f"{code}/" for code in codes])
    report = ConsistencyReport(
        facility=name,
        objects=len(stored),
        catalogued=len(catalogued),
        orphans=sorted((k, age) for k, age in stored.items() if k not in catalogued),
        missing=sorted(((p, k) for k, p in catalogued.items() if k not in stored), key=_by_key),
    )
    report.seconds = time.perf_counter() - started
    return report


def _by_key(item: tuple[int, str]) -> tuple[str, int]:
    return item[1], item[0]


@dataclass
class Repair:
    """What :func:`repair` did: orphans deleted, orphans kept (younger than the grace
    period, or named by a row meanwhile), file rows dropped, failures."""

    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    forgotten: list[tuple[int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def repair(
    database: Database,
    settings: Settings,
    report: ConsistencyReport,
    *,
    orphans_older_than_s: float = 3600.0,
    forget_missing: bool = False,
) -> Repair:
    """Mend what ``report`` found: delete its orphans older than ``orphans_older_than_s``
    (an upload of an ingestion still running is young; an orphan of unknown age is kept
    unless the grace period is 0), each after checking that no row names it now; with
    ``forget_missing``, drop the product file rows whose object is still not stored.

    :raises InvalidInputError: for an unknown facility."""
    done = Repair()
    with database.transaction() as session:
        row = get_facility(session, report.facility)
        storage = facility_storage(row, settings)
        facility_id = row.id
    catalogued = _catalogued(database, facility_id)
    for key, age in report.orphans:
        old_enough = orphans_older_than_s <= 0 or (age is not None and age >= orphans_older_than_s)
        if key in catalogued or not old_enough:
            done.kept.append(key)
            continue
        try:
            storage.delete(key)
            done.deleted.append(key)
        except StorageError as error:
            done.failures.append(f"{key}: {error.message}")
    if forget_missing and report.missing:
        with database.transaction() as session:
            for product_id, key in report.missing:
                if storage.exists(key):
                    continue
                folder, _, file_name = key.rpartition("/")
                rows = session.scalars(
                    select(ProductFile).where(
                        ProductFile.product_id == product_id,
                        ProductFile.processing_facility_id == facility_id,
                        ProductFile.product_file_name == file_name,
                        ProductFile.file_path == folder,
                    )
                ).all()
                for file_row in rows:
                    session.delete(file_row)
                    done.forgotten.append((product_id, key))
    for key in done.deleted:
        log.info("repair: deleted orphaned object %s at %s", key, report.facility)
    for product_id, key in done.forgotten:
        log.warning(
            "repair: forgot the missing file %s of product %d at %s",
            key,
            product_id,
            report.facility,
        )
    return done


def start_consistency_checks(
    database: Database, settings: Settings, interval_s: float, facilities: list[str] | None = None
) -> Any:
    """Check the storage of every facility (or of ``facilities``) every ``interval_s`` seconds
    in a background thread (``proseo serve --consistency-interval``) and log what is found;
    it never repairs.

    :returns: the running :class:`~proseo.db.wakeup.BackgroundWorker`."""
    from proseo.catalogue.facilities import list_facilities
    from proseo.db.wakeup import BackgroundWorker

    started = False

    def round_() -> float:
        nonlocal started
        if not started:  # the first check one interval after the start, not at every start
            started = True
            return interval_s
        with database.transaction() as session:
            names = facilities or [f.name for f in list_facilities(session)]
        for name in names:
            try:
                found = check_consistency(database, settings, name)
            except StorageError as error:
                log.warning("consistency check of %s: %s", name, error.message)
                continue
            if found.consistent:
                log.info("consistency check of %s: %d objects, all catalogued", name, found.objects)
            else:
                log.warning(
                    "consistency check of %s: %d orphaned objects, %d missing files "
                    "(proseo facility check %s; proseo facility repair %s)",
                    name,
                    len(found.orphans),
                    len(found.missing),
                    name,
                    name,
                )
        return interval_s

    return BackgroundWorker("consistency", round_, None, (), interval_s).start()
