"""The storage of a processing facility, from its settings or the process's defaults.

Storage settings are plain data, as the processor wrapper receives them in a job step
description: ``{"kind": "posix", "root": <absolute path>}`` or ``{"kind": "s3", "bucket",
"prefix", "endpoint_url", "region", "access_key", "secret_key",
"multipart_threshold_bytes"}`` (S3 keys may be left out to use boto3's usual chain:
environment, config files, instance roles).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from proseo.errors import ConfigurationError
from proseo.secrets import SecretBox, open_settings, without_secrets
from proseo.storage.base import Storage
from proseo.storage.posix import PosixStorage

if TYPE_CHECKING:
    from proseo.config import Settings
    from proseo.model import ProcessingFacility


def default_storage_settings(settings: Settings) -> dict[str, Any]:
    """The process's storage (``PROSEO_STORAGE__*``) as storage settings."""
    storage = settings.storage
    if storage.kind == "posix":
        return {"kind": "posix", "root": str(settings.storage_root.resolve())}
    described: dict[str, Any] = {
        "kind": "s3",
        "bucket": storage.s3_bucket,
        "prefix": storage.s3_prefix,
        "endpoint_url": storage.s3_endpoint_url,
        "region": storage.s3_region,
        "multipart_threshold_bytes": storage.multipart_threshold_bytes,
    }
    if storage.s3_access_key and storage.s3_secret_key:
        described["access_key"] = storage.s3_access_key
        described["secret_key"] = storage.s3_secret_key.get_secret_value()
    return described


def facility_storage_settings(facility: ProcessingFacility, settings: Settings) -> dict[str, Any]:
    """The facility's ``storage_settings`` when it has any (kind from them or from its
    ``storage_type``; a POSIX root made absolute; sealed secrets opened and references
    resolved, see :mod:`proseo.secrets`), else the process's default storage.

    :raises ConfigurationError: when a secret cannot be opened or resolved.
    """
    own = dict(facility.storage_settings or {})
    if own:
        own = open_settings(own, SecretBox.from_settings(settings))
    if not own:
        return default_storage_settings(settings)
    kind = str(own.pop("kind", facility.storage_type.value)).lower()
    if kind == "posix":
        return {
            "kind": "posix",
            "root": str(Path(own.get("root", settings.storage_root)).resolve()),
        }
    return {"kind": kind, **own}


CREDENTIAL_VARIABLES = {"access_key": "AWS_ACCESS_KEY_ID", "secret_key": "AWS_SECRET_ACCESS_KEY"}
"""Storage settings that an execution node takes from its environment, and the variables
(boto3's own) that carry them."""


def split_credentials(described: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Storage settings without credentials (for a job step description file) and the
    credentials as environment variables (for the run's process environment only).

    S3 keys are taken out together (boto3 refuses half a key pair); any other secret
    setting is left out of the description.
    """
    env = {
        variable: str(described[key])
        for key, variable in CREDENTIAL_VARIABLES.items()
        if described.get(key)
    }
    plain = {k: v for k, v in described.items() if k not in CREDENTIAL_VARIABLES}
    return without_secrets(plain), env


def open_storage(described: dict[str, Any]) -> Storage:
    """The storage that ``described`` (storage settings) names.

    :raises ConfigurationError: for a storage kind this installation does not support.
    :raises StorageError: for S3 settings without a bucket.
    """
    kind = described.get("kind", "posix")
    if kind == "posix":
        return PosixStorage(Path(described["root"]))
    if kind == "s3":
        from proseo.storage.s3 import S3Storage

        return S3Storage.from_settings(described)
    raise ConfigurationError(f"storage kind {kind!r} is not supported (posix or s3)")


def facility_storage(facility: ProcessingFacility, settings: Settings) -> Storage:
    """The storage of ``facility`` (see :func:`facility_storage_settings`)."""
    return open_storage(facility_storage_settings(facility, settings))
