"""Field types for request and file input that follow JSON Schema rather than Python, and the
one way input documents are validated into models with an error naming the field.

``JsonInt``: an integer as JSON Schema defines it: ``1`` and ``1.0`` are integers, ``true``
is not (pydantic's lax mode would take ``true`` as 1, its strict mode would refuse ``1.0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from proseo.errors import InvalidInputError

M = TypeVar("M", bound=BaseModel)


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(_not_a_boolean)]
"""An integer field that refuses booleans and takes integral numbers such as ``1.0``. An
optional one with bounds must repeat them for the JSON schema
(``json_schema_extra={"minimum": ..., "maximum": ...}``): pydantic cannot carry them through
the validator inside a union."""


def validate_input(model: type[M], data: Any, source: str) -> M:
    """``data`` (plain JSON/YAML data) as a ``model``.

    :param source: what the data came from (a file name, ``options``), named in the error.
    :raises InvalidInputError: naming ``source``, the path of the first wrong field and the
        value given.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(p) for p in first["loc"]) or source
        raise InvalidInputError(f"{source}: {path}", first.get("input"), first["msg"]) from error


def load_input(model: type[M], path: Path, what: str) -> M:
    """A YAML or JSON file (by its suffix: ``.json`` is JSON, anything else YAML) as a
    ``model``.

    :param what: what the file holds, named in the error (``order file``, ...).
    :raises InvalidInputError: naming the file when it cannot be read or parsed, else the
        file and the first wrong field."""
    import json

    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise InvalidInputError(what, str(path), str(error)) from error
    return validate_input(model, data, path.name)
