"""Job step descriptions: what the processor wrapper needs to run one job step.

A description is a :class:`~proseo.contract.JobStepDescription`: the run key, the
storage, the processor version with its tasks, the job window as sensing start/stop, the
dynamic processing parameters (the configuration's, overridden by the order's), the inputs
(the files, at the job's facility, of the products that satisfy the job step's product
queries, grouped by product type) and the outputs (one file per output product: the main
product and its components, named by the mission plug-in, keyed
``<mission>/<product type>/<product uuid>/<file name>``).

Built for a whole batch of job steps in a few queries (no query per job step).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased, selectinload

from proseo.contract import (
    InputFile,
    JobStepDescription,
    JobStepInput,
    JobStepOutput,
    ProcessorSpec,
    ProcessorTask,
)
from proseo.db.bulk import chunks
from proseo.model import (
    ConfiguredProcessor,
    Job,
    JobStep,
    Mission,
    Orbit,
    ProcessingFacility,
    ProcessingOrder,
    Processor,
    Product,
    ProductClass,
    ProductFile,
    ProductQuery,
    Spacecraft,
)
from proseo.model.order import product_query_satisfying_product
from proseo.plugins import MissionPlugin, ProductMetadata, get_mission_plugin
from proseo.storage import product_key

_CHUNK = 500
"""Job steps per query."""


def _processor_part(processor: Processor) -> ProcessorSpec:
    return ProcessorSpec(
        name=processor.processor_class.name,
        version=processor.processor_version,
        max_time_s=processor.max_time_s,
        job_order_version=processor.job_order_version.value,
        tasks=tuple(
            ProcessorTask(t.task_name, t.task_version, t.command or "") for t in processor.tasks
        ),
        docker_image=processor.docker_image,
        cpus=max((t.number_of_cpus or 1 for t in processor.tasks), default=1),
        memory_bytes=max((t.min_memory_bytes or 0 for t in processor.tasks), default=0) or None,
    )


def build_descriptions(
    session: Session,
    step_ids: Sequence[int],
    facility: ProcessingFacility,
    storage: dict[str, Any],
    generation_time: datetime,
    storage_patience_s: float = 300.0,
) -> dict[int, JobStepDescription]:
    """Descriptions of the job steps ``step_ids`` (their ``attempt`` already set for this run),
    by job step id. Sets ``generation_time`` (UTC) on their output products, as their file
    names carry it. ``storage_patience_s``: how long the wrapper waits for an unreachable
    storage (seconds).

    :raises ConfigurationError: when a mission's product file template cannot name an output.
    :raises NotFoundError: when a job step's mission has no installed plug-in.
    """
    ids = list(step_ids)
    descriptions: dict[int, dict[str, Any]] = {}
    processors: dict[int, ProcessorSpec] = {}
    missions: dict[int, str] = {}
    for chunk in chunks(ids, _CHUNK):
        rows = session.execute(
            select(JobStep, Job, ProcessingOrder, ConfiguredProcessor)
            .join(Job, JobStep.job_id == Job.id)
            .join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id)
            .join(ConfiguredProcessor, JobStep.configured_processor_id == ConfiguredProcessor.id)
            .where(JobStep.id.in_(chunk))
            .options(
                selectinload(ConfiguredProcessor.processor).selectinload(Processor.tasks),
                selectinload(ConfiguredProcessor.processor).selectinload(Processor.processor_class),
                selectinload(ConfiguredProcessor.configuration),
            )
        ).all()
        for step, job, order, configured in rows:
            if configured.id not in processors:
                processors[configured.id] = _processor_part(configured.processor)
            if order.mission_id not in missions:
                missions[order.mission_id] = session.get_one(Mission, order.mission_id).code
            descriptions[step.id] = {
                "run_key": step.run_key,
                "job_step_id": step.id,
                "attempt": step.attempt,
                "mission": missions[order.mission_id],
                "processing_order": order.identifier,
                "configured_processor": configured.identifier,
                "storage": storage,
                "processor": processors[configured.id],
                "sensing_start": job.start_time,
                "sensing_stop": job.stop_time,
                "dynamic_parameters": {
                    **configured.configuration.dynamic_processing_parameters,
                    **order.dynamic_processing_parameters,
                },
                "processing_station": facility.name,
                "storage_patience_s": storage_patience_s,
            }
    inputs = _inputs(session, ids, facility)
    outputs = _outputs(session, ids, generation_time, descriptions)
    return {
        step_id: JobStepDescription(
            **fields, inputs=inputs.get(step_id, ()), outputs=tuple(outputs.get(step_id, ()))
        )
        for step_id, fields in descriptions.items()
    }


def _inputs(
    session: Session, ids: list[int], facility: ProcessingFacility
) -> dict[int, tuple[JobStepInput, ...]]:
    """Per job step the files of its selected input products at the facility, grouped by
    product type (sorted), each product once."""
    result: dict[int, tuple[JobStepInput, ...]] = {}
    link = product_query_satisfying_product
    for chunk in chunks(ids, _CHUNK):
        rows = session.execute(
            select(
                ProductQuery.job_step_id,
                ProductClass.product_type,
                Product.id,
                ProductFile.file_path,
                ProductFile.product_file_name,
                ProductFile.auxiliary_file_names,
            )
            .join(link, link.c.product_query_id == ProductQuery.id)
            .join(Product, Product.id == link.c.product_id)
            .join(ProductClass, Product.product_class_id == ProductClass.id)
            .join(
                ProductFile,
                (ProductFile.product_id == Product.id)
                & (ProductFile.processing_facility_id == facility.id),
            )
            .where(ProductQuery.job_step_id.in_(chunk))
            .order_by(ProductQuery.job_step_id, ProductClass.product_type, Product.id)
        ).all()
        grouped: dict[int, dict[str, list[InputFile]]] = defaultdict(dict)
        seen: set[tuple[int, int]] = set()
        for step_id, product_type, product_id, folder, main, auxiliary in rows:
            if (step_id, product_id) in seen:  # selected by two rules of the same step
                continue
            seen.add((step_id, product_id))
            files = grouped[step_id].setdefault(product_type, [])
            for name in [main, *auxiliary]:
                files.append(InputFile(f"{folder}/{name}", f"{product_id}/{name}"))
        for step_id, by_type in grouped.items():
            result[step_id] = tuple(
                JobStepInput(product_type, tuple(files))
                for product_type, files in sorted(by_type.items())
            )
    return result


def _outputs(
    session: Session,
    ids: list[int],
    generation_time: datetime,
    descriptions: dict[int, dict[str, Any]],
) -> dict[int, list[JobStepOutput]]:
    """Per job step its output files (main product first, then components), named by the
    mission plug-in; sets ``generation_time`` on the output products."""
    result: dict[int, list[JobStepOutput]] = defaultdict(list)
    spacecraft = aliased(Spacecraft)
    plugins: dict[str, MissionPlugin] = {}
    for chunk in chunks(ids, _CHUNK):
        rows = session.execute(
            select(
                Product.job_step_id,
                Product.id,
                Product.uuid,
                ProductClass.product_type,
                Product.sensing_start,
                Product.sensing_stop,
                Product.file_class,
                Product.mode,
                Orbit.orbit_number,
                spacecraft.code,
            )
            .join(ProductClass, Product.product_class_id == ProductClass.id)
            .outerjoin(Orbit, Product.orbit_id == Orbit.id)
            .outerjoin(spacecraft, Orbit.spacecraft_id == spacecraft.id)
            .where(Product.job_step_id.in_(chunk))
            .order_by(Product.job_step_id, Product.enclosing_product_id.is_not(None), Product.id)
        ).all()
        # one render of the mission's file name template per (mission, processor version)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        metadata: list[ProductMetadata] = []
        for index, (step_id, _, _, product_type, start, stop, fc, mode, orbit, sc) in enumerate(
            rows
        ):
            assert step_id is not None
            description = descriptions[step_id]
            groups[(description["mission"], description["processor"].version)].append(index)
            metadata.append(
                ProductMetadata(
                    product_type=product_type,
                    sensing_start=start,
                    sensing_stop=stop,
                    generation_time=generation_time,
                    spacecraft_code=sc,
                    orbit_number=orbit,
                    file_class=fc,
                    mode=mode,
                )
            )
        names: list[str] = [""] * len(rows)
        for (code, version), members in groups.items():
            plugin = plugins.get(code) or plugins.setdefault(code, get_mission_plugin(code))
            rendered = plugin.output_file_names(
                [metadata[i] for i in members], processor_version=version
            )
            for i, name in zip(members, rendered, strict=True):
                names[i] = name
        for (step_id, product_id, product_uuid, product_type, *_), name in zip(
            rows, names, strict=True
        ):
            assert step_id is not None
            code = descriptions[step_id]["mission"]
            result[step_id].append(
                JobStepOutput(
                    file_type=product_type,
                    file_name=name,
                    key=product_key(code, product_type, str(product_uuid), name),
                    product_id=product_id,
                )
            )
        session.execute(
            update(Product)
            .where(Product.job_step_id.in_(chunk))
            .values(generation_time=generation_time)
            .execution_options(synchronize_session=False)
        )
    return result
