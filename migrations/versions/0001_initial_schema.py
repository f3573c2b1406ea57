"""Initial schema: the metadata database as in proseo.model (version 0.1.0).

Revision ID: 0001
Revises:
Create Date: 2026-11-21 12:08:55.575314
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mission",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("file_classes", sa.JSON(), nullable=False),
        sa.Column("processing_modes", sa.JSON(), nullable=False),
        sa.Column("product_file_template", sa.Text(), nullable=True),
        sa.Column("product_retention_period_s", sa.Integer(), nullable=True),
        sa.Column("order_retention_period_s", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mission")),
        sa.UniqueConstraint("code", name=op.f("uq_mission_code")),
    )
    op.create_table(
        "processing_facility",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "DISABLED", "STOPPED", "RUNNING", name="facilitystate", native_enum=False, length=40
            ),
            nullable=False,
        ),
        sa.Column("executor_kind", sa.String(length=50), nullable=False),
        sa.Column("executor_settings", sa.JSON(), nullable=False),
        sa.Column(
            "storage_type",
            sa.Enum("POSIX", "S3", name="storagetype", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("storage_settings", sa.JSON(), nullable=False),
        sa.Column("max_job_steps", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_facility")),
        sa.UniqueConstraint("name", name=op.f("uq_processing_facility_name")),
    )
    op.create_table(
        "role",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role")),
        sa.UniqueConstraint("name", name=op.f("uq_role_name")),
    )
    op.create_table(
        "state_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "entity_type",
            sa.Enum(
                "PROCESSING_ORDER",
                "JOB",
                "JOB_STEP",
                name="statefulentity",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("changed_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_history")),
    )
    with op.batch_alter_table("state_history", schema=None) as batch_op:
        batch_op.create_index("ix_state_history_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "user_group",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_group")),
        sa.UniqueConstraint("name", name=op.f("uq_user_group_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("expires_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "group_member",
        sa.Column("users_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "user_group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_group_id"],
            ["user_group.id"],
            name=op.f("fk_group_member_user_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["users_id"],
            ["users.id"],
            name=op.f("fk_group_member_users_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("users_id", "user_group_id", name=op.f("pk_group_member")),
    )
    op.create_table(
        "group_role",
        sa.Column(
            "user_group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_group_role_role_id_role"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_group_id"],
            ["user_group.id"],
            name=op.f("fk_group_role_user_group_id_user_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_group_id", "role_id", name=op.f("pk_group_role")),
    )
    op.create_table(
        "processing_order",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "INITIAL",
                "APPROVED",
                "PLANNING",
                "PLANNING_FAILED",
                "PLANNED",
                "RELEASING",
                "RELEASED",
                "RUNNING",
                "SUSPENDING",
                "COMPLETED",
                "FAILED",
                "CLOSED",
                name="orderstate",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column(
            "processing_facility_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("start_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("stop_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column(
            "slicing_type",
            sa.Enum(
                "ORBIT",
                "CALENDAR_DAY",
                "CALENDAR_MONTH",
                "CALENDAR_YEAR",
                "TIME_SLICE",
                "NONE",
                name="slicingtype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("slice_duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("slice_overlap_ms", sa.BigInteger(), nullable=False),
        sa.Column("file_class", sa.String(length=32), nullable=True),
        sa.Column("processing_mode", sa.String(length=32), nullable=True),
        sa.Column(
            "product_quality",
            sa.Enum(
                "NOMINAL",
                "EXPERIMENTAL",
                "TEST",
                "SYSTEMATIC",
                name="productquality",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "production_type",
            sa.Enum(
                "SYSTEMATIC",
                "ON_DEMAND_DEFAULT",
                "ON_DEMAND_NON_DEFAULT",
                name="productiontype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("input_data_timeout_s", sa.Integer(), nullable=True),
        sa.Column("release_on_input_timeout", sa.Boolean(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("execution_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("dynamic_processing_parameters", sa.JSON(), nullable=False),
        sa.Column("notification_endpoint", sa.Text(), nullable=True),
        sa.Column("has_failed_job_steps", sa.Boolean(), nullable=False),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("modified_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"], ["mission.id"], name=op.f("fk_processing_order_mission_id_mission")
        ),
        sa.ForeignKeyConstraint(
            ["processing_facility_id"],
            ["processing_facility.id"],
            name=op.f("fk_processing_order_processing_facility_id_processing_facility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_order")),
        sa.UniqueConstraint(
            "mission_id", "identifier", name=op.f("uq_processing_order_mission_id_identifier")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_processing_order_uuid")),
    )
    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_processing_order_state"), ["state"], unique=False)

    op.create_table(
        "processor_class",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_processor_class_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_class")),
        sa.UniqueConstraint("mission_id", "name", name=op.f("uq_processor_class_mission_id_name")),
    )
    op.create_table(
        "spacecraft",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_spacecraft_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spacecraft")),
        sa.UniqueConstraint("mission_id", "code", name=op.f("uq_spacecraft_mission_id_code")),
    )
    op.create_table(
        "user_mission",
        sa.Column("users_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_user_mission_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["users_id"],
            ["users.id"],
            name=op.f("fk_user_mission_users_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("users_id", "mission_id", name=op.f("pk_user_mission")),
    )
    op.create_table(
        "user_role",
        sa.Column("users_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_user_role_role_id_role"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["users_id"], ["users.id"], name=op.f("fk_user_role_users_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("users_id", "role_id", name=op.f("pk_user_role")),
    )
    op.create_table(
        "configuration",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processor_class_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("configuration_version", sa.String(length=50), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("dynamic_processing_parameters", sa.JSON(), nullable=False),
        sa.Column("resource_requests", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processor_class_id"],
            ["processor_class.id"],
            name=op.f("fk_configuration_processor_class_id_processor_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configuration")),
        sa.UniqueConstraint(
            "processor_class_id",
            "configuration_version",
            name=op.f("uq_configuration_processor_class_id_configuration_version"),
        ),
    )
    op.create_table(
        "orbit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "spacecraft_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("orbit_number", sa.Integer(), nullable=False),
        sa.Column("start_time", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("stop_time", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["spacecraft_id"],
            ["spacecraft.id"],
            name=op.f("fk_orbit_spacecraft_id_spacecraft"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orbit")),
        sa.UniqueConstraint(
            "spacecraft_id", "orbit_number", name=op.f("uq_orbit_spacecraft_id_orbit_number")
        ),
    )
    with op.batch_alter_table("orbit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orbit_spacecraft_start", ["spacecraft_id", "start_time"], unique=False
        )

    op.create_table(
        "order_orbit_range",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("spacecraft_code", sa.String(length=20), nullable=False),
        sa.Column("orbit_from", sa.Integer(), nullable=False),
        sa.Column("orbit_to", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_orbit_range_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_orbit_range")),
    )
    with op.batch_alter_table("order_orbit_range", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_orbit_range_processing_order_id"),
            ["processing_order_id"],
            unique=False,
        )

    op.create_table(
        "order_output_parameter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "parameter_type",
            sa.Enum(
                "STRING",
                "INTEGER",
                "DOUBLE",
                "BOOLEAN",
                "INSTANT",
                name="parametertype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_output_parameter_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_output_parameter")),
        sa.UniqueConstraint(
            "processing_order_id",
            "key",
            name=op.f("uq_order_output_parameter_processing_order_id_key"),
        ),
    )
    op.create_table(
        "processor",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processor_class_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("processor_version", sa.String(length=50), nullable=False),
        sa.Column(
            "job_order_version",
            sa.Enum("MMFI_1_8", "GMES_1_1", name="joborderversion", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("docker_image", sa.String(length=500), nullable=True),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("min_disk_space_bytes", sa.BigInteger(), nullable=True),
        sa.Column("max_time_s", sa.Integer(), nullable=True),
        sa.Column("sensing_time_flag", sa.Boolean(), nullable=False),
        sa.Column("use_input_file_time_intervals", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processor_class_id"],
            ["processor_class.id"],
            name=op.f("fk_processor_processor_class_id_processor_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor")),
        sa.UniqueConstraint(
            "processor_class_id",
            "processor_version",
            name=op.f("uq_processor_processor_class_id_processor_version"),
        ),
    )
    op.create_table(
        "product_class",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("product_type", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "processing_level",
            sa.Enum(
                "L0",
                "L1",
                "L1A",
                "L1B",
                "L1C",
                "L2",
                "L2A",
                "L2B",
                "L2C",
                "L3",
                "L4",
                "AUX",
                name="processinglevel",
                native_enum=False,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column(
            "visibility",
            sa.Enum(
                "PUBLIC", "RESTRICTED", "INTERNAL", name="visibility", native_enum=False, length=40
            ),
            nullable=False,
        ),
        sa.Column(
            "default_slicing_type",
            sa.Enum(
                "ORBIT",
                "CALENDAR_DAY",
                "CALENDAR_MONTH",
                "CALENDAR_YEAR",
                "TIME_SLICE",
                "NONE",
                name="slicingtype",
                native_enum=False,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("default_slice_duration_ms", sa.BigInteger(), nullable=True),
        sa.Column(
            "processor_class_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "enclosing_class_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["enclosing_class_id"],
            ["product_class.id"],
            name=op.f("fk_product_class_enclosing_class_id_product_class"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_product_class_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processor_class_id"],
            ["processor_class.id"],
            name=op.f("fk_product_class_processor_class_id_processor_class"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_class")),
        sa.UniqueConstraint(
            "mission_id", "product_type", name=op.f("uq_product_class_mission_id_product_type")
        ),
    )
    op.create_table(
        "configuration_file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "configuration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_version", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["configuration.id"],
            name=op.f("fk_configuration_file_configuration_id_configuration"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configuration_file")),
    )
    with op.batch_alter_table("configuration_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_configuration_file_configuration_id"), ["configuration_id"], unique=False
        )

    op.create_table(
        "configuration_input_file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "configuration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_type", sa.String(length=64), nullable=False),
        sa.Column(
            "file_name_type",
            sa.Enum(
                "PHYSICAL",
                "LOGICAL",
                "STEM",
                "REGEXP",
                "DIRECTORY",
                name="filenametype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("file_names", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["configuration.id"],
            name=op.f("fk_configuration_input_file_configuration_id_configuration"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configuration_input_file")),
    )
    with op.batch_alter_table("configuration_input_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_configuration_input_file_configuration_id"),
            ["configuration_id"],
            unique=False,
        )

    op.create_table(
        "configured_processor",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column(
            "processor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "configuration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["configuration.id"],
            name=op.f("fk_configured_processor_configuration_id_configuration"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processor_id"],
            ["processor.id"],
            name=op.f("fk_configured_processor_processor_id_processor"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configured_processor")),
        sa.UniqueConstraint("identifier", name=op.f("uq_configured_processor_identifier")),
    )
    with op.batch_alter_table("configured_processor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_configured_processor_configuration_id"),
            ["configuration_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_configured_processor_processor_id"), ["processor_id"], unique=False
        )

    op.create_table(
        "job",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "INITIAL",
                "PLANNED",
                "RELEASED",
                "STARTED",
                "ON_HOLD",
                "COMPLETED",
                "FAILED",
                "CLOSED",
                name="jobstate",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("start_time", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("stop_time", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("orbit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "processing_facility_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("has_failed_job_steps", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["orbit_id"], ["orbit.id"], name=op.f("fk_job_orbit_id_orbit"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["processing_facility_id"],
            ["processing_facility.id"],
            name=op.f("fk_job_processing_facility_id_processing_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_job_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_order_state", ["processing_order_id", "state"], unique=False)

    op.create_table(
        "order_input_filter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "product_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "parameter_type",
            sa.Enum(
                "STRING",
                "INTEGER",
                "DOUBLE",
                "BOOLEAN",
                "INSTANT",
                name="parametertype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_input_filter_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_class_id"],
            ["product_class.id"],
            name=op.f("fk_order_input_filter_product_class_id_product_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_input_filter")),
        sa.UniqueConstraint(
            "processing_order_id",
            "product_class_id",
            "key",
            name=op.f("uq_order_input_filter_processing_order_id_product_class_id_key"),
        ),
    )
    op.create_table(
        "order_input_product_class",
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "product_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_input_product_class_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_class_id"],
            ["product_class.id"],
            name=op.f("fk_order_input_product_class_product_class_id_product_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "processing_order_id", "product_class_id", name=op.f("pk_order_input_product_class")
        ),
    )
    op.create_table(
        "order_requested_product_class",
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "product_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_requested_product_class_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_class_id"],
            ["product_class.id"],
            name=op.f("fk_order_requested_product_class_product_class_id_product_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "processing_order_id", "product_class_id", name=op.f("pk_order_requested_product_class")
        ),
    )
    op.create_table(
        "selection_rule",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "target_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("rule_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_class_id"],
            ["product_class.id"],
            name=op.f("fk_selection_rule_target_class_id_product_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_selection_rule")),
    )
    with op.batch_alter_table("selection_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_selection_rule_target_class_id"), ["target_class_id"], unique=False
        )

    op.create_table(
        "task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("task_name", sa.String(length=100), nullable=False),
        sa.Column("task_version", sa.String(length=50), nullable=False),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("is_critical", sa.Boolean(), nullable=False),
        sa.Column("criticality_level", sa.Integer(), nullable=True),
        sa.Column("number_of_cpus", sa.Integer(), nullable=True),
        sa.Column("min_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("breakpoint_file_names", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processor_id"],
            ["processor.id"],
            name=op.f("fk_task_processor_id_processor"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
        sa.UniqueConstraint("processor_id", "position", name=op.f("uq_task_processor_id_position")),
    )
    op.create_table(
        "job_step",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "PLANNED",
                "WAITING_INPUT",
                "READY",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CLOSED",
                name="jobstepstate",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("processing_mode", sa.String(length=32), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "configured_processor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("stdout_log_level", sa.String(length=16), nullable=False),
        sa.Column("stderr_log_level", sa.String(length=16), nullable=False),
        sa.Column("job_order_filename", sa.Text(), nullable=True),
        sa.Column("processing_start_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("processing_completion_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("processing_stdout", sa.Text(), nullable=True),
        sa.Column("processing_stderr", sa.Text(), nullable=True),
        sa.Column("is_failed", sa.Boolean(), nullable=False),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["configured_processor_id"],
            ["configured_processor.id"],
            name=op.f("fk_job_step_configured_processor_id_configured_processor"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_job_step_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_step")),
    )
    with op.batch_alter_table("job_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_step_job_id"), ["job_id"], unique=False)
        batch_op.create_index("ix_job_step_state_priority", ["state", "priority"], unique=False)

    op.create_table(
        "order_configured_processor",
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "configured_processor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["configured_processor_id"],
            ["configured_processor.id"],
            name=op.f("fk_order_configured_processor_configured_processor_id_configured_processor"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_configured_processor_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "processing_order_id",
            "configured_processor_id",
            name=op.f("pk_order_configured_processor"),
        ),
    )
    op.create_table(
        "selection_rule_configured_processor",
        sa.Column(
            "selection_rule_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "configured_processor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["configured_processor_id"],
            ["configured_processor.id"],
            name=op.f(
                "fk_selection_rule_configured_processor_configured_processor_id_configured_processor"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["selection_rule_id"],
            ["selection_rule.id"],
            name=op.f("fk_selection_rule_configured_processor_selection_rule_id_selection_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "selection_rule_id",
            "configured_processor_id",
            name=op.f("pk_selection_rule_configured_processor"),
        ),
    )
    op.create_table(
        "simple_selection_rule",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "selection_rule_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "source_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("is_mandatory", sa.Boolean(), nullable=False),
        sa.Column("minimum_coverage", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["selection_rule_id"],
            ["selection_rule.id"],
            name=op.f("fk_simple_selection_rule_selection_rule_id_selection_rule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_class_id"],
            ["product_class.id"],
            name=op.f("fk_simple_selection_rule_source_class_id_product_class"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simple_selection_rule")),
    )
    with op.batch_alter_table("simple_selection_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_simple_selection_rule_selection_rule_id"),
            ["selection_rule_id"],
            unique=False,
        )
        batch_op.create_index("ix_simple_selection_rule_source", ["source_class_id"], unique=False)

    op.create_table(
        "product",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column(
            "product_class_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("file_class", sa.String(length=32), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column(
            "product_quality",
            sa.Enum(
                "NOMINAL",
                "EXPERIMENTAL",
                "TEST",
                "SYSTEMATIC",
                name="productquality",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "production_type",
            sa.Enum(
                "SYSTEMATIC",
                "ON_DEMAND_DEFAULT",
                "ON_DEMAND_NON_DEFAULT",
                name="productiontype",
                native_enum=False,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("sensing_start", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("sensing_stop", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("generation_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("publication_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("eviction_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("raw_data_availability_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("orbit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "enclosing_product_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "job_step_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "configured_processor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["configured_processor_id"],
            ["configured_processor.id"],
            name=op.f("fk_product_configured_processor_id_configured_processor"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enclosing_product_id"],
            ["product.id"],
            name=op.f("fk_product_enclosing_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_step_id"],
            ["job_step.id"],
            name=op.f("fk_product_job_step_id_job_step"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["orbit_id"], ["orbit.id"], name=op.f("fk_product_orbit_id_orbit"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["product_class_id"],
            ["product_class.id"],
            name=op.f("fk_product_product_class_id_product_class"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        sa.UniqueConstraint("uuid", name=op.f("uq_product_uuid")),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(
            "ix_product_class_sensing",
            ["product_class_id", "sensing_start", "sensing_stop"],
            unique=False,
        )
        batch_op.create_index(
            "ix_product_class_stop", ["product_class_id", "sensing_stop"], unique=False
        )
        batch_op.create_index("ix_product_enclosing", ["enclosing_product_id"], unique=False)
        batch_op.create_index("ix_product_job_step", ["job_step_id"], unique=False)

    op.create_table(
        "product_query",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "job_step_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "requested_product_class_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "generating_rule_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("rule_text", sa.Text(), nullable=True),
        sa.Column("is_mandatory", sa.Boolean(), nullable=False),
        sa.Column("minimum_coverage", sa.Integer(), nullable=True),
        sa.Column("is_satisfied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["generating_rule_id"],
            ["simple_selection_rule.id"],
            name=op.f("fk_product_query_generating_rule_id_simple_selection_rule"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_step_id"],
            ["job_step.id"],
            name=op.f("fk_product_query_job_step_id_job_step"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_product_class_id"],
            ["product_class.id"],
            name=op.f("fk_product_query_requested_product_class_id_product_class"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_query")),
    )
    with op.batch_alter_table("product_query", schema=None) as batch_op:
        batch_op.create_index("ix_product_query_job_step", ["job_step_id"], unique=False)
        batch_op.create_index(
            "ix_product_query_requested_class",
            ["requested_product_class_id", "is_satisfied"],
            unique=False,
        )

    op.create_table(
        "simple_policy",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "simple_rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "policy_type",
            sa.Enum(
                "ValCover",
                "LatestValCover",
                "ValIntersect",
                "ValIntersectWithoutDuplicates",
                "LatestValIntersect",
                "LatestValidityClosest",
                "BestCenteredCover",
                "LatestValCoverClosest",
                "LatestValCoverNewestValidity",
                "LargestOverlap",
                "LargestOverlap85",
                "LatestValidity",
                "LatestStartValidity",
                "LatestStopValidity",
                "ClosestStartValidity",
                "ClosestStopValidity",
                "LastCreated",
                name="policytype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("delta_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("delta_after_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["simple_rule_id"],
            ["simple_selection_rule.id"],
            name=op.f("fk_simple_policy_simple_rule_id_simple_selection_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simple_policy")),
    )
    with op.batch_alter_table("simple_policy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_simple_policy_simple_rule_id"), ["simple_rule_id"], unique=False
        )

    op.create_table(
        "simple_rule_filter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "simple_rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["simple_rule_id"],
            ["simple_selection_rule.id"],
            name=op.f("fk_simple_rule_filter_simple_rule_id_simple_selection_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simple_rule_filter")),
        sa.UniqueConstraint(
            "simple_rule_id", "key", name=op.f("uq_simple_rule_filter_simple_rule_id_key")
        ),
    )
    op.create_table(
        "product_file",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "processing_facility_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("product_file_name", sa.String(length=500), nullable=False),
        sa.Column("auxiliary_file_names", sa.JSON(), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column(
            "storage_type",
            sa.Enum("POSIX", "S3", name="storagetype", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("file_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("checksum_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["processing_facility_id"],
            ["processing_facility.id"],
            name=op.f("fk_product_file_processing_facility_id_processing_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_file_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_file")),
        sa.UniqueConstraint(
            "product_id",
            "processing_facility_id",
            name=op.f("uq_product_file_product_id_processing_facility_id"),
        ),
    )
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_file_processing_facility_id"),
            ["processing_facility_id"],
            unique=False,
        )

    op.create_table(
        "product_parameter",
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column(
            "parameter_type",
            sa.Enum(
                "STRING",
                "INTEGER",
                "DOUBLE",
                "BOOLEAN",
                "INSTANT",
                name="parametertype",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_parameter_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "key", name=op.f("pk_product_parameter")),
    )
    with op.batch_alter_table("product_parameter", schema=None) as batch_op:
        batch_op.create_index("ix_product_parameter_key_value", ["key", "value"], unique=False)

    op.create_table(
        "product_query_satisfying_product",
        sa.Column(
            "product_query_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_query_satisfying_product_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_query_id"],
            ["product_query.id"],
            name=op.f("fk_product_query_satisfying_product_product_query_id_product_query"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_query_id", "product_id", name=op.f("pk_product_query_satisfying_product")
        ),
    )


def downgrade() -> None:
    op.drop_table("product_query_satisfying_product")
    with op.batch_alter_table("product_parameter", schema=None) as batch_op:
        batch_op.drop_index("ix_product_parameter_key_value")

    op.drop_table("product_parameter")
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_file_processing_facility_id"))

    op.drop_table("product_file")
    op.drop_table("simple_rule_filter")
    with op.batch_alter_table("simple_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simple_policy_simple_rule_id"))

    op.drop_table("simple_policy")
    with op.batch_alter_table("product_query", schema=None) as batch_op:
        batch_op.drop_index("ix_product_query_requested_class")
        batch_op.drop_index("ix_product_query_job_step")

    op.drop_table("product_query")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index("ix_product_job_step")
        batch_op.drop_index("ix_product_enclosing")
        batch_op.drop_index("ix_product_class_stop")
        batch_op.drop_index("ix_product_class_sensing")

    op.drop_table("product")
    with op.batch_alter_table("simple_selection_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_simple_selection_rule_source")
        batch_op.drop_index(batch_op.f("ix_simple_selection_rule_selection_rule_id"))

    op.drop_table("simple_selection_rule")
    op.drop_table("selection_rule_configured_processor")
    op.drop_table("order_configured_processor")
    with op.batch_alter_table("job_step", schema=None) as batch_op:
        batch_op.drop_index("ix_job_step_state_priority")
        batch_op.drop_index(batch_op.f("ix_job_step_job_id"))

    op.drop_table("job_step")
    op.drop_table("task")
    with op.batch_alter_table("selection_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_selection_rule_target_class_id"))

    op.drop_table("selection_rule")
    op.drop_table("order_requested_product_class")
    op.drop_table("order_input_product_class")
    op.drop_table("order_input_filter")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_order_state")

    op.drop_table("job")
    with op.batch_alter_table("configured_processor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_configured_processor_processor_id"))
        batch_op.drop_index(batch_op.f("ix_configured_processor_configuration_id"))

    op.drop_table("configured_processor")
    with op.batch_alter_table("configuration_input_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_configuration_input_file_configuration_id"))

    op.drop_table("configuration_input_file")
    with op.batch_alter_table("configuration_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_configuration_file_configuration_id"))

    op.drop_table("configuration_file")
    op.drop_table("product_class")
    op.drop_table("processor")
    op.drop_table("order_output_parameter")
    with op.batch_alter_table("order_orbit_range", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_orbit_range_processing_order_id"))

    op.drop_table("order_orbit_range")
    with op.batch_alter_table("orbit", schema=None) as batch_op:
        batch_op.drop_index("ix_orbit_spacecraft_start")

    op.drop_table("orbit")
    op.drop_table("configuration")
    op.drop_table("user_role")
    op.drop_table("user_mission")
    op.drop_table("spacecraft")
    op.drop_table("processor_class")
    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processing_order_state"))

    op.drop_table("processing_order")
    op.drop_table("group_role")
    op.drop_table("group_member")
    op.drop_table("users")
    op.drop_table("user_group")
    with op.batch_alter_table("state_history", schema=None) as batch_op:
        batch_op.drop_index("ix_state_history_entity")

    op.drop_table("state_history")
    op.drop_table("role")
    op.drop_table("processing_facility")
    op.drop_table("mission")
