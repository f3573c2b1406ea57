"""A small mission used by the unit tests (code ``TST``).

Chain: L3 daily composite <- L2 <- L1B (an enclosing class with two components) <- L0 + AUX.
Two versions of the L2 processor (``1.9.0`` and ``1.10.0``, to show versions compare as
versions) and two configurations (for modes ``OPER`` and ``TEST``).
File names: ``TST_<file class>_<product type>_<start>_<stop>_<orbit>_<generation>.dat``.
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

_NAME = re.compile(
    r"^TST_(?P<file_class>[A-Z]{4})_(?P<type>[A-Z0-9_]{10})_(?P<start>\d{8}T\d{6})_"
    r"(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{5})_(?P<created>\d{8}T\d{6})\.dat$"
)


def _processor(name: str, version: str) -> ProcessorDefinition:
    return ProcessorDefinition(
        processor_class=name,
        version=version,
        max_time_s=600,
        tasks=(
            TaskDefinition(
                name=name, version=version, command="python -m missions.testmission.processor"
            ),
        ),
    )


def build_definition() -> MissionDefinition:
    """The TST mission definition."""
    return MissionDefinition(
        code="TST",
        name="proseo-py test mission",
        file_classes=("OPER", "TEST"),
        processing_modes=("OPER", "TEST"),
        product_file_template=(
            "TST_{{ file_class }}_{{ product_type }}_{{ sensing_start|compact }}_"
            "{{ sensing_stop|compact }}_{{ '%05d' % (orbit_number or 0) }}_"
            "{{ generation_time|compact }}.dat"
        ),
        spacecraft=(
            SpacecraftDefinition(
                code="TST1",
                name="Test satellite 1",
                nominal_orbits=NominalOrbits(
                    anchors=(OrbitAnchor(orbit=1, start=datetime(2024, 1, 1, tzinfo=UTC)),),
                    period_s=6000.0,
                    first_orbit=1,
                    last_orbit=100,
                ),
            ),
        ),
        product_classes=(
            ProductClassDefinition(product_type="L0________", processing_level="L0"),
            ProductClassDefinition(product_type="AUX_ORB___", processing_level="AUX"),
            ProductClassDefinition(
                product_type="L1B_______",
                processing_level="L1B",
                processor_class="TSTL1B",
                default_slicing_type="ORBIT",
                visibility="INTERNAL",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule="FOR L0________ SELECT ValIntersect(0, 0) MINCOVER(90); "
                        "FOR AUX_ORB___ SELECT LatestValCover(1d, 1d) OR LatestValIntersect(1d, 1d)"
                    ),
                ),
            ),
            ProductClassDefinition(
                product_type="L1B_RA____",
                processing_level="L1B",
                enclosing_class="L1B_______",
                processor_class="TSTL1B",
            ),
            ProductClassDefinition(
                product_type="L1B_IR____",
                processing_level="L1B",
                enclosing_class="L1B_______",
                processor_class="TSTL1B",
            ),
            ProductClassDefinition(
                product_type="L2________",
                processing_level="L2",
                processor_class="TSTL2",
                default_slicing_type="ORBIT",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule="FOR L1B_RA____ SELECT ValIntersect(0, 0); "
                        "FOR L1B_IR____ SELECT LatestValIntersect(1d, 1d)"
                    ),
                ),
            ),
            ProductClassDefinition(
                product_type="L3________",
                processing_level="L3",
                processor_class="TSTL3",
                default_slicing_type="CALENDAR_DAY",
                selection_rules=(
                    SelectionRuleDefinition(
                        rule="FOR L2________ SELECT ValIntersect(0, 0) MINCOVER(80)"
                    ),
                ),
            ),
        ),
        processors=(
            _processor("TSTL1B", "1.0.0"),
            _processor("TSTL2", "1.9.0"),
            _processor("TSTL2", "1.10.0"),
            _processor("TSTL3", "1.0.0"),
        ),
        configurations=(
            ConfigurationDefinition(processor_class="TSTL1B", version="1", mode="OPER"),
            ConfigurationDefinition(
                processor_class="TSTL2",
                version="1",
                mode="OPER",
                dynamic_processing_parameters={"threshold": "0.5"},
            ),
            ConfigurationDefinition(processor_class="TSTL2", version="2", mode="TEST"),
            ConfigurationDefinition(processor_class="TSTL3", version="1"),
        ),
        configured_processors=(
            ConfiguredProcessorDefinition(
                identifier="TSTL1B_1.0.0_1",
                processor_class="TSTL1B",
                processor_version="1.0.0",
                configuration_version="1",
            ),
            ConfiguredProcessorDefinition(
                identifier="TSTL2_1.9.0_1",
                processor_class="TSTL2",
                processor_version="1.9.0",
                configuration_version="1",
            ),
            ConfiguredProcessorDefinition(
                identifier="TSTL2_1.10.0_1",
                processor_class="TSTL2",
                processor_version="1.10.0",
                configuration_version="1",
            ),
            ConfiguredProcessorDefinition(
                identifier="TSTL2_1.10.0_2",
                processor_class="TSTL2",
                processor_version="1.10.0",
                configuration_version="2",
            ),
            ConfiguredProcessorDefinition(
                identifier="TSTL3_1.0.0_1",
                processor_class="TSTL3",
                processor_version="1.0.0",
                configuration_version="1",
            ),
        ),
    )


class TstMission(MissionPlugin):
    """Plug-in of the TST mission."""

    def definition(self) -> MissionDefinition:
        return build_definition()

    def parse_file_name(self, file_name: str) -> ProductMetadata | None:
        match = _NAME.match(file_name)
        if match is None:
            return None
        return ProductMetadata(
            product_type=match["type"],
            sensing_start=parse_compact_time(match["start"]),
            sensing_stop=parse_compact_time(match["stop"]),
            generation_time=parse_compact_time(match["created"]),
            spacecraft_code="TST1",
            orbit_number=int(match["orbit"]) or None,
            file_class=match["file_class"],
        )


plugin = TstMission()
