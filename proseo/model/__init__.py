"""The metadata database: typed SQLAlchemy 2.0 models, enumerations and state machines.

Importing this package registers every table on :data:`Base.metadata` (Alembic and tests
rely on that).
"""

from proseo.enums import (
    FacilityState,
    FileNameType,
    JobOrderVersion,
    JobState,
    JobStepState,
    OrderState,
    ParameterType,
    PolicyType,
    ProcessingLevel,
    ProductionType,
    ProductQuality,
    SlicingType,
    StatefulEntity,
    StorageType,
    Visibility,
)
from proseo.model.base import Base, utc_now
from proseo.model.campaign import Campaign, CampaignBatch
from proseo.model.facility import ProcessingFacility
from proseo.model.history import StateHistory
from proseo.model.mission import Mission, Orbit, Spacecraft
from proseo.model.order import (
    Job,
    JobStep,
    OrderInputFilter,
    OrderOrbitRange,
    OrderOutputParameter,
    ProcessingOrder,
    ProductQuery,
)
from proseo.model.processor import (
    Configuration,
    ConfigurationFile,
    ConfigurationInputFile,
    ConfiguredProcessor,
    Processor,
    ProcessorClass,
    Task,
)
from proseo.model.product import Product, ProductFile, ProductParameter
from proseo.model.productclass import (
    ProductClass,
    SelectionRule,
    SimplePolicy,
    SimpleRuleFilter,
    SimpleSelectionRule,
)
from proseo.model.states import (
    JOB_STATE_MACHINE,
    JOB_STEP_STATE_MACHINE,
    ORDER_STATE_MACHINE,
    STATE_MACHINES,
    StateMachine,
    transition,
)
from proseo.model.systematic import (
    OrderNotification,
    OrderTemplate,
    ProductionTrigger,
    TriggerOccurrence,
)
from proseo.model.users import ApiToken, Role, User, UserGroup

__all__ = [
    "JOB_STATE_MACHINE",
    "JOB_STEP_STATE_MACHINE",
    "ORDER_STATE_MACHINE",
    "STATE_MACHINES",
    "ApiToken",
    "Base",
    "Campaign",
    "CampaignBatch",
    "Configuration",
    "ConfigurationFile",
    "ConfigurationInputFile",
    "ConfiguredProcessor",
    "FacilityState",
    "FileNameType",
    "Job",
    "JobOrderVersion",
    "JobState",
    "JobStep",
    "JobStepState",
    "Mission",
    "Orbit",
    "OrderInputFilter",
    "OrderNotification",
    "OrderOrbitRange",
    "OrderOutputParameter",
    "OrderState",
    "OrderTemplate",
    "ParameterType",
    "PolicyType",
    "ProcessingFacility",
    "ProcessingLevel",
    "ProcessingOrder",
    "Processor",
    "ProcessorClass",
    "Product",
    "ProductClass",
    "ProductFile",
    "ProductParameter",
    "ProductQuality",
    "ProductQuery",
    "ProductionTrigger",
    "ProductionType",
    "Role",
    "SelectionRule",
    "SimplePolicy",
    "SimpleRuleFilter",
    "SimpleSelectionRule",
    "SlicingType",
    "Spacecraft",
    "StateHistory",
    "StateMachine",
    "StatefulEntity",
    "StorageType",
    "Task",
    "TriggerOccurrence",
    "User",
    "UserGroup",
    "Visibility",
    "transition",
    "utc_now",
]
