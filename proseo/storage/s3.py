"""S3 storage (boto3): any S3-speaking server (AWS, Ceph RADOS Gateway, ...).

Keys are the same checked relative keys as on POSIX, under an optional bucket ``prefix``
(itself a checked key), so a user-supplied name can never reach outside it. Uploads above
``multipart_threshold_bytes`` go as multipart uploads (boto3's transfer manager); an object
appears whole or not at all. The MD5 of every stored file is computed while uploading and
kept as object metadata ``md5``, because the ETag of a multipart object is not its MD5.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from proseo.errors import StorageError, StorageUnavailableError
from proseo.storage.base import StoredFile, check_key
from proseo.storage.posix import md5_of

MIN_PART_BYTES = 5 * 1024 * 1024  # the S3 minimum part size


class S3Storage:
    """Files in ``bucket`` under ``prefix``.

    :param client: a boto3 S3 client (default: one from ``endpoint_url``, ``region`` and the
        keys; without keys boto3's usual chain applies: environment, config files, roles).
    """

    kind = "S3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        multipart_threshold_bytes: int = 64 * 1024 * 1024,
        client: Any = None,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
        )
        part = max(MIN_PART_BYTES, multipart_threshold_bytes)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes, multipart_chunksize=part
        )

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> S3Storage:
        """From storage settings (``bucket``, ``prefix``, ``endpoint_url``, ``region``,
        ``access_key``, ``secret_key``, ``multipart_threshold_bytes``).

        :raises StorageError: when ``bucket`` is missing.
        """
        if not settings.get("bucket"):
            raise StorageError("S3 storage settings need a 'bucket'")
        return cls(
            str(settings["bucket"]),
            prefix=str(settings.get("prefix", "")),
            endpoint_url=settings.get("endpoint_url"),
            region=str(settings.get("region", "us-east-1")),
            access_key=settings.get("access_key"),
            secret_key=settings.get("secret_key"),
            multipart_threshold_bytes=int(
                settings.get("multipart_threshold_bytes", 64 * 1024 * 1024)
            ),
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, action: str, key: str, error: Exception) -> StorageError:
        kind = StorageUnavailableError if _unreachable(error) else StorageError
        return kind(f"S3 {action} of {key!r} in bucket {self.bucket!r} failed: {error}")

    def put(self, local_path: Path, key: str) -> StoredFile:
        """Upload (multipart above the threshold) with the MD5 as object metadata."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._name(key)
        try:
            md5 = md5_of(local_path)
            size = local_path.stat().st_size
            self.client.upload_file(
                str(local_path),
                self.bucket,
                name,
                ExtraArgs={"Metadata": {"md5": md5}},
                Config=self.transfer,
            )
        except (OSError, Boto3Error, BotoCoreError, ClientError) as error:
            raise self._error("upload", key, error) from error
        return StoredFile(key, size, md5)

    def get(self, key: str, local_path: Path) -> Path:
        """Download into a temporary file beside ``local_path``, then rename."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._name(key)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=local_path.parent, prefix=".incoming-")
        os.close(descriptor)
        try:
            self.client.download_file(self.bucket, name, temporary, Config=self.transfer)
            os.replace(temporary, local_path)
        except (OSError, Boto3Error, BotoCoreError, ClientError) as error:
            Path(temporary).unlink(missing_ok=True)
            raise self._error("download", key, error) from error
        return local_path

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error("head", key, error) from error
        except BotoCoreError as error:
            raise self._error("head", key, error) from error
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as error:
            raise self._error("delete", key, error) from error

    def list(self, prefix: str = "") -> list[str]:
        return [key for key, _ in self.entries(prefix)]

    def entries(self, prefix: str = "") -> builtins.list[tuple[str, datetime]]:
        """Keys starting with ``prefix`` with their LastModified time (UTC), sorted."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: builtins.list[tuple[str, datetime]] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                found.extend(
                    (item["Key"][len(self.prefix) :], item["LastModified"])
                    for item in page.get("Contents", [])
                )
        except (BotoCoreError, ClientError) as error:
            raise self._error("listing", prefix, error) from error
        return sorted(found)

    def stat(self, key: str, *, checksum: bool = True) -> StoredFile:
        """Size from the object; MD5 from its metadata (or a single-part ETag)."""
        head = self._head(key)
        if head is None:
            raise StorageError(f"no stored file {key!r} in bucket {self.bucket!r}")
        md5 = ""
        if checksum:
            md5 = head.get("Metadata", {}).get("md5", "")
            etag = str(head.get("ETag", "")).strip('"')
            if not md5 and etag and "-" not in etag:
                md5 = etag
        return StoredFile(key, int(head["ContentLength"]), md5)

    def move(self, key: str, new_key: str) -> None:
        """Server-side copy to ``new_key``, then delete ``key`` (for pickup prefixes)."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._name(key)},
                self.bucket,
                self._name(new_key),
                Config=self.transfer,
            )
        except (Boto3Error, BotoCoreError, ClientError) as error:
            raise self._error("copy", key, error) from error
        self.delete(key)


def _unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says the S3 endpoint could not be
    reached or failed on its side: connection refused, reset or timed out, or an HTTP 5xx
    answer (after botocore's own retries). Access denied, a missing bucket or key are not."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError)
        ):
            return True
        if isinstance(current, ClientError):
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return int(status) >= 500
        current = current.__cause__ or current.__context__
    return False
