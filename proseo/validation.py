"""Field types for request and file input that follow JSON Schema rather than Python.

``JsonInt``: an integer as JSON Schema defines it: ``1`` and ``1.0`` are integers, ``true``
is not (pydantic's lax mode would take ``true`` as 1, its strict mode would refuse ``1.0``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(_not_a_boolean)]
"""An integer field that refuses booleans and takes integral numbers such as ``1.0``. An
optional one with bounds must repeat them for the JSON schema
(``json_schema_extra={"minimum": ..., "maximum": ...}``): pydantic cannot carry them through
the validator inside a union."""
