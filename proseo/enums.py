"""Enumerations of the metadata database (stored as their string values).

Terms and values follow the domain reference (shared DOMAIN.md) and prosEO where it agrees.
"""

from __future__ import annotations

from enum import StrEnum


class ProcessingLevel(StrEnum):
    """Processing level of a product class."""

    L0 = "L0"
    L1 = "L1"
    L1A = "L1A"
    L1B = "L1B"
    L1C = "L1C"
    L2 = "L2"
    L2A = "L2A"
    L2B = "L2B"
    L2C = "L2C"
    L3 = "L3"
    L4 = "L4"
    AUX = "AUX"


class Visibility(StrEnum):
    """Who may see products of a product class."""

    PUBLIC = "PUBLIC"
    RESTRICTED = "RESTRICTED"
    INTERNAL = "INTERNAL"


class SlicingType(StrEnum):
    """How a processing order window is cut into jobs."""

    ORBIT = "ORBIT"
    CALENDAR_DAY = "CALENDAR_DAY"
    CALENDAR_MONTH = "CALENDAR_MONTH"
    CALENDAR_YEAR = "CALENDAR_YEAR"
    TIME_SLICE = "TIME_SLICE"
    NONE = "NONE"


class ProductQuality(StrEnum):
    """Quality class of a product or of what an order asks for."""

    NOMINAL = "NOMINAL"
    EXPERIMENTAL = "EXPERIMENTAL"
    TEST = "TEST"
    SYSTEMATIC = "SYSTEMATIC"


class ProductionType(StrEnum):
    """Why a product is made: systematic production or an on-demand order."""

    SYSTEMATIC = "SYSTEMATIC"
    ON_DEMAND_DEFAULT = "ON_DEMAND_DEFAULT"
    ON_DEMAND_NON_DEFAULT = "ON_DEMAND_NON_DEFAULT"
    REPROCESSING = "REPROCESSING"
    """Made again by a reprocessing campaign."""


class ParameterType(StrEnum):
    """Type of a product parameter, order output parameter or input filter value."""

    STRING = "STRING"
    INTEGER = "INTEGER"
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    INSTANT = "INSTANT"


class JobOrderVersion(StrEnum):
    """Flavour of the ESA Generic IPF Job Order File a processor expects."""

    MMFI_1_8 = "MMFI_1_8"
    GMES_1_1 = "GMES_1_1"


class FileNameType(StrEnum):
    """``File_Name_Type`` of a Job Order input (ESA Generic IPF interface)."""

    PHYSICAL = "PHYSICAL"
    LOGICAL = "LOGICAL"
    STEM = "STEM"
    REGEXP = "REGEXP"
    DIRECTORY = "DIRECTORY"


class StorageType(StrEnum):
    """Kind of storage a product file lives in."""

    POSIX = "POSIX"
    S3 = "S3"


class FacilityState(StrEnum):
    """Operational state of a processing facility."""

    DISABLED = "DISABLED"
    STOPPED = "STOPPED"
    RUNNING = "RUNNING"


class OrderState(StrEnum):
    """State of a processing order (transitions in :mod:`proseo.model.states`)."""

    INITIAL = "INITIAL"
    APPROVED = "APPROVED"
    PLANNING = "PLANNING"
    PLANNING_FAILED = "PLANNING_FAILED"
    PLANNED = "PLANNED"
    RELEASING = "RELEASING"
    RELEASED = "RELEASED"
    RUNNING = "RUNNING"
    SUSPENDING = "SUSPENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CLOSED = "CLOSED"


class JobState(StrEnum):
    """State of a job (one slice of an order)."""

    INITIAL = "INITIAL"
    PLANNED = "PLANNED"
    RELEASED = "RELEASED"
    STARTED = "STARTED"
    ON_HOLD = "ON_HOLD"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CLOSED = "CLOSED"


class JobStepState(StrEnum):
    """State of a job step (one processor run)."""

    PLANNED = "PLANNED"
    WAITING_INPUT = "WAITING_INPUT"
    READY = "READY"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CLOSED = "CLOSED"


class StatefulEntity(StrEnum):
    """Kinds of entity whose state changes are recorded in the state history."""

    PROCESSING_ORDER = "PROCESSING_ORDER"
    JOB = "JOB"
    JOB_STEP = "JOB_STEP"


class PolicyType(StrEnum):
    """The 17 selection policies of the selection-rule language (DOMAIN.md).

    Values are the canonical spelling used in rule texts; parsing is case-insensitive.
    """

    VAL_COVER = "ValCover"
    LATEST_VAL_COVER = "LatestValCover"
    VAL_INTERSECT = "ValIntersect"
    VAL_INTERSECT_WITHOUT_DUPLICATES = "ValIntersectWithoutDuplicates"
    LATEST_VAL_INTERSECT = "LatestValIntersect"
    LATEST_VALIDITY_CLOSEST = "LatestValidityClosest"
    BEST_CENTERED_COVER = "BestCenteredCover"
    LATEST_VAL_COVER_CLOSEST = "LatestValCoverClosest"
    LATEST_VAL_COVER_NEWEST_VALIDITY = "LatestValCoverNewestValidity"
    LARGEST_OVERLAP = "LargestOverlap"
    LARGEST_OVERLAP_85 = "LargestOverlap85"
    LATEST_VALIDITY = "LatestValidity"
    LATEST_START_VALIDITY = "LatestStartValidity"
    LATEST_STOP_VALIDITY = "LatestStopValidity"
    CLOSEST_START_VALIDITY = "ClosestStartValidity"
    CLOSEST_STOP_VALIDITY = "ClosestStopValidity"
    LAST_CREATED = "LastCreated"


class UserRole(StrEnum):
    """What a user may do (prosEO's role vocabulary). Roles other than ROOT act within the
    user's mission; ROOT acts in every mission and implies every role."""

    ROOT = "ROOT"
    USERMGR = "USERMGR"
    CLI_USER = "CLI_USER"
    GUI_USER = "GUI_USER"
    MISSION_READER = "MISSION_READER"
    MISSION_MGR = "MISSION_MGR"
    PRODUCTCLASS_READER = "PRODUCTCLASS_READER"
    PRODUCTCLASS_MGR = "PRODUCTCLASS_MGR"
    PRODUCT_READER = "PRODUCT_READER"
    PRODUCT_READER_RESTRICTED = "PRODUCT_READER_RESTRICTED"
    PRODUCT_READER_ALL = "PRODUCT_READER_ALL"
    PRODUCT_INGESTOR = "PRODUCT_INGESTOR"
    PRODUCT_GENERATOR = "PRODUCT_GENERATOR"
    PRODUCT_MGR = "PRODUCT_MGR"
    PROCESSOR_READER = "PROCESSOR_READER"
    PROCESSORCLASS_MGR = "PROCESSORCLASS_MGR"
    CONFIGURATION_MGR = "CONFIGURATION_MGR"
    FACILITY_READER = "FACILITY_READER"
    FACILITY_MGR = "FACILITY_MGR"
    FACILITY_MONITOR = "FACILITY_MONITOR"
    ORDER_READER = "ORDER_READER"
    ORDER_MGR = "ORDER_MGR"
    ORDER_APPROVER = "ORDER_APPROVER"
    ORDER_PLANNER = "ORDER_PLANNER"
    ORDER_MONITOR = "ORDER_MONITOR"


class TriggerKind(StrEnum):
    """What makes a production trigger fire (:mod:`orderman.triggers`)."""

    DATA_DRIVEN = "DATA_DRIVEN"
    """A product of a class arrived: an order over its sensing window or orbit."""
    TIME_INTERVAL = "TIME_INTERVAL"
    """Every N seconds: an order over [previous occurrence, this one)."""
    CALENDAR = "CALENDAR"
    """A cron expression: an order over the period it closes (e.g. the previous day)."""
    ORBIT = "ORBIT"
    """An orbit of a spacecraft ended: an order for that orbit."""
    DATATAKE = "DATATAKE"
    """All products of a datatake are in: one order over the datatake."""


class CatchUp(StrEnum):
    """Which timed occurrences missed while no trigger runner ran are made up."""

    ALL = "ALL"
    LATEST = "LATEST"
    NONE = "NONE"


class CampaignState(StrEnum):
    """Where a reprocessing campaign is (:mod:`orderman.campaigns`)."""

    CREATED = "CREATED"
    """Split into batches; nothing ordered yet."""
    RUNNING = "RUNNING"
    """Batches are ordered, planned and released as capacity allows."""
    PAUSED = "PAUSED"
    """No further batch is released; its released orders are suspended."""
    CANCELLED = "CANCELLED"
    """Stopped for good: no further batch; its orders not yet run are cancelled."""
    COMPLETED = "COMPLETED"
    """Every batch's order completed (or had nothing to make)."""
