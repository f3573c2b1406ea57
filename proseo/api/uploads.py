"""Streaming multipart uploads: each file part written once, straight into a folder, with a
size limit checked as the bytes arrive (python-multipart's streaming parser).

Starlette's own form parsing spools every file to a temporary file first; copying that into
the ingestion folder would hold each upload twice on local disk.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from proseo.errors import InvalidInputError, UploadTooLarge
from proseo.storage import check_name

MAX_FIELD_BYTES = 1024 * 1024
"""Largest non-file form field (the product metadata JSON)."""


@dataclass
class Upload:
    """What a multipart request carried: its text fields and the files written to
    ``folder`` (in the order they came)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)


class _Receiver:
    def __init__(self, folder: Path, max_file_bytes: int) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.upload = Upload()
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._file: IO[bytes] | None = None
        self._file_name = ""
        self._size = 0
        self._text = bytearray()

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_file_name = options.get(b"filename")
        self._size = 0
        self._text = bytearray()
        if raw_file_name is None:
            self._file = None
            return
        name = check_name(raw_file_name.decode("utf-8", "replace"), "uploaded file name")
        path = self.folder / name
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInputError("files", name, "is uploaded twice") from None
        self._file = os.fdopen(descriptor, "wb")
        self._file_name = name
        self.upload.files.setdefault(self._name, []).append(path)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        if self._file is not None:
            if self._size > self.max_file_bytes:
                raise UploadTooLarge(self._file_name, self._size, self.max_file_bytes)
            self._file.write(data[start:end])
        else:
            if self._size > MAX_FIELD_BYTES:
                raise InvalidInputError(self._name, None, f"over {MAX_FIELD_BYTES} bytes")
            self._text += data[start:end]

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        else:
            self.upload.fields[self._name] = self._text.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive_multipart(
    content_type: str, body: AsyncIterator[bytes], folder: Path, max_file_bytes: int
) -> Upload:
    """Parse a ``multipart/form-data`` body chunk by chunk into ``folder``.

    :param content_type: the request's Content-Type header (with the boundary).
    :raises InvalidInputError: for another content type, a malformed body, a bad file name,
        a file given twice or an oversized text field.
    :raises UploadTooLarge: as soon as one file passes ``max_file_bytes`` bytes.
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidInputError("Content-Type", content_type, "expected multipart/form-data")
    receiver = _Receiver(folder, max_file_bytes)
    callbacks = {
        name: getattr(receiver, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise InvalidInputError("body", None, f"not a multipart/form-data body: {error}") from None
    finally:
        receiver.close()
    return receiver.upload
