"""Declarative base, naming conventions and attribute validation shared by all models.

Every :class:`~proseo.db.types.UTCDateTime` attribute rejects naive datetimes at assignment
with an :class:`~proseo.errors.InvalidInputError` naming the model field and the value, and
normalises aware values to UTC.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Integer, MetaData, event
from sqlalchemy.orm import DeclarativeBase, Mapper, mapped_column
from sqlalchemy.orm.attributes import InstrumentedAttribute

from proseo.db.types import UTCDateTime
from proseo.errors import InvalidInputError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


class Base(DeclarativeBase):
    """Declarative base of every table of the metadata database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        dict[str, str]: JSON(),
        list[str]: JSON(),
        enum.Enum: Enum(
            enum.Enum,
            native_enum=False,
            length=40,
            values_callable=_enum_values,
            validate_strings=True,
        ),
    }


ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")
"""Surrogate key type: 64-bit on PostgreSQL (campaigns reach 10^6-10^7 rows); on SQLite
exactly ``INTEGER`` so that ``INTEGER PRIMARY KEY`` auto-increments."""


def pk() -> Any:
    """A surrogate primary key column."""
    return mapped_column(ID_TYPE, primary_key=True)


def fk(
    target: str,
    *,
    nullable: bool = False,
    ondelete: str | None = None,
    index: bool = False,
    primary_key: bool = False,
) -> Any:
    """A foreign-key column to ``target`` (``"table.column"``) of the surrogate key type."""
    return mapped_column(
        ID_TYPE,
        ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
        index=index,
        primary_key=primary_key,
    )


def utc_now() -> datetime:
    """The current time, timezone-aware UTC with microseconds."""
    return datetime.now(UTC)


def _utc_validator(model: str, field: str) -> Any:
    def validate(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise InvalidInputError(f"{model}.{field}", value, "expected a datetime in UTC")
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(
                f"{model}.{field}", value, "naive datetime; times must be timezone-aware UTC"
            )
        return value.astimezone(UTC)

    return validate


@event.listens_for(Mapper, "mapper_configured")
def _install_validators(mapper: Mapper[Any], cls: type) -> None:
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column.type, UTCDateTime):
            attribute = getattr(cls, prop.key)
            if isinstance(attribute, InstrumentedAttribute):
                event.listen(attribute, "set", _utc_validator(cls.__name__, prop.key), retval=True)
