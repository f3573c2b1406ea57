"""Database access: engine and session factory, the transaction helper, column types."""

from proseo.db.engine import Database, create_database_engine
from proseo.db.types import UTCDateTime

__all__ = ["Database", "UTCDateTime", "create_database_engine"]
