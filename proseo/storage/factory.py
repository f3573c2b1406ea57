"""The storage of a processing facility, from its settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proseo.errors import ConfigurationError
from proseo.storage.base import Storage
from proseo.storage.posix import PosixStorage


def facility_storage_settings(
    storage_type: str, storage_settings: dict[str, Any] | None, default_root: Path
) -> dict[str, Any]:
    """Storage settings as the processor wrapper receives them: ``{"kind": "posix", "root":
    <absolute path>}`` (root: the facility's ``root``, else ``default_root``)."""
    settings = dict(storage_settings or {})
    kind = str(settings.pop("kind", storage_type)).lower()
    if kind == "posix":
        return {"kind": "posix", "root": str(Path(settings.get("root", default_root)).resolve())}
    return {"kind": kind, **settings}


def open_storage(settings: dict[str, Any]) -> Storage:
    """The storage that ``settings`` (from :func:`facility_storage_settings`) describe.

    :raises ConfigurationError: for a storage kind this installation does not support.
    """
    kind = settings.get("kind", "posix")
    if kind == "posix":
        return PosixStorage(Path(settings["root"]))
    raise ConfigurationError(f"storage kind {kind!r} is not supported")
