"""A Sentinel-5P-like mission (code ``S5P``) for planning at scale.

Real product type names and the real file-name convention
``S5P_<class4>_<type10>_<start>_<stop>_<orbit5>_<collection2>_<procver6>_<created>.nc``;
orbits from the real anchor (orbit 8138 starts 2019-05-09T23:48:37Z) with the nominal
period of about 6089.9 s (14.19 orbits a day). Chain: daily L3 NO2 <- L2 (NO2, O3, CLOUD,
CO, CH4, AER_AI) <- L1B (one enclosing product per orbit with 8 radiance band and
2 irradiance components) <- L0 granules + AUX_MET_2D.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from proseo.definitions import (
    ConfigurationDefinition,
    ConfiguredProcessorDefinition,
    MissionDefinition,
    NominalOrbits,
    OrbitAnchor,
    ProcessorDefinition,
    ProductClassDefinition,
    SelectionRuleDefinition,
    SpacecraftDefinition,
    TaskDefinition,
)
from proseo.plugins import MissionPlugin, ProductMetadata, parse_compact_time

# Real orbit starts (S5P products start at the orbit start), shared INFRA.md.
ORBIT_ANCHORS = (
    (8138, datetime(2019, 5, 9, 23, 48, 37, tzinfo=UTC)),
    (8139, datetime(2019, 5, 10, 1, 30, 7, tzinfo=UTC)),
    (9982, datetime(2019, 9, 16, 23, 6, 1, tzinfo=UTC)),
)
ORBIT_PERIOD_S = 6089.9

L0 = "L0__ODB_1_"
AUX_MET = "AUX_MET_2D"
L1B = "L1B_______"
RADIANCE_BANDS = tuple(f"L1B_RA_BD{n}" for n in range(1, 9))
IRRADIANCE = ("L1B_IR_UVN", "L1B_IR_SIR")
MET = f"FOR {AUX_MET} SELECT LatestValCover(1d, 1d) OR LatestValIntersect(1d, 1d)"

# L2 product type -> (processor class, rule text)
L2_PRODUCTS: dict[str, tuple[str, str]] = {
    "L2__CLOUD_": ("UPAS_L2", f"FOR L1B_RA_BD3 SELECT ValIntersect(0, 0); {MET}"),
    "L2__O3____": (
        "UPAS_L2",
        "FOR L1B_RA_BD3 SELECT ValIntersect(0, 0); FOR L2__CLOUD_ SELECT ValIntersect(0, 0); "
        f"FOR L1B_IR_UVN SELECT LatestValIntersect(1d, 1d); {MET}",
    ),
    "L2__NO2___": (
        "TROPNLL2DP",
        "FOR L1B_RA_BD4 SELECT ValIntersect(0, 0); "
        f"FOR L1B_IR_UVN SELECT LatestValIntersect(1d, 1d); {MET}",
    ),
    "L2__CO____": ("SICOR", f"FOR L1B_RA_BD7 SELECT ValIntersect(0, 0); {MET}"),
    "L2__CH4___": (
        "REMOTEC",
        "FOR L1B_RA_BD6 SELECT ValIntersect(0, 0); FOR L1B_RA_BD7 SELECT ValIntersect(0, 0); "
        f"FOR L2__CO____ SELECT ValIntersect(0, 0) OPTIONAL; {MET}",
    ),
    "L2__AER_AI": (
        "KNMI_L2",
        "FOR L1B_RA_BD3 SELECT ValIntersect(0, 0); "
        "FOR L1B_IR_UVN SELECT LatestValIntersect(1d, 1d)",
    ),
}
L3_NO2 = "L3__NO2___"

_NAME = re.compile(
    r"^S5P_(?P<class>[A-Z_]{4})_(?P<type>[A-Z0-9_]{10})_(?P<start>\d{8}T\d{6})_"
    r"(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{5})_(?P<collection>\d{2})_(?P<version>\d{6})_"
    r"(?P<created>\d{8}T\d{6})\.nc$"
)
MODES = ("OFFL", "NRTI", "RPRO")


def _processor(name: str, version: str) -> ProcessorDefinition:
    return ProcessorDefinition(
        processor_class=name,
        version=version,
        max_time_s=3600,
        tasks=(
            TaskDefinition(name=name, version=version, command="python -m missions.s5p.processor"),
        ),
    )


def build_definition() -> MissionDefinition:
    """The S5P mission definition (orbits 8138..14999 unless sync is given a range)."""
    l2_classes = tuple(
        ProductClassDefinition(
            product_type=product_type,
            processing_level="L2",
            processor_class=processor_class,
            default_slicing_type="ORBIT",
            selection_rules=(SelectionRuleDefinition(rule=rule),),
        )
        for product_type, (processor_class, rule) in L2_PRODUCTS.items()
    )
    processor_classes = sorted({"L01B", "L3_NO2", *(p for p, _ in L2_PRODUCTS.values())})
    return MissionDefinition(
        code="S5P",
        name="Sentinel-5 Precursor (proseo-py model)",
        file_classes=(*MODES, "TEST"),
        processing_modes=MODES,
        product_file_template=(
            "S5P_{{ file_class }}_{{ product_type }}_{{ sensing_start|compact }}_"
            "{{ sensing_stop|compact }}_{{ '%05d' % (orbit_number or 0) }}_"
            "{{ parameters.get('collection', '01') }}_"
            "{{ processor_version|default('00.00.00')|replace('.', '') }}_"
            "{{ generation_time|compact }}.nc"
        ),
        spacecraft=(
            SpacecraftDefinition(
                code="S5P",
                name="Sentinel-5 Precursor",
                nominal_orbits=NominalOrbits(
                    anchors=tuple(OrbitAnchor(orbit=n, start=t) for n, t in ORBIT_ANCHORS),
                    period_s=ORBIT_PERIOD_S,
                    first_orbit=8138,
                    last_orbit=14999,
                ),
            ),
        ),
        product_classes=(
            ProductClassDefinition(
                product_type=L0, processing_level="L0", description="L0 granule, band ODB 1"
            ),
            ProductClassDefinition(
                product_type=AUX_MET,
                processing_level="AUX",
                description="ECMWF meteorological fields, daily",
            ),
            ProductClassDefinition(
                product_type=L1B,
                processing_level="L1B",
                visibility="INTERNAL",
                description="All L1B products of one orbit (enclosing class)",
                processor_class="L01B",
                default_slicing_type="ORBIT",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule=f"FOR {L0} SELECT ValIntersect(0, 0) MINCOVER(90); {MET}"
                    ),
                ),
            ),
            *(
                ProductClassDefinition(
                    product_type=t,
                    processing_level="L1B",
                    enclosing_class=L1B,
                    processor_class="L01B",
                )
                for t in (*RADIANCE_BANDS, *IRRADIANCE)
            ),
            *l2_classes,
            ProductClassDefinition(
                product_type=L3_NO2,
                processing_level="L3",
                processor_class="L3_NO2",
                default_slicing_type="CALENDAR_DAY",
                description="Daily NO2 tropospheric column composite",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule="FOR L2__NO2___ SELECT ValIntersect(0, 0) MINCOVER(80)"
                    ),
                ),
            ),
        ),
        processor_classes=tuple(processor_classes),
        processors=tuple(_processor(name, "02.04.00") for name in processor_classes),
        configurations=tuple(
            ConfigurationDefinition(
                processor_class=name,
                version="OFFL_1.0",
                mode="OFFL",
                resource_requests={"cpus": 1, "memory_bytes": 2_000_000_000},
            )
            for name in processor_classes
        ),
        configured_processors=tuple(
            ConfiguredProcessorDefinition(
                identifier=f"{name}_02.04.00_OFFL_1.0",
                processor_class=name,
                processor_version="02.04.00",
                configuration_version="OFFL_1.0",
            )
            for name in processor_classes
        ),
    )


class S5PMission(MissionPlugin):
    """Plug-in of the S5P mission."""

    def definition(self) -> MissionDefinition:
        return build_definition()

    def parse_file_name(self, file_name: str) -> ProductMetadata | None:
        match = _NAME.match(file_name)
        if match is None:
            return None
        file_class = match["class"]
        return ProductMetadata(
            product_type=match["type"],
            sensing_start=parse_compact_time(match["start"]),
            sensing_stop=parse_compact_time(match["stop"]),
            generation_time=parse_compact_time(match["created"]),
            spacecraft_code="S5P",
            orbit_number=int(match["orbit"]),
            file_class=file_class,
            mode=file_class if file_class in MODES else None,
            parameters={
                "collection": match["collection"],
                "processorVersion": match["version"],
            },
        )


plugin = S5PMission()
