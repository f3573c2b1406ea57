"""The contract between the control plane and the execution nodes: a job step description in,
a result manifest out.

The dispatcher writes a :class:`JobStepDescription` as JSON next to the run; the processor
wrapper (:mod:`processor_wrappers`) reads it, runs the processor and writes a
:class:`RunManifest`; the dispatcher alone reads the manifest and decides. Both documents
carry :data:`SCHEMA_VERSION`; ``from_dict`` refuses another version with a
:class:`ContractError` naming both versions, so a wrapper image older or newer than the
control plane fails at once instead of misreading a field. ``to_dict``/``from_dict`` round
trips are lossless (times as ISO 8601 with their UTC offset, microseconds kept).

Pure data: no SQLAlchemy, no FastAPI (execution nodes import this).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from proseo.errors import InvalidInputError

SCHEMA_VERSION = 1
"""Version of both documents; raise it when a field changes meaning or becomes required."""


class ContractError(InvalidInputError):
    """A job step description or result manifest that cannot be read: another schema
    version, a missing field, or a field of the wrong type."""


class RunStatus(StrEnum):
    """How a run ended, by the ESA Generic IPF exit-code rules: 0 success; 1-127 success with
    warnings (outputs are used); above 127 or killed by a signal: failure."""

    COMPLETED = "COMPLETED"
    COMPLETED_WITH_WARNINGS = "COMPLETED_WITH_WARNINGS"
    FAILED = "FAILED"

    @property
    def succeeded(self) -> bool:
        """Whether the outputs are used (completed, with or without warnings)."""
        return self is not RunStatus.FAILED


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as error:
        raise ContractError(where, value, "is not an ISO 8601 time") from error


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _field(data: Mapping[str, Any], key: str, document: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise ContractError(f"{document}.{key}", None, "is missing") from None


def _check_version(data: Mapping[str, Any], document: str) -> None:
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ContractError(
            f"{document}.schema_version",
            version,
            f"is not supported: this proseo-py reads version {SCHEMA_VERSION}; "
            "run the same proseo-py version on the control plane and the execution nodes",
        )


@dataclass(frozen=True)
class ProcessorTask:
    """One task of a processor: run as ``<command> <Job Order File>``."""

    name: str
    version: str
    command: str


@dataclass(frozen=True)
class ProcessorSpec:
    """The processor version a job step runs, with its resource requests.

    ``max_time_s`` in seconds (``None``: no limit); ``memory_bytes`` in bytes;
    ``job_order_version`` a :class:`~proseo.enums.JobOrderVersion` value (Job Order flavour).
    """

    name: str
    version: str
    tasks: tuple[ProcessorTask, ...]
    job_order_version: str = "MMFI_1_8"
    max_time_s: int | None = None
    docker_image: str | None = None
    cpus: int = 1
    memory_bytes: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessorSpec:
        """From the ``processor`` part of a description. :raises ContractError:"""
        tasks = tuple(
            ProcessorTask(
                str(_field(t, "name", "processor.tasks")),
                str(_field(t, "version", "processor.tasks")),
                str(t.get("command") or ""),
            )
            for t in _field(data, "tasks", "processor")
        )
        return cls(
            name=str(_field(data, "name", "processor")),
            version=str(_field(data, "version", "processor")),
            tasks=tasks,
            job_order_version=str(data.get("job_order_version") or "MMFI_1_8"),
            max_time_s=data.get("max_time_s"),
            docker_image=data.get("docker_image"),
            cpus=int(data.get("cpus") or 1),
            memory_bytes=data.get("memory_bytes"),
        )


@dataclass(frozen=True)
class InputFile:
    """One stored file to stage in: its storage ``key`` and its ``name`` in the work folder."""

    key: str
    name: str


@dataclass(frozen=True)
class InputTimeInterval:
    """A Job Order ``Time_Interval`` of an input (UTC)."""

    start: datetime | None
    stop: datetime | None
    name: str


@dataclass(frozen=True)
class JobStepInput:
    """The input files of one product type (one Job Order ``Input``)."""

    file_type: str
    files: tuple[InputFile, ...]
    file_name_type: str = "Physical"
    time_intervals: tuple[InputTimeInterval, ...] = ()


@dataclass(frozen=True)
class JobStepOutput:
    """One output file the processor must write (named by the mission before the run) and
    where it is stored; ``product_id`` is the catalogue's placeholder product."""

    file_type: str
    file_name: str
    key: str
    product_id: int | None = None


@dataclass(frozen=True)
class JobStepDescription:
    """Everything the processor wrapper needs to run one job step attempt, and nothing of the
    database. ``sensing_start``/``sensing_stop`` are the job window (UTC);
    ``storage`` the storage settings (``{"kind": "posix", "root": ...}`` or S3)."""

    run_key: str
    job_step_id: int
    attempt: int
    mission: str
    processing_order: str
    configured_processor: str
    storage: Mapping[str, Any]
    processor: ProcessorSpec
    sensing_start: datetime | None
    sensing_stop: datetime | None
    dynamic_parameters: Mapping[str, str] = field(default_factory=dict)
    processing_station: str = "proseo-py"
    inputs: tuple[JobStepInput, ...] = ()
    outputs: tuple[JobStepOutput, ...] = ()
    config_files: tuple[str, ...] = ()
    manifest_key: str | None = None
    """Storage key the wrapper also stores the manifest under (optional)."""
    keep_work_dir: bool = False
    storage_patience_s: float = 300.0
    """How long (seconds) the wrapper waits for an unreachable storage, per stage-in or
    stage-out operation, before it gives up and reports the run as transient."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (times as ISO 8601 text). Written field by field: the
        dispatcher writes one per job step, and ``dataclasses.asdict`` (a deep copy) cost
        0.4 ms each."""
        p = self.processor
        return {
            "schema_version": self.schema_version,
            "run_key": self.run_key,
            "job_step_id": self.job_step_id,
            "attempt": self.attempt,
            "mission": self.mission,
            "processing_order": self.processing_order,
            "configured_processor": self.configured_processor,
            "storage": dict(self.storage),
            "processor": {
                "name": p.name,
                "version": p.version,
                "tasks": [
                    {"name": t.name, "version": t.version, "command": t.command} for t in p.tasks
                ],
                "job_order_version": p.job_order_version,
                "max_time_s": p.max_time_s,
                "docker_image": p.docker_image,
                "cpus": p.cpus,
                "memory_bytes": p.memory_bytes,
            },
            "sensing_start": _text(self.sensing_start),
            "sensing_stop": _text(self.sensing_stop),
            "dynamic_parameters": dict(self.dynamic_parameters),
            "processing_station": self.processing_station,
            "inputs": [
                {
                    "file_type": i.file_type,
                    "files": [{"key": f.key, "name": f.name} for f in i.files],
                    "file_name_type": i.file_name_type,
                    "time_intervals": [
                        {"start": _text(t.start), "stop": _text(t.stop), "name": t.name}
                        for t in i.time_intervals
                    ],
                }
                for i in self.inputs
            ],
            "outputs": [
                {
                    "file_type": o.file_type,
                    "file_name": o.file_name,
                    "key": o.key,
                    "product_id": o.product_id,
                }
                for o in self.outputs
            ],
            "config_files": list(self.config_files),
            "manifest_key": self.manifest_key,
            "keep_work_dir": self.keep_work_dir,
            "storage_patience_s": self.storage_patience_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobStepDescription:
        """From :meth:`to_dict`'s form.

        :raises ContractError: for another schema version (naming both), a missing field or
            an unreadable time.
        """
        doc = "description"
        _check_version(data, doc)
        inputs = tuple(
            JobStepInput(
                file_type=str(_field(i, "file_type", "description.inputs")),
                files=tuple(
                    InputFile(str(f["key"]), str(f["name"]))
                    for f in _field(i, "files", "description.inputs")
                ),
                file_name_type=str(i.get("file_name_type") or "Physical"),
                time_intervals=tuple(
                    InputTimeInterval(
                        _time(t.get("start"), "description.inputs.time_intervals.start"),
                        _time(t.get("stop"), "description.inputs.time_intervals.stop"),
                        str(t["name"]),
                    )
                    for t in i.get("time_intervals") or ()
                ),
            )
            for i in data.get("inputs") or ()
        )
        outputs = tuple(
            JobStepOutput(
                file_type=str(_field(o, "file_type", "description.outputs")),
                file_name=str(_field(o, "file_name", "description.outputs")),
                key=str(_field(o, "key", "description.outputs")),
                product_id=None if o.get("product_id") is None else int(o["product_id"]),
            )
            for o in data.get("outputs") or ()
        )
        return cls(
            run_key=str(_field(data, "run_key", doc)),
            job_step_id=int(_field(data, "job_step_id", doc)),
            attempt=int(_field(data, "attempt", doc)),
            mission=str(_field(data, "mission", doc)),
            processing_order=str(_field(data, "processing_order", doc)),
            configured_processor=str(_field(data, "configured_processor", doc)),
            storage=dict(_field(data, "storage", doc)),
            processor=ProcessorSpec.from_dict(_field(data, "processor", doc)),
            sensing_start=_time(data.get("sensing_start"), f"{doc}.sensing_start"),
            sensing_stop=_time(data.get("sensing_stop"), f"{doc}.sensing_stop"),
            dynamic_parameters={
                str(k): str(v) for k, v in (data.get("dynamic_parameters") or {}).items()
            },
            processing_station=str(data.get("processing_station") or "proseo-py"),
            inputs=inputs,
            outputs=outputs,
            config_files=tuple(str(c) for c in data.get("config_files") or ()),
            manifest_key=data.get("manifest_key"),
            keep_work_dir=bool(data.get("keep_work_dir", False)),
            storage_patience_s=float(data.get("storage_patience_s", 300.0)),
        )


@dataclass(frozen=True)
class StoredOutput:
    """An output the wrapper stored: the description's output with its storage key, size in
    bytes and MD5 (hex)."""

    file_type: str
    file_name: str
    key: str
    size_bytes: int
    md5: str | None
    product_id: int | None = None


@dataclass(frozen=True)
class RunManifest:
    """The result of one run, written by the wrapper, read by the dispatcher.

    ``started``/``finished`` UTC; ``duration_s`` seconds; ``exit_code`` of the last task run
    (``None`` when no task ended by itself); ``reason`` why it failed or warned; the tails
    are the last lines of the processor's stdout and stderr (``log_tail`` both together).
    """

    run_key: str
    status: RunStatus
    exit_code: int | None
    reason: str | None
    started: datetime
    finished: datetime
    duration_s: float
    outputs: tuple[StoredOutput, ...] = ()
    log_tail: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""
    transient: bool = False
    """A FAILED run that failed because the storage could not be reached (for the
    description's ``storage_patience_s``), not because of the processor: the dispatcher
    requeues the job step without counting the attempt."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (times as ISO 8601 text)."""
        return {
            "schema_version": self.schema_version,
            "run_key": self.run_key,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "duration_s": self.duration_s,
            "outputs": [
                {
                    "file_type": o.file_type,
                    "file_name": o.file_name,
                    "key": o.key,
                    "size_bytes": o.size_bytes,
                    "md5": o.md5,
                    "product_id": o.product_id,
                }
                for o in self.outputs
            ],
            "log_tail": self.log_tail,
            "stdout_tail": self.stdout_tail,
            "stderr_tail": self.stderr_tail,
            "transient": self.transient,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunManifest:
        """From :meth:`to_dict`'s form.

        :raises ContractError: for another schema version (naming both), an unknown status,
            a missing field or an unreadable time.
        """
        doc = "manifest"
        _check_version(data, doc)
        status = _field(data, "status", doc)
        try:
            run_status = RunStatus(status)
        except ValueError:
            raise ContractError(f"{doc}.status", status, "is not a run status") from None
        started = _time(_field(data, "started", doc), f"{doc}.started")
        finished = _time(_field(data, "finished", doc), f"{doc}.finished")
        assert started is not None
        assert finished is not None
        return cls(
            run_key=str(_field(data, "run_key", doc)),
            status=run_status,
            exit_code=data.get("exit_code"),
            reason=data.get("reason"),
            started=started,
            finished=finished,
            duration_s=float(data.get("duration_s") or 0.0),
            outputs=tuple(
                StoredOutput(
                    file_type=str(_field(o, "file_type", "manifest.outputs")),
                    file_name=str(_field(o, "file_name", "manifest.outputs")),
                    key=str(_field(o, "key", "manifest.outputs")),
                    size_bytes=int(_field(o, "size_bytes", "manifest.outputs")),
                    md5=o.get("md5"),
                    product_id=None if o.get("product_id") is None else int(o["product_id"]),
                )
                for o in data.get("outputs") or ()
            ),
            log_tail=str(data.get("log_tail") or ""),
            stdout_tail=str(data.get("stdout_tail") or ""),
            stderr_tail=str(data.get("stderr_tail") or ""),
            transient=bool(data.get("transient", False)),
        )
