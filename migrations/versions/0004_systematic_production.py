"""Systematic production: order templates, production triggers and their occurrences, order
notifications; orders that release and close themselves; when a product file arrived.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_template",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_order_template_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_template")),
        sa.UniqueConstraint(
            "mission_id", "name", "version", name=op.f("uq_order_template_mission_id_name_version")
        ),
    )
    op.create_table(
        "production_trigger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "DATA_DRIVEN",
                "TIME_INTERVAL",
                "CALENDAR",
                "ORBIT",
                "DATATAKE",
                name="triggerkind",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("template_name", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("delay_s", sa.BigInteger(), nullable=False),
        sa.Column("execution_delay_s", sa.BigInteger(), nullable=False),
        sa.Column(
            "catch_up",
            sa.Enum("ALL", "LATEST", "NONE", name="catchup", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("active_since", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_production_trigger_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_trigger")),
        sa.UniqueConstraint(
            "mission_id", "name", name=op.f("uq_production_trigger_mission_id_name")
        ),
    )
    op.create_table(
        "order_notification",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("history_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("gave_up_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_order_notification_processing_order_id_processing_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_notification")),
        sa.UniqueConstraint(
            "processing_order_id",
            "history_id",
            name=op.f("uq_order_notification_processing_order_id_history_id"),
        ),
    )
    op.create_table(
        "trigger_occurrence",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "trigger_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("occurrence_key", sa.String(length=200), nullable=False),
        sa.Column("due_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("window_start", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("window_stop", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_trigger_occurrence_processing_order_id_processing_order"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["production_trigger.id"],
            name=op.f("fk_trigger_occurrence_trigger_id_production_trigger"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_occurrence")),
        sa.UniqueConstraint(
            "trigger_id",
            "occurrence_key",
            name=op.f("uq_trigger_occurrence_trigger_id_occurrence_key"),
        ),
    )
    with op.batch_alter_table("trigger_occurrence", schema=None) as batch_op:
        batch_op.create_index("ix_trigger_occurrence_due", ["trigger_id", "due_at"], unique=False)

    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_release", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("auto_close", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("product_retention_s", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.alter_column("auto_release", server_default=None)
        batch_op.alter_column("auto_close", server_default=None)

    # Files catalogued before this revision count as arrived at their checksum time (else at
    # the epoch): data-driven triggers only react to files that arrive after they are made.
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=True))
    files = sa.table(
        "product_file",
        sa.column("created_at", proseo.db.types.UTCDateTime()),
        sa.column("checksum_time", proseo.db.types.UTCDateTime()),
    )
    epoch = sa.literal(datetime(1970, 1, 1, tzinfo=UTC), proseo.db.types.UTCDateTime())
    op.execute(files.update().values(created_at=sa.func.coalesce(files.c.checksum_time, epoch)))
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.alter_column(
            "created_at", existing_type=proseo.db.types.UTCDateTime(), nullable=False
        )
        batch_op.create_index(
            batch_op.f("ix_product_file_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_file_created_at"))
        batch_op.drop_column("created_at")

    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.drop_column("product_retention_s")
        batch_op.drop_column("auto_close")
        batch_op.drop_column("auto_release")

    with op.batch_alter_table("trigger_occurrence", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_occurrence_due")

    op.drop_table("trigger_occurrence")
    op.drop_table("order_notification")
    op.drop_table("production_trigger")
    op.drop_table("order_template")
