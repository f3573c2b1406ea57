"""Processor classes, processor versions, tasks, configurations and configured processors.

Versions are stored as text; :func:`proseo.model.versions.version_key` orders them as
versions (``"10.0" > "9.2"``), not as strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from proseo.enums import FileNameType, JobOrderVersion
from proseo.model.base import Base, fk, pk

if TYPE_CHECKING:
    from proseo.model.mission import Mission
    from proseo.model.productclass import ProductClass


class ProcessorClass(Base):
    """A processor class (e.g. ``TROPNLL2DP``): the family of versions producing some classes."""

    __tablename__ = "processor_class"
    __table_args__ = (UniqueConstraint("mission_id", "name"),)

    id: Mapped[int] = pk()
    mission_id: Mapped[int] = fk("mission.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))

    mission: Mapped[Mission] = relationship(back_populates="processor_classes")
    product_classes: Mapped[list[ProductClass]] = relationship(back_populates="processor_class")
    processors: Mapped[list[Processor]] = relationship(
        back_populates="processor_class", cascade="all, delete-orphan"
    )
    configurations: Mapped[list[Configuration]] = relationship(
        back_populates="processor_class", cascade="all, delete-orphan"
    )


class Processor(Base):
    """One version of a processor class.

    ``docker_image`` for container executors; tasks carry the commands. ``min_disk_space_bytes``
    is the work-directory space needed, ``max_time_s`` the wall-clock limit of one run
    (``None``: unlimited).
    """

    __tablename__ = "processor"
    __table_args__ = (UniqueConstraint("processor_class_id", "processor_version"),)

    id: Mapped[int] = pk()
    processor_class_id: Mapped[int] = fk("processor_class.id", ondelete="CASCADE")
    processor_version: Mapped[str] = mapped_column(String(50))
    job_order_version: Mapped[JobOrderVersion] = mapped_column(default=JobOrderVersion.MMFI_1_8)
    docker_image: Mapped[str | None] = mapped_column(String(500))
    is_test: Mapped[bool] = mapped_column(default=False)
    min_disk_space_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_time_s: Mapped[int | None]
    sensing_time_flag: Mapped[bool] = mapped_column(default=True)
    use_input_file_time_intervals: Mapped[bool] = mapped_column(default=False)

    processor_class: Mapped[ProcessorClass] = relationship(back_populates="processors")
    tasks: Mapped[list[Task]] = relationship(
        back_populates="processor", cascade="all, delete-orphan", order_by="Task.position"
    )
    configured_processors: Mapped[list[ConfiguredProcessor]] = relationship(
        back_populates="processor"
    )


class Task(Base):
    """One task of a processor version (an ``Ipf_Proc`` in the Job Order File).

    ``command`` is run with the Job Order File path as its only argument;
    ``min_memory_bytes`` and ``number_of_cpus`` are its resource needs.
    """

    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("processor_id", "position"),)

    id: Mapped[int] = pk()
    processor_id: Mapped[int] = fk("processor.id", ondelete="CASCADE")
    position: Mapped[int]
    task_name: Mapped[str] = mapped_column(String(100))
    task_version: Mapped[str] = mapped_column(String(50))
    command: Mapped[str | None] = mapped_column(Text)
    is_critical: Mapped[bool] = mapped_column(default=True)
    criticality_level: Mapped[int | None]
    number_of_cpus: Mapped[int | None]
    min_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    breakpoint_file_names: Mapped[list[str]] = mapped_column(default=list)

    processor: Mapped[Processor] = relationship(back_populates="tasks")


class Configuration(Base):
    """One configuration version of a processor class.

    ``mode`` is the processing mode it serves (``None``: any); ``dynamic_processing_parameters``
    are name/value strings for the Job Order File; resource requests are per job step
    (``cpus``, ``memory_bytes``, ``disk_bytes``).
    """

    __tablename__ = "configuration"
    __table_args__ = (UniqueConstraint("processor_class_id", "configuration_version"),)

    id: Mapped[int] = pk()
    processor_class_id: Mapped[int] = fk("processor_class.id", ondelete="CASCADE")
    configuration_version: Mapped[str] = mapped_column(String(50))
    mode: Mapped[str | None] = mapped_column(String(32))
    dynamic_processing_parameters: Mapped[dict[str, str]] = mapped_column(default=dict)
    resource_requests: Mapped[dict[str, Any]] = mapped_column(default=dict)

    processor_class: Mapped[ProcessorClass] = relationship(back_populates="configurations")
    configuration_files: Mapped[list[ConfigurationFile]] = relationship(
        back_populates="configuration", cascade="all, delete-orphan"
    )
    static_input_files: Mapped[list[ConfigurationInputFile]] = relationship(
        back_populates="configuration", cascade="all, delete-orphan"
    )
    configured_processors: Mapped[list[ConfiguredProcessor]] = relationship(
        back_populates="configuration"
    )


class ConfigurationFile(Base):
    """A configuration file given to the processor (``Conf_File_Name`` in the Job Order)."""

    __tablename__ = "configuration_file"

    id: Mapped[int] = pk()
    configuration_id: Mapped[int] = fk("configuration.id", ondelete="CASCADE", index=True)
    file_name: Mapped[str] = mapped_column(Text)
    file_version: Mapped[str] = mapped_column(String(50))

    configuration: Mapped[Configuration] = relationship(back_populates="configuration_files")


class ConfigurationInputFile(Base):
    """A static input of a configuration, written into every Job Order as an ``Input``."""

    __tablename__ = "configuration_input_file"

    id: Mapped[int] = pk()
    configuration_id: Mapped[int] = fk("configuration.id", ondelete="CASCADE", index=True)
    file_type: Mapped[str] = mapped_column(String(64))
    file_name_type: Mapped[FileNameType] = mapped_column(default=FileNameType.PHYSICAL)
    file_names: Mapped[list[str]] = mapped_column(default=list)

    configuration: Mapped[Configuration] = relationship(back_populates="static_input_files")


class ConfiguredProcessor(Base):
    """A processor version with a configuration version, ready to be used by the planner.

    ``identifier`` is unique (e.g. ``NL2_01.02.03_OFFL_1``); disabled ones are never chosen.
    """

    __tablename__ = "configured_processor"

    id: Mapped[int] = pk()
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    processor_id: Mapped[int] = fk("processor.id", ondelete="CASCADE", index=True)
    configuration_id: Mapped[int] = fk("configuration.id", ondelete="CASCADE", index=True)
    enabled: Mapped[bool] = mapped_column(default=True)

    processor: Mapped[Processor] = relationship(back_populates="configured_processors")
    configuration: Mapped[Configuration] = relationship(back_populates="configured_processors")
