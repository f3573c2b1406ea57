"""Product storage: a small interface with a POSIX implementation (the embedded default).

Keys are relative, slash-separated paths such as ``LANDSAT/L1TP/<product uuid>/<file name>``;
:func:`check_key` refuses anything that could escape the storage root or bucket prefix.
"""

from proseo.storage.base import Storage, StoredFile, check_key, check_name, product_key
from proseo.storage.posix import PosixStorage

__all__ = ["PosixStorage", "Storage", "StoredFile", "check_key", "check_name", "product_key"]
