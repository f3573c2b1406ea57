"""The storage interface and key rules shared by all implementations."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from proseo.errors import InvalidInputError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")


@dataclass(frozen=True)
class StoredFile:
    """A file in storage: its key, size (bytes) and MD5 checksum (hex, as ESA interfaces use)."""

    key: str
    size_bytes: int
    md5: str


def check_name(name: str, field: str = "file name") -> str:
    """A single path element: letters, digits, ``._+-``, not starting with a dot.

    :raises InvalidInputError: naming the field and the value (``..``, ``/``, blanks, ...).
    """
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidInputError(
            field, name, "only letters, digits and ._+- are allowed, not starting with . or -"
        )
    return name


def check_key(key: str) -> str:
    """A relative key of checked names separated by ``/``.

    :raises InvalidInputError: for absolute keys, empty elements, ``..`` or odd characters.
    """
    if not key or key.startswith("/") or "\\" in key:
        raise InvalidInputError("storage key", key, "must be a relative path with / separators")
    for part in key.split("/"):
        check_name(part, "storage key element")
    return key


def product_key(mission: str, product_type: str, product_uuid: str, file_name: str) -> str:
    """Key of a product file: ``<mission>/<product type>/<product uuid>/<file name>``.

    :raises InvalidInputError: when a part is not a safe single path element."""
    return (
        f"{_checked_prefix(mission, product_type)}"
        f"{check_name(product_uuid, 'product uuid')}/{check_name(file_name)}"
    )


@functools.lru_cache(maxsize=1024)
def _checked_prefix(mission: str, product_type: str) -> str:
    """``<mission>/<product type>/``, each checked once (a dispatcher round keys 50,000
    outputs of a few product types)."""
    return f"{check_name(mission, 'mission')}/{check_name(product_type, 'product type')}/"


class Storage(Protocol):
    """What proseo-py needs of a storage (POSIX folder or S3 bucket)."""

    kind: str

    def put(self, local_path: Path, key: str) -> StoredFile:
        """Store a local file under ``key`` (atomically: readers never see a partial file)."""

    def get(self, key: str, local_path: Path) -> Path:
        """Copy the file at ``key`` to ``local_path``."""

    def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key``."""

    def delete(self, key: str) -> None:
        """Remove the file at ``key`` (no error if it is absent)."""

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted."""

    def stat(self, key: str, *, checksum: bool = True) -> StoredFile:
        """Size and (unless ``checksum`` is False: empty) MD5 of the stored file.

        :raises StorageError: if absent.
        """
