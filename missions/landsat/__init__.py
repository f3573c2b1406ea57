"""A real-data Landsat-7/8 mission (code ``LANDSAT``).

Inputs are the Landsat Collection-1 L1TP band crops and their ``_MTL.txt`` shipped in
Debian's ``r-cran-satellite`` (41x41 px, UTM 32N, WRS-2 path 195 row 25), and the DEM on
the same grid. Chain: ``L3_MAXNDVI`` (maximum-NDVI composite over a time slice) <-
``L2_NDVI`` <- ``L2_TOA`` (top-of-atmosphere reflectance, topographically corrected) <-
``L1TP`` scene + ``DEM``. Processors really compute (:mod:`missions.landsat.processors`).

Product ids: ``LC08_L1TP_195025_20130707_20170503_01_T1`` (sensor/spacecraft, level,
WRS path/row, acquisition date, processing date, collection, tier). A scene's files are
``<id>_B<n>.TIF`` and ``<id>_MTL.txt``; its sensing interval is the MTL scene centre
+-12 s (a WRS-2 scene takes about 24 s).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from missions.landsat.mtl import MTLError, scene_metadata
from proseo.definitions import (
    ConfigurationDefinition,
    ConfiguredProcessorDefinition,
    MissionDefinition,
    ProcessorDefinition,
    ProductClassDefinition,
    SelectionRuleDefinition,
    SpacecraftDefinition,
    TaskDefinition,
)
from proseo.errors import InvalidInputError
from proseo.plugins import MissionPlugin, ProductMetadata, expand_paths

PRODUCT_ID = re.compile(
    r"^(?P<sensor>L[COTEM])(?P<satellite>0[1-9])_(?P<level>L1TP|L1GT|L1GS)_"
    r"(?P<path>\d{3})(?P<row>\d{3})_(?P<acquired>\d{8})_(?P<processed>\d{8})_"
    r"(?P<collection>\d{2})_(?P<tier>T1|T2|RT)"
)
SCENE_FILE = re.compile(
    PRODUCT_ID.pattern + r"(?:_(?P<suffix>B\d+(?:_VCID_\d)?|BQA)\.TIF|_MTL\.txt)?$"
)
DEM_FILE = re.compile(r"^DEM(?:_[A-Za-z0-9]+)?\.TIF$")
# The DEM has no acquisition time: it is valid for the whole Landsat era.
DEM_VALIDITY = (datetime(1972, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
PROCESSOR_VERSION = "1.0.0"
COMMAND = "python -m missions.landsat.processors"


def _processor(name: str, step: str) -> ProcessorDefinition:
    return ProcessorDefinition(
        processor_class=name,
        version=PROCESSOR_VERSION,
        max_time_s=600,
        tasks=(TaskDefinition(name=name, version=PROCESSOR_VERSION, command=f"{COMMAND} {step}"),),
    )


def build_definition() -> MissionDefinition:
    """The LANDSAT mission definition."""
    processors = {"LTOA": "toa", "LNDVI": "ndvi", "LMAXNDVI": "composite"}
    return MissionDefinition(
        code="LANDSAT",
        name="Landsat 7 and 8 (Collection 1 L1TP crops)",
        file_classes=("OPER", "TEST"),
        processing_modes=("OPER",),
        product_file_template=(
            "LANDSAT_{{ product_type }}_{{ sensing_start|compact }}_"
            "{{ sensing_stop|compact }}_{{ generation_time|compact }}.tif"
        ),
        spacecraft=(
            SpacecraftDefinition(code="LE07", name="Landsat 7"),
            SpacecraftDefinition(code="LC08", name="Landsat 8"),
        ),
        product_classes=(
            ProductClassDefinition(
                product_type="L1TP",
                processing_level="L1",
                description="Landsat Collection-1 L1TP scene (bands and MTL)",
            ),
            ProductClassDefinition(
                product_type="DEM", processing_level="AUX", description="Digital elevation model"
            ),
            ProductClassDefinition(
                product_type="L2_TOA",
                processing_level="L2",
                processor_class="LTOA",
                description="Red and NIR top-of-atmosphere reflectance, topographically corrected",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule="FOR L1TP SELECT ValIntersect(0, 0); "
                        "FOR DEM SELECT LatestValCover(0, 0) OR LatestValidity"
                    ),
                ),
            ),
            ProductClassDefinition(
                product_type="L2_NDVI",
                processing_level="L2",
                processor_class="LNDVI",
                description="Normalised difference vegetation index per scene",
                selection_rules=(
                    SelectionRuleDefinition(rule="FOR L2_TOA SELECT ValIntersect(0, 0)"),
                ),
            ),
            ProductClassDefinition(
                product_type="L3_MAXNDVI",
                processing_level="L3",
                processor_class="LMAXNDVI",
                default_slicing_type="TIME_SLICE",
                default_slice_duration_s=366 * 86_400,
                description="Per-pixel maximum NDVI over a time slice",
                selection_rules=(
                    SelectionRuleDefinition(rule="FOR L2_NDVI SELECT ValIntersect(0, 0)"),
                ),
            ),
        ),
        processors=tuple(_processor(name, step) for name, step in processors.items()),
        configurations=tuple(
            ConfigurationDefinition(processor_class=name, version="1", mode="OPER")
            for name in processors
        ),
        configured_processors=tuple(
            ConfiguredProcessorDefinition(
                identifier=f"{name}_{PROCESSOR_VERSION}_1",
                processor_class=name,
                processor_version=PROCESSOR_VERSION,
                configuration_version="1",
            )
            for name in processors
        ),
    )


class LandsatMission(MissionPlugin):
    """Plug-in of the LANDSAT mission."""

    def definition(self) -> MissionDefinition:
        return build_definition()

    def product_statistics(self, product_type: str, path: Path) -> dict[str, str]:
        """NDVI mean, minimum, maximum and valid pixels of the NDVI products."""
        from missions.landsat.quicklook import NDVI_TYPES, ndvi_statistics

        return ndvi_statistics(path) if product_type in NDVI_TYPES else {}

    def makes_quicklook(self, product_type: str) -> bool:
        """The NDVI products have a quicklook."""
        from missions.landsat.quicklook import NDVI_TYPES

        return product_type in NDVI_TYPES

    def quicklook(self, product_type: str, path: Path, png_path: Path) -> bool:
        """A palette PNG (brown - yellow - green) of the NDVI products."""
        from missions.landsat.quicklook import NDVI_TYPES, write_quicklook

        if product_type not in NDVI_TYPES:
            return False
        write_quicklook(path, png_path)
        return True

    def parse_file_name(self, file_name: str) -> ProductMetadata | None:
        """Metadata from a scene file or folder name (times: the acquisition day, UTC)."""
        if DEM_FILE.match(file_name):
            return ProductMetadata("DEM", *DEM_VALIDITY, file_class="OPER")
        match = SCENE_FILE.match(file_name)
        if match is None:
            return None
        day = datetime.strptime(match["acquired"], "%Y%m%d").replace(tzinfo=UTC)
        return ProductMetadata(
            product_type="L1TP",
            sensing_start=day,
            sensing_stop=day + timedelta(days=1),
            generation_time=datetime.strptime(match["processed"], "%Y%m%d").replace(tzinfo=UTC),
            spacecraft_code=f"{match['sensor']}{match['satellite']}",
            file_class="OPER",
            parameters={
                "productId": PRODUCT_ID.match(file_name)[0],  # type: ignore[index]
                "wrsPath": match["path"],
                "wrsRow": match["row"],
                "collection": match["collection"],
                "tier": match["tier"],
            },
        )

    def read_metadata(self, path: Path) -> ProductMetadata | None:
        """As :meth:`parse_file_name`, with the exact scene times from the ``_MTL.txt``.

        :raises InvalidInputError: when the scene's MTL is missing or malformed.
        """
        named = self.parse_file_name(path.name)
        if named is None or named.product_type != "L1TP":
            return named
        product_id = named.parameters["productId"]
        folder = path if path.is_dir() else path.parent
        mtl = folder / f"{product_id}_MTL.txt"
        try:
            scene = scene_metadata(mtl)
        except (OSError, MTLError) as error:
            raise InvalidInputError("Landsat MTL file", str(mtl), str(error)) from error
        return ProductMetadata(
            product_type="L1TP",
            sensing_start=scene.sensing_start,
            sensing_stop=scene.sensing_stop,
            generation_time=named.generation_time,
            spacecraft_code=named.spacecraft_code,
            file_class="OPER",
            parameters={**named.parameters, "sunElevation": f"{scene.sun_elevation_deg:.8f}"},
        )

    def group_files(self, paths: list[Path]) -> list[tuple[ProductMetadata, list[Path]]]:
        """A scene is one product: its ``_MTL.txt`` (main file) and its band files. Scenes
        whose MTL is not (yet) among the paths are left out."""
        scenes: dict[str, list[Path]] = {}
        found: list[tuple[ProductMetadata, list[Path]]] = []
        for path in expand_paths(paths):
            named = self.parse_file_name(path.name)
            if named is None:
                continue
            if named.product_type == "DEM":
                found.append((named, [path]))
            else:
                scenes.setdefault(named.parameters["productId"], []).append(path)
        for product_id, files in sorted(scenes.items()):
            mtl = [f for f in files if f.name == f"{product_id}_MTL.txt"]
            if not mtl:
                continue
            metadata = self.read_metadata(mtl[0])
            assert metadata is not None
            found.append((metadata, mtl + sorted(f for f in files if f not in mtl)))
        return found


plugin = LandsatMission()
