"""Portable SQL functions for set-based queries on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class epoch_us(FunctionElement[int]):  # noqa: N801  (reads like the SQL function it is)
    """``epoch_us(column)``: a :class:`~proseo.db.types.UTCDateTime` as integer microseconds
    since 1970-01-01T00:00:00Z, exact on both databases.

    SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` text: whole seconds from ``strftime('%s')``
    of the first 19 characters (SQLite's own time parsing rounds fractions to milliseconds,
    so ``.999999`` would become the next second), plus the six fraction digits.
    PostgreSQL's ``EXTRACT(EPOCH ...)`` is an exact numeric.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
        f"+ CAST(substr({column}, 21, 6) AS INTEGER))"
    )


@compiles(epoch_us, "postgresql")
def _epoch_us_postgresql(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


class sensing_length(FunctionElement[Any]):  # noqa: N801
    """``sensing_length(start, stop)``: a sort key of a validity's length, the same
    expression as the product index ``ix_product_class_length`` so that "the longest product
    of a class" is one index probe (``ORDER BY ... DESC LIMIT 1``), not a scan of the class.

    PostgreSQL: ``stop - start`` (an interval; immutable, so indexable). SQLite: the
    difference of the two :class:`epoch_us` values (integer microseconds). Use it to order
    only; read the length from the row's own start and stop.
    """

    inherit_cache = True


@compiles(sensing_length, "sqlite")
def _sensing_length_sqlite(element: sensing_length, compiler: SQLCompiler, **kw: Any) -> str:
    start, stop = list(element.clauses)
    return (
        f"({_epoch_us_sqlite(epoch_us(stop), compiler, **kw)} - "
        f"{_epoch_us_sqlite(epoch_us(start), compiler, **kw)})"
    )


@compiles(sensing_length, "postgresql")
def _sensing_length_postgresql(element: sensing_length, compiler: SQLCompiler, **kw: Any) -> str:
    start, stop = list(element.clauses)
    return f"({compiler.process(stop, **kw)} - {compiler.process(start, **kw)})"
