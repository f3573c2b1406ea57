"""Plug-ins by entry point: missions (``proseo.missions``) and executors (``proseo.executors``).

A mission plug-in is an object (or a class with a no-argument constructor) registered under
``proseo.missions`` that subclasses :class:`MissionPlugin`. It sees plain data only: it
declares a :class:`~proseo.definitions.MissionDefinition`, parses product file
names into :class:`ProductMetadata`, and names output files.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from proseo.definitions import MissionDefinition
from proseo.errors import ConfigurationError, NotFoundError

MISSION_GROUP = "proseo.missions"
EXECUTOR_GROUP = "proseo.executors"


@dataclass(frozen=True)
class ProductMetadata:
    """What a product file name tells (or what an output product will be): UTC times."""

    product_type: str
    sensing_start: datetime
    sensing_stop: datetime
    generation_time: datetime | None = None
    spacecraft_code: str | None = None
    orbit_number: int | None = None
    file_class: str | None = None
    mode: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)


_PRODUCT_FIELDS = tuple(f.name for f in fields(ProductMetadata))


def parse_compact_time(text: str) -> datetime:
    """Inverse of :func:`compact_time`: ``YYYYMMDDThhmmss`` as an aware UTC datetime.

    :raises ValueError: when ``text`` is not in that form.
    """
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def compact_time(moment: datetime) -> str:
    """``YYYYMMDDThhmmss`` (UTC), the time format of Sentinel product names."""
    return moment.strftime("%Y%m%dT%H%M%S")


class MissionPlugin(ABC):
    """Base class of mission plug-ins."""

    @abstractmethod
    def definition(self) -> MissionDefinition:
        """The mission's complete definition (plain data)."""

    def parse_file_name(self, file_name: str) -> ProductMetadata | None:
        """Metadata from a product file name, or ``None`` when the name is not this mission's."""
        return None

    def read_metadata(self, path: Path) -> ProductMetadata | None:
        """Metadata of the product at ``path`` (a file or a product folder).

        The default parses the name; plug-ins whose names do not carry everything (e.g.
        Landsat, whose scene times are in the ``_MTL.txt``) read the files.
        """
        return self.parse_file_name(path.name)

    def group_files(self, paths: list[Path]) -> list[tuple[ProductMetadata, list[Path]]]:
        """Products among ``paths`` (files; folders are searched): each recognised file is
        one product by default. Plug-ins whose products are several files (a Landsat scene)
        group them; the first path of a group is the product's main file.

        Paths this mission does not recognise are left out.
        """
        found = []
        for path in expand_paths(paths):
            metadata = self.read_metadata(path)
            if metadata is not None:
                found.append((metadata, [path]))
        return found

    def product_statistics(self, product_type: str, path: Path) -> dict[str, str]:
        """Statistics an operator wants of a product file (e.g. mean NDVI), as name/value
        text; empty when the mission has none for ``product_type``."""
        return {}

    def makes_quicklook(self, product_type: str) -> bool:
        """Whether :meth:`quicklook` makes one for ``product_type`` (the GUI shows it then)."""
        return False

    def quicklook(self, product_type: str, path: Path, png_path: Path) -> bool:
        """Write a PNG quicklook of the product file at ``path`` to ``png_path``; returns
        False when the mission makes none for ``product_type``."""
        return False

    def output_file_name(self, product: ProductMetadata, **context: Any) -> str:
        """Name of an output product file, from the mission's ``product_file_template``.

        The Jinja2 template sees the fields of ``product``, ``context`` (e.g.
        ``processor_version``) and the filter ``compact`` (``YYYYMMDDThhmmss``).

        :raises ConfigurationError: when the mission has no template or it fails to render.
        """
        from jinja2 import TemplateError

        code, text = self._file_template()
        if not text:
            raise ConfigurationError(f"mission {code} has no product file template")
        try:
            name: str = _compiled(text).render(**vars(product), mission=code, **context)
        except TemplateError as error:
            raise ConfigurationError(
                f"mission {code}: product file template failed: {error}"
            ) from error
        return name.strip()

    def output_file_names(self, products: Sequence[ProductMetadata], **context: Any) -> list[str]:
        """:meth:`output_file_name` of each of ``products`` (same ``context``), in order, in one
        render of the template over all of them: a dispatcher round names 50,000 outputs, and
        Jinja2's set-up per render was as costly as the names themselves.

        :raises ConfigurationError: as :meth:`output_file_name`.
        """
        from jinja2 import TemplateError

        if len(products) < 2:
            return [self.output_file_name(p, **context) for p in products]
        code, text = self._file_template()
        if not text:
            raise ConfigurationError(f"mission {code} has no product file template")
        try:
            rendered: str = _compiled_batch(text).render(
                _proseo_products=products, mission=code, **context
            )
        except TemplateError as error:
            raise ConfigurationError(
                f"mission {code}: product file template failed: {error}"
            ) from error
        names = [name.strip() for name in rendered.split(_SEPARATOR)[:-1]]
        if len(names) != len(products):  # the template itself wrote the separator
            return [self.output_file_name(p, **context) for p in products]
        return names

    def _file_template(self) -> tuple[str, str | None]:
        """Mission code and product file template (read once: dispatching names thousands
        of outputs)."""
        cached: tuple[str, str | None] | None = self.__dict__.get("_proseo_file_template")
        if cached is None:
            definition = self.definition()
            cached = (definition.code, definition.product_file_template)
            self.__dict__["_proseo_file_template"] = cached
        return cached


@functools.lru_cache(maxsize=64)
def _compiled(text: str) -> Any:
    """A compiled product file template (Jinja2, strict undefined, filter ``compact``)."""
    from jinja2 import Environment, StrictUndefined

    environment = Environment(undefined=StrictUndefined, autoescape=False)
    environment.filters["compact"] = compact_time
    return environment.from_string(text)


_SEPARATOR = "\x1f"
"""Ends each name in a batch render (the ASCII unit separator: no file name has it)."""


@functools.lru_cache(maxsize=64)
def _compiled_batch(text: str) -> Any:
    """The product file template wrapped in a loop over ``_proseo_products``, each product's
    fields bound as the template's variables, each name followed by :data:`_SEPARATOR`."""
    bound = ", ".join(f"{name}=_proseo_p.{name}" for name in _PRODUCT_FIELDS)
    return _compiled(
        "{% for _proseo_p in _proseo_products %}{% with "
        + bound
        + " %}"
        + text
        + "{% endwith %}"
        + _SEPARATOR
        + "{% endfor %}"
    )


def expand_paths(paths: list[Path]) -> list[Path]:
    """The files among ``paths``, folders replaced by the files under them (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            files.append(path)
    return files


def _load(group: str, name: str, value: Any) -> Any:
    try:
        loaded = value.load()
    except Exception as error:  # a broken plug-in must not take the whole system down
        raise ConfigurationError(f"{group} plug-in {name!r} failed to load: {error}") from error
    return loaded() if isinstance(loaded, type) else loaded


def load_mission_plugins() -> dict[str, MissionPlugin]:
    """All installed mission plug-ins by mission code.

    :raises ConfigurationError: when a plug-in fails to load, is not a :class:`MissionPlugin`
        or declares a code another plug-in declares too.
    """
    plugins: dict[str, MissionPlugin] = {}
    for entry in entry_points(group=MISSION_GROUP):
        plugin = _load(MISSION_GROUP, entry.name, entry)
        if not isinstance(plugin, MissionPlugin):
            raise ConfigurationError(
                f"mission plug-in {entry.name!r} ({entry.value}) is not a MissionPlugin"
            )
        code = plugin.definition().code
        if code in plugins:
            raise ConfigurationError(f"two mission plug-ins declare mission code {code!r}")
        plugins[code] = plugin
    return plugins


def get_mission_plugin(code: str) -> MissionPlugin:
    """The installed plug-in of mission ``code``.

    :raises NotFoundError: naming the code and the codes that are installed.
    """
    plugins = load_mission_plugins()
    if code not in plugins:
        known = ", ".join(sorted(plugins)) or "none"
        raise NotFoundError(f"no mission plug-in for {code!r} (installed: {known})")
    return plugins[code]


def load_executor_class(kind: str) -> Any:
    """The executor plug-in registered as ``kind`` under ``proseo.executors``.

    :raises NotFoundError: naming the kind and the kinds that are installed.
    """
    entries = {e.name: e for e in entry_points(group=EXECUTOR_GROUP)}
    if kind not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise NotFoundError(f"no executor plug-in {kind!r} (installed: {known})")
    try:
        return entries[kind].load()
    except Exception as error:
        raise ConfigurationError(f"executor plug-in {kind!r} failed to load: {error}") from error
