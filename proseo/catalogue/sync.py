"""Write a mission definition into the metadata database, idempotently, and read it back.

:func:`sync_mission` compares the definition with what is stored and changes only what
differs: running it twice changes nothing the second time; changing one rule or adding one
processor version touches only that. Nothing is deleted that products or orders could refer
to (product classes, processors, configurations, spacecraft, orbits): what the definition no
longer names is kept and reported. Selection rules are configuration and are replaced.

:func:`export_mission` turns what is stored back into a
:class:`~proseo.definitions.MissionDefinition` (with explicit orbits).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from proseo.catalogue.missions import create_mission, get_mission
from proseo.definitions import (
    ConfigurationDefinition,
    ConfigurationFileDefinition,
    ConfiguredProcessorDefinition,
    MissionDefinition,
    OrbitDefinition,
    ProcessorDefinition,
    ProductClassDefinition,
    SelectionRuleDefinition,
    SpacecraftDefinition,
    StaticInputDefinition,
    TaskDefinition,
)
from proseo.errors import InvalidInputError, NotFoundError, ProseoError
from proseo.model import (
    Configuration,
    ConfigurationFile,
    ConfigurationInputFile,
    ConfiguredProcessor,
    Mission,
    Orbit,
    Processor,
    ProcessorClass,
    ProductClass,
    SelectionRule,
    SimplePolicy,
    SimpleRuleFilter,
    SimpleSelectionRule,
    Spacecraft,
    Task,
)
from proseo.rule_language import format_rule, parse_rule


@dataclass
class SyncReport:
    """What a synchronisation changed (one line per change) and what it kept."""

    mission: str
    changes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.changes)


def _apply(entity: Any, values: dict[str, Any]) -> list[str]:
    changed = []
    for name, value in values.items():
        if getattr(entity, name) != value:
            setattr(entity, name, value)
            changed.append(name)
    return changed


def _note(report: SyncReport, what: str, created: bool, fields: list[str]) -> None:
    if created:
        report.changes.append(f"created {what}")
    elif fields:
        report.changes.append(f"updated {what} ({', '.join(fields)})")


def _mission(session: Session, d: MissionDefinition, report: SyncReport) -> Mission:
    values = {
        "name": d.name,
        "file_classes": list(d.file_classes),
        "processing_modes": list(d.processing_modes),
        "product_file_template": d.product_file_template,
        "product_retention_period_s": d.product_retention_period_s,
        "order_retention_period_s": d.order_retention_period_s,
    }
    try:
        mission = get_mission(session, d.code)
    except NotFoundError:
        mission = create_mission(
            session,
            d.code,
            d.name,
            file_classes=d.file_classes,
            processing_modes=d.processing_modes,
            product_file_template=d.product_file_template,
        )
        _apply(mission, values)
        _note(report, f"mission {d.code}", True, [])
        return mission
    _note(report, f"mission {d.code}", False, _apply(mission, values))
    return mission


def _spacecraft(
    session: Session,
    mission: Mission,
    d: SpacecraftDefinition,
    orbit_range: tuple[int, int] | None,
    report: SyncReport,
) -> None:
    spacecraft = next((s for s in mission.spacecrafts if s.code == d.code), None)
    created = spacecraft is None
    if spacecraft is None:
        spacecraft = Spacecraft(mission=mission, code=d.code, name=d.name)
        session.add(spacecraft)
        session.flush()
    _note(report, f"spacecraft {d.code}", created, _apply(spacecraft, {"name": d.name}))
    wanted: dict[int, OrbitDefinition] = {o.number: o for o in d.orbits}
    if d.nominal_orbits is not None:
        first, last = orbit_range or (None, None)
        for orbit in d.nominal_orbits.expand(first, last):
            wanted.setdefault(orbit.number, orbit)
    if not wanted:
        return
    stored = {
        o.orbit_number: o
        for o in session.scalars(select(Orbit).where(Orbit.spacecraft_id == spacecraft.id))
    }
    new_rows = []
    updated = 0
    for number, orbit in sorted(wanted.items()):
        existing = stored.get(number)
        if existing is None:
            new_rows.append(
                {
                    "spacecraft_id": spacecraft.id,
                    "orbit_number": number,
                    "start_time": orbit.start,
                    "stop_time": orbit.stop,
                }
            )
        elif _apply(existing, {"start_time": orbit.start, "stop_time": orbit.stop}):
            updated += 1
    if new_rows:
        session.execute(insert(Orbit), new_rows)
        report.changes.append(
            f"created {len(new_rows)} orbits of {d.code} "
            f"({new_rows[0]['orbit_number']}..{new_rows[-1]['orbit_number']})"
        )
    if updated:
        report.changes.append(f"updated {updated} orbits of {d.code}")


def _processor_classes(
    session: Session, mission: Mission, d: MissionDefinition, report: SyncReport
) -> dict[str, ProcessorClass]:
    names = list(d.processor_classes)
    referenced = [pc.processor_class for pc in d.product_classes if pc.processor_class]
    referenced += [p.processor_class for p in d.processors]
    referenced += [c.processor_class for c in d.configurations]
    for name in referenced:
        if name not in names:
            names.append(name)
    existing = {pc.name: pc for pc in mission.processor_classes}
    for name in names:
        if name not in existing:
            existing[name] = ProcessorClass(mission=mission, name=name)
            session.add(existing[name])
            report.changes.append(f"created processor class {name}")
    session.flush()
    return existing


def _product_classes(
    session: Session,
    mission: Mission,
    d: MissionDefinition,
    processor_classes: dict[str, ProcessorClass],
    report: SyncReport,
) -> dict[str, ProductClass]:
    existing = {pc.product_type: pc for pc in mission.product_classes}
    created: set[str] = set()
    for pcd in d.product_classes:
        if pcd.product_type not in existing:
            existing[pcd.product_type] = ProductClass(
                mission=mission, product_type=pcd.product_type
            )
            session.add(existing[pcd.product_type])
            created.add(pcd.product_type)
    session.flush()
    for pcd in d.product_classes:
        enclosing = None
        if pcd.enclosing_class is not None:
            enclosing = existing.get(pcd.enclosing_class)
            if enclosing is None:
                raise InvalidInputError(
                    f"product class {pcd.product_type} enclosing_class",
                    pcd.enclosing_class,
                    f"not a product class of mission {d.code}",
                )
        values = {
            "description": pcd.description,
            "processing_level": pcd.processing_level,
            "visibility": pcd.visibility,
            "default_slicing_type": pcd.default_slicing_type,
            "default_slice_duration_ms": (
                None
                if pcd.default_slice_duration_s is None
                else pcd.default_slice_duration_s * 1000
            ),
            "processor_class_id": (
                processor_classes[pcd.processor_class].id if pcd.processor_class else None
            ),
            "enclosing_class_id": enclosing.id if enclosing is not None else None,
        }
        fields = _apply(existing[pcd.product_type], values)
        _note(report, f"product class {pcd.product_type}", pcd.product_type in created, fields)
    for product_type in sorted(set(existing) - {p.product_type for p in d.product_classes}):
        report.kept.append(f"product class {product_type} (not in the definition)")
    session.flush()
    return existing


def _processors(
    session: Session,
    d: MissionDefinition,
    processor_classes: dict[str, ProcessorClass],
    report: SyncReport,
) -> dict[tuple[str, str], Processor]:
    stored = {
        (pc.name, p.processor_version): p
        for pc in processor_classes.values()
        for p in pc.processors
    }
    for pd in d.processors:
        key = (pd.processor_class, pd.version)
        processor = stored.get(key)
        created = processor is None
        if processor is None:
            processor = Processor(
                processor_class=processor_classes[pd.processor_class], processor_version=pd.version
            )
            session.add(processor)
            stored[key] = processor
        fields = _apply(
            processor,
            {
                "job_order_version": pd.job_order_version,
                "docker_image": pd.docker_image,
                "is_test": pd.is_test,
                "min_disk_space_bytes": pd.min_disk_space_bytes,
                "max_time_s": pd.max_time_s,
                "sensing_time_flag": pd.sensing_time_flag,
                "use_input_file_time_intervals": pd.use_input_file_time_intervals,
            },
        )
        if [_task_definition(t) for t in processor.tasks] != list(pd.tasks):
            processor.tasks = [
                Task(
                    position=i,
                    task_name=t.name,
                    task_version=t.version,
                    command=t.command,
                    is_critical=t.is_critical,
                    criticality_level=t.criticality_level,
                    number_of_cpus=t.number_of_cpus,
                    min_memory_bytes=t.min_memory_bytes,
                    breakpoint_file_names=list(t.breakpoint_file_names),
                )
                for i, t in enumerate(pd.tasks)
            ]
            session.flush()
            fields.append("tasks")
        _note(
            report,
            f"processor {pd.processor_class} {pd.version}",
            created,
            fields if not created else [],
        )
    session.flush()
    return stored


def _task_definition(task: Task) -> TaskDefinition:
    return TaskDefinition(
        name=task.task_name,
        version=task.task_version,
        command=task.command,
        is_critical=task.is_critical,
        criticality_level=task.criticality_level,
        number_of_cpus=task.number_of_cpus,
        min_memory_bytes=task.min_memory_bytes,
        breakpoint_file_names=tuple(task.breakpoint_file_names),
    )


def _configuration_parts(c: Configuration) -> tuple[Any, Any]:
    files = tuple(
        ConfigurationFileDefinition(file_name=f.file_name, file_version=f.file_version)
        for f in sorted(c.configuration_files, key=lambda f: f.id)
    )
    inputs = tuple(
        StaticInputDefinition(
            file_type=i.file_type, file_name_type=i.file_name_type, file_names=tuple(i.file_names)
        )
        for i in sorted(c.static_input_files, key=lambda i: i.id)
    )
    return files, inputs


def _configurations(
    session: Session,
    d: MissionDefinition,
    processor_classes: dict[str, ProcessorClass],
    report: SyncReport,
) -> dict[tuple[str, str], Configuration]:
    stored = {
        (pc.name, c.configuration_version): c
        for pc in processor_classes.values()
        for c in pc.configurations
    }
    for cd in d.configurations:
        key = (cd.processor_class, cd.version)
        configuration = stored.get(key)
        created = configuration is None
        if configuration is None:
            configuration = Configuration(
                processor_class=processor_classes[cd.processor_class],
                configuration_version=cd.version,
            )
            session.add(configuration)
            stored[key] = configuration
        fields = _apply(
            configuration,
            {
                "mode": cd.mode,
                "dynamic_processing_parameters": dict(cd.dynamic_processing_parameters),
                "resource_requests": dict(cd.resource_requests),
            },
        )
        files, inputs = _configuration_parts(configuration)
        if files != cd.configuration_files:
            configuration.configuration_files = [
                ConfigurationFile(file_name=f.file_name, file_version=f.file_version)
                for f in cd.configuration_files
            ]
            fields.append("configuration_files")
        if inputs != cd.static_inputs:
            configuration.static_input_files = [
                ConfigurationInputFile(
                    file_type=i.file_type,
                    file_name_type=i.file_name_type,
                    file_names=list(i.file_names),
                )
                for i in cd.static_inputs
            ]
            fields.append("static_inputs")
        _note(
            report,
            f"configuration {cd.processor_class} {cd.version}",
            created,
            [] if created else fields,
        )
    session.flush()
    return stored


def _configured_processors(
    session: Session,
    d: MissionDefinition,
    processors: dict[tuple[str, str], Processor],
    configurations: dict[tuple[str, str], Configuration],
    report: SyncReport,
) -> dict[str, ConfiguredProcessor]:
    identifiers = [c.identifier for c in d.configured_processors]
    stored = {
        cp.identifier: cp
        for cp in session.scalars(
            select(ConfiguredProcessor).where(ConfiguredProcessor.identifier.in_(identifiers))
        )
    }
    mission_processors = {p.id for p in processors.values()}
    for cpd in d.configured_processors:
        processor = processors.get((cpd.processor_class, cpd.processor_version))
        configuration = configurations.get((cpd.processor_class, cpd.configuration_version))
        if processor is None:
            raise InvalidInputError(
                f"configured processor {cpd.identifier} processor",
                f"{cpd.processor_class} {cpd.processor_version}",
                "no such processor version in the definition",
            )
        if configuration is None:
            raise InvalidInputError(
                f"configured processor {cpd.identifier} configuration",
                f"{cpd.processor_class} {cpd.configuration_version}",
                "no such configuration version in the definition",
            )
        cp = stored.get(cpd.identifier)
        created = cp is None
        if cp is None:
            cp = ConfiguredProcessor(
                identifier=cpd.identifier, processor=processor, configuration=configuration
            )
            session.add(cp)
            stored[cpd.identifier] = cp
        elif cp.processor_id not in mission_processors:
            raise InvalidInputError(
                "configured processor identifier", cpd.identifier, "is used by another mission"
            )
        session.flush()
        fields = _apply(
            cp,
            {
                "processor_id": processor.id,
                "configuration_id": configuration.id,
                "enabled": cpd.enabled,
            },
        )
        _note(report, f"configured processor {cpd.identifier}", created, [] if created else fields)
    return stored


def _rule_key(
    mode: str | None, text: str, processors: Iterable[str]
) -> tuple[str | None, str, tuple[str, ...]]:
    return (mode, text, tuple(sorted(processors)))


def _selection_rules(
    session: Session,
    d: MissionDefinition,
    product_classes: dict[str, ProductClass],
    configured: dict[str, ConfiguredProcessor],
    report: SyncReport,
) -> None:
    for pcd in d.product_classes:
        target = product_classes[pcd.product_type]
        wanted: dict[tuple[str | None, str, tuple[str, ...]], SelectionRuleDefinition] = {}
        for rd in pcd.selection_rules:
            try:
                parsed = parse_rule(rd.rule)
            except ProseoError as error:
                raise InvalidInputError(
                    f"product class {pcd.product_type} selection rule", rd.rule, str(error)
                ) from error
            for simple in parsed.simple_rules:
                if simple.source_type not in product_classes:
                    raise InvalidInputError(
                        f"product class {pcd.product_type} selection rule",
                        rd.rule,
                        f"source product type {simple.source_type!r} is not a product class "
                        f"of mission {d.code}",
                    )
            for identifier in rd.configured_processors:
                if identifier not in configured:
                    raise InvalidInputError(
                        f"product class {pcd.product_type} selection rule configured processor",
                        identifier,
                        "not a configured processor of the definition",
                    )
            wanted[_rule_key(rd.mode, format_rule(parsed), rd.configured_processors)] = rd
        stored = {
            _rule_key(
                r.mode, r.rule_text, (cp.identifier for cp in r.applicable_configured_processors)
            ): r
            for r in target.selection_rules
        }
        for key in set(stored) - set(wanted):
            target.selection_rules.remove(stored[key])
            report.changes.append(f"removed selection rule of {pcd.product_type}: {key[1]}")
        for key in wanted:
            if key in stored:
                continue
            mode, text, identifiers = key
            rule = SelectionRule(
                target_class=target,
                mode=mode,
                rule_text=text,
                applicable_configured_processors=[configured[i] for i in identifiers],
            )
            for position, simple in enumerate(parse_rule(text).simple_rules):
                rule.simple_rules.append(
                    SimpleSelectionRule(
                        position=position,
                        source_class=product_classes[simple.source_type],
                        is_mandatory=simple.mandatory,
                        minimum_coverage=simple.min_coverage,
                        policies=[
                            SimplePolicy(
                                position=i,
                                policy_type=p.policy_type,
                                delta_before_ms=p.delta_before_ms,
                                delta_after_ms=p.delta_after_ms,
                            )
                            for i, p in enumerate(simple.policies)
                        ],
                        filters=[SimpleRuleFilter(key=k, value=v) for k, v in simple.filters],
                    )
                )
            session.add(rule)
            report.changes.append(f"added selection rule of {pcd.product_type}: {text}")
    session.flush()


def sync_mission(
    session: Session, definition: MissionDefinition, *, orbit_range: tuple[int, int] | None = None
) -> SyncReport:
    """Bring the database in line with ``definition``; only what differs is written.

    :param orbit_range: first and last orbit to create from nominal orbit sources
        (default: the range the definition gives).
    :returns: the report of changes; ``report.changed`` is False on a repeated sync.
    :raises InvalidInputError: for references to undefined product classes, processor
        versions, configurations or configured processors, and for malformed rules; the
        caller's transaction then rolls back and nothing is kept.
    """
    report = SyncReport(definition.code)
    mission = _mission(session, definition, report)
    session.flush()
    for spacecraft in definition.spacecraft:
        _spacecraft(session, mission, spacecraft, orbit_range, report)
    processor_classes = _processor_classes(session, mission, definition, report)
    product_classes = _product_classes(session, mission, definition, processor_classes, report)
    processors = _processors(session, definition, processor_classes, report)
    configurations = _configurations(session, definition, processor_classes, report)
    configured = _configured_processors(session, definition, processors, configurations, report)
    _selection_rules(session, definition, product_classes, configured, report)
    return report


def export_mission(session: Session, code: str) -> MissionDefinition:
    """What the database holds for mission ``code``, as a definition (explicit orbits).

    :raises NotFoundError: when there is no such mission.
    """
    mission = get_mission(session, code)
    session.refresh(mission)
    mission = session.scalars(
        select(Mission)
        .where(Mission.id == mission.id)
        .options(
            selectinload(Mission.spacecrafts).selectinload(Spacecraft.orbits),
            selectinload(Mission.product_classes).selectinload(ProductClass.selection_rules),
            selectinload(Mission.processor_classes).selectinload(ProcessorClass.processors),
        )
    ).one()
    by_id = {pc.id: pc for pc in mission.product_classes}
    processor_class_names = {pc.id: pc.name for pc in mission.processor_classes}
    product_classes = [
        ProductClassDefinition(
            product_type=pc.product_type,
            description=pc.description,
            processing_level=pc.processing_level,
            visibility=pc.visibility,
            default_slicing_type=pc.default_slicing_type,
            default_slice_duration_s=(
                None
                if pc.default_slice_duration_ms is None
                else pc.default_slice_duration_ms // 1000
            ),
            processor_class=processor_class_names.get(pc.processor_class_id)
            if pc.processor_class_id
            else None,
            enclosing_class=by_id[pc.enclosing_class_id].product_type
            if pc.enclosing_class_id
            else None,
            selection_rules=tuple(
                SelectionRuleDefinition(
                    rule=r.rule_text,
                    mode=r.mode,
                    configured_processors=tuple(
                        sorted(cp.identifier for cp in r.applicable_configured_processors)
                    ),
                )
                for r in sorted(pc.selection_rules, key=lambda r: (r.mode or "", r.rule_text))
            ),
        )
        for pc in sorted(mission.product_classes, key=lambda pc: pc.product_type)
    ]
    processors, configurations, configured = [], [], []
    for pclass in sorted(mission.processor_classes, key=lambda p: p.name):
        for p in sorted(pclass.processors, key=lambda p: p.processor_version):
            processors.append(
                ProcessorDefinition(
                    processor_class=pclass.name,
                    version=p.processor_version,
                    job_order_version=p.job_order_version,
                    docker_image=p.docker_image,
                    is_test=p.is_test,
                    min_disk_space_bytes=p.min_disk_space_bytes,
                    max_time_s=p.max_time_s,
                    sensing_time_flag=p.sensing_time_flag,
                    use_input_file_time_intervals=p.use_input_file_time_intervals,
                    tasks=tuple(_task_definition(t) for t in p.tasks),
                )
            )
            for cp in sorted(p.configured_processors, key=lambda c: c.identifier):
                configured.append(
                    ConfiguredProcessorDefinition(
                        identifier=cp.identifier,
                        processor_class=pclass.name,
                        processor_version=p.processor_version,
                        configuration_version=cp.configuration.configuration_version,
                        enabled=cp.enabled,
                    )
                )
        for c in sorted(pclass.configurations, key=lambda c: c.configuration_version):
            files, inputs = _configuration_parts(c)
            configurations.append(
                ConfigurationDefinition(
                    processor_class=pclass.name,
                    version=c.configuration_version,
                    mode=c.mode,
                    dynamic_processing_parameters=dict(c.dynamic_processing_parameters),
                    configuration_files=files,
                    static_inputs=inputs,
                    resource_requests=dict(c.resource_requests),
                )
            )
    return MissionDefinition(
        code=mission.code,
        name=mission.name,
        file_classes=tuple(mission.file_classes),
        processing_modes=tuple(mission.processing_modes),
        product_file_template=mission.product_file_template,
        product_retention_period_s=mission.product_retention_period_s,
        order_retention_period_s=mission.order_retention_period_s,
        spacecraft=tuple(
            SpacecraftDefinition(
                code=s.code,
                name=s.name,
                orbits=tuple(
                    OrbitDefinition(number=o.orbit_number, start=o.start_time, stop=o.stop_time)
                    for o in sorted(s.orbits, key=lambda o: o.orbit_number)
                ),
            )
            for s in sorted(mission.spacecrafts, key=lambda s: s.code)
        ),
        product_classes=tuple(product_classes),
        processor_classes=tuple(sorted(pc.name for pc in mission.processor_classes)),
        processors=tuple(processors),
        configurations=tuple(configurations),
        configured_processors=tuple(configured),
    )
