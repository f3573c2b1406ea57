"""Reprocessing campaigns and their batches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "CREATED",
                "RUNNING",
                "PAUSED",
                "CANCELLED",
                "COMPLETED",
                name="campaignstate",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("template_name", sa.String(length=100), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("start_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("stop_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("spacecraft_code", sa.String(length=20), nullable=True),
        sa.Column("orbit_from", sa.Integer(), nullable=True),
        sa.Column("orbit_to", sa.Integer(), nullable=True),
        sa.Column("batch_unit", sa.String(length=16), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("max_in_flight", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("started_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mission_id"],
            ["mission.id"],
            name=op.f("fk_campaign_mission_id_mission"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("mission_id", "name", name=op.f("uq_campaign_mission_id_name")),
    )
    op.create_table(
        "campaign_batch",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("start_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("stop_time", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("orbit_from", sa.Integer(), nullable=True),
        sa.Column("orbit_to", sa.Integer(), nullable=True),
        sa.Column(
            "processing_facility_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "processing_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("ordered_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_batch_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["processing_facility_id"],
            ["processing_facility.id"],
            name=op.f("fk_campaign_batch_processing_facility_id_processing_facility"),
        ),
        sa.ForeignKeyConstraint(
            ["processing_order_id"],
            ["processing_order.id"],
            name=op.f("fk_campaign_batch_processing_order_id_processing_order"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_batch")),
        sa.UniqueConstraint(
            "campaign_id", "number", name=op.f("uq_campaign_batch_campaign_id_number")
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_batch")
    op.drop_table("campaign")
