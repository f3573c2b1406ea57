"""Mission definitions as plain data: what a mission plug-in declares and what operators
export, version and import as YAML or JSON files.

Times are UTC (ISO 8601 in files); durations carry their unit in the field name.
Validation errors name the field path and value (see :func:`load_definition`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proseo.enums import (
    FileNameType,
    JobOrderVersion,
    ProcessingLevel,
    SlicingType,
    Visibility,
)
from proseo.errors import InvalidInputError


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrbitDefinition(_Plain):
    """One orbit: number and start/stop (UTC)."""

    number: int = Field(ge=0)
    start: datetime
    stop: datetime


class OrbitAnchor(_Plain):
    """A known orbit start (UTC), e.g. from a real product or an orbit file."""

    orbit: int = Field(ge=0)
    start: datetime


class NominalOrbits(_Plain):
    """Orbits from known anchors and a nominal period.

    Between two anchors, orbit starts are interpolated linearly (so every anchor is hit
    exactly and the real mean period between them is used); beyond the outermost anchors
    they are extrapolated with ``period_s``. Times are rounded to microseconds.
    """

    anchors: tuple[OrbitAnchor, ...] = Field(min_length=1)
    period_s: float = Field(gt=0)
    first_orbit: int = Field(ge=0)
    last_orbit: int = Field(ge=0)

    def start_of(self, orbit: int) -> datetime:
        """Start time (UTC) of ``orbit``."""
        below = [a for a in self.anchors if a.orbit <= orbit]
        above = [a for a in self.anchors if a.orbit > orbit]
        lower = max(below, key=lambda a: a.orbit) if below else None
        upper = min(above, key=lambda a: a.orbit) if above else None
        if lower is not None and upper is not None:
            span_us = (upper.start - lower.start) / timedelta(microseconds=1)
            offset_us = round(span_us * (orbit - lower.orbit) / (upper.orbit - lower.orbit))
            base = lower
        else:
            base = lower if lower is not None else min(self.anchors, key=lambda a: a.orbit)
            offset_us = round((orbit - base.orbit) * self.period_s * 1_000_000)
        return base.start.astimezone(UTC) + timedelta(microseconds=offset_us)

    def expand(self, first: int | None = None, last: int | None = None) -> list[OrbitDefinition]:
        """The orbits ``first``..``last`` (default: the definition's range), inclusive."""
        lo = self.first_orbit if first is None else first
        hi = self.last_orbit if last is None else last
        starts = [self.start_of(n) for n in range(lo, hi + 2)]
        return [
            OrbitDefinition(number=n, start=starts[i], stop=starts[i + 1])
            for i, n in enumerate(range(lo, hi + 1))
        ]


class SpacecraftDefinition(_Plain):
    """A spacecraft with explicit orbits and/or a nominal orbit source."""

    code: str
    name: str
    orbits: tuple[OrbitDefinition, ...] = ()
    nominal_orbits: NominalOrbits | None = None


class SelectionRuleDefinition(_Plain):
    """A rule text (DOMAIN.md grammar), optionally for one processing mode and only for
    some configured processors (identifiers; empty: all)."""

    rule: str
    mode: str | None = None
    configured_processors: tuple[str, ...] = ()


class ProductClassDefinition(_Plain):
    """A product class; ``processor_class`` is ``None`` for inputs (L0, AUX, ingested)."""

    product_type: str
    description: str | None = None
    processing_level: ProcessingLevel | None = None
    visibility: Visibility = Visibility.PUBLIC
    default_slicing_type: SlicingType | None = None
    default_slice_duration_s: int | None = Field(default=None, gt=0)
    processor_class: str | None = None
    enclosing_class: str | None = None
    selection_rules: tuple[SelectionRuleDefinition, ...] = ()


class TaskDefinition(_Plain):
    """One task of a processor version; ``command`` gets the Job Order File path."""

    name: str
    version: str
    command: str | None = None
    is_critical: bool = True
    criticality_level: int | None = None
    number_of_cpus: int | None = Field(default=None, gt=0)
    min_memory_bytes: int | None = Field(default=None, gt=0)
    breakpoint_file_names: tuple[str, ...] = ()


class ProcessorDefinition(_Plain):
    """A processor version of a processor class."""

    processor_class: str
    version: str
    job_order_version: JobOrderVersion = JobOrderVersion.MMFI_1_8
    docker_image: str | None = None
    is_test: bool = False
    min_disk_space_bytes: int | None = Field(default=None, gt=0)
    max_time_s: int | None = Field(default=None, gt=0)
    sensing_time_flag: bool = True
    use_input_file_time_intervals: bool = False
    tasks: tuple[TaskDefinition, ...] = Field(min_length=1)


class ConfigurationFileDefinition(_Plain):
    """A configuration file (``Conf_File_Name`` in the Job Order)."""

    file_name: str
    file_version: str


class StaticInputDefinition(_Plain):
    """A static input of a configuration, written into every Job Order."""

    file_type: str
    file_name_type: FileNameType = FileNameType.PHYSICAL
    file_names: tuple[str, ...]


class ConfigurationDefinition(_Plain):
    """A configuration version of a processor class; ``resource_requests`` e.g.
    ``{"cpus": 2, "memory_bytes": 4000000000}``."""

    processor_class: str
    version: str
    mode: str | None = None
    dynamic_processing_parameters: dict[str, str] = Field(default_factory=dict)
    configuration_files: tuple[ConfigurationFileDefinition, ...] = ()
    static_inputs: tuple[StaticInputDefinition, ...] = ()
    resource_requests: dict[str, Any] = Field(default_factory=dict)


class ConfiguredProcessorDefinition(_Plain):
    """A processor version with a configuration version, under a unique identifier."""

    identifier: str
    processor_class: str
    processor_version: str
    configuration_version: str
    enabled: bool = True


class MissionDefinition(_Plain):
    """Everything a mission plug-in declares (format version 1)."""

    format_version: Literal[1] = 1
    code: str
    name: str
    file_classes: tuple[str, ...] = ()
    processing_modes: tuple[str, ...] = ()
    product_file_template: str | None = None
    product_retention_period_s: int | None = None
    order_retention_period_s: int | None = None
    spacecraft: tuple[SpacecraftDefinition, ...] = ()
    product_classes: tuple[ProductClassDefinition, ...] = ()
    processor_classes: tuple[str, ...] = ()
    processors: tuple[ProcessorDefinition, ...] = ()
    configurations: tuple[ConfigurationDefinition, ...] = ()
    configured_processors: tuple[ConfiguredProcessorDefinition, ...] = ()

    @field_validator("product_classes")
    @classmethod
    def _unique_types(
        cls, value: tuple[ProductClassDefinition, ...]
    ) -> tuple[ProductClassDefinition, ...]:
        seen: set[str] = set()
        for product_class in value:
            if product_class.product_type in seen:
                raise ValueError(f"product type {product_class.product_type!r} given twice")
            seen.add(product_class.product_type)
        return value


def _first_error(error: ValidationError) -> tuple[str, object, str]:
    first = error.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "definition"
    return path, first.get("input"), first["msg"]


def parse_definition(data: Any, source: str = "definition") -> MissionDefinition:
    """Validate plain data (from YAML/JSON) as a :class:`MissionDefinition`.

    :raises InvalidInputError: naming the field path (e.g.
        ``product_classes.2.processing_level``) and the bad value.
    """
    try:
        return MissionDefinition.model_validate(data)
    except ValidationError as error:
        path, value, message = _first_error(error)
        raise InvalidInputError(f"{source}: {path}", value, message) from error


def load_definition(path: Path) -> MissionDefinition:
    """Read a mission definition from a ``.yaml``/``.yml`` or ``.json`` file.

    :raises InvalidInputError: for an unreadable or malformed file, naming file and field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError("definition file", str(path), str(error)) from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise InvalidInputError("definition file", str(path), f"not valid: {error}") from error
    return parse_definition(data, source=path.name)


def dump_definition(definition: MissionDefinition, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The definition as YAML or JSON text (defaults omitted, times in ISO 8601 UTC)."""
    data = definition.model_dump(mode="json", exclude_defaults=True)
    data = {"format_version": 1, **data}
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
