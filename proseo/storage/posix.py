"""POSIX storage under a root folder (the embedded default: ``<data dir>/storage``)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from proseo.errors import StorageError, StorageUnavailableError
from proseo.storage.base import StoredFile, check_key

_BLOCK = 1024 * 1024


def md5_of(path: Path) -> str:
    """MD5 (hex) of a local file, read in 1 MiB blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


_UNREACHABLE = {errno.EIO, errno.ESTALE, errno.ENOTCONN, errno.ETIMEDOUT, errno.EHOSTDOWN,
                errno.EHOSTUNREACH, errno.ENETDOWN, errno.ENETUNREACH}  # fmt: skip
"""``errno`` values of a network file system that is away (not of a wrong request)."""


def _error(message: str, error: OSError) -> StorageError:
    kind = StorageUnavailableError if error.errno in _UNREACHABLE else StorageError
    return kind(message)


class PosixStorage:
    """Files under ``root``; every key is checked so nothing can escape it."""

    kind = "POSIX"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise StorageError(f"storage key {key!r} resolves outside the storage root")
        return path

    def put(self, local_path: Path, key: str) -> StoredFile:
        """Copy into a temporary file beside the target, then rename (atomic on POSIX)."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            os.close(descriptor)
            shutil.copyfile(local_path, temporary)
            os.replace(temporary, target)
        except OSError as error:
            raise _error(f"cannot store {local_path} as {key!r}: {error}", error) from error
        return StoredFile(key, target.stat().st_size, md5_of(target))

    def get(self, key: str, local_path: Path) -> Path:
        source = self._path(key)
        try:
            local_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, local_path)
        except OSError as error:
            raise _error(f"cannot fetch {key!r} to {local_path}: {error}", error) from error
        return local_path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise _error(f"cannot delete {key!r}: {error}", error) from error

    def list(self, prefix: str = "") -> list[str]:
        base = self.root
        keys = []
        if base.exists():
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith(".incoming-"):
                    key = path.relative_to(base).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        return sorted(keys)

    def stat(self, key: str, *, checksum: bool = True) -> StoredFile:
        path = self._path(key)
        if not path.is_file():
            raise StorageError(f"no stored file {key!r}")
        return StoredFile(key, path.stat().st_size, md5_of(path) if checksum else "")
