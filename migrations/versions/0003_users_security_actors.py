"""Users of a mission, API tokens, login lockout; who created and approved an order, who
ingested a product; a mission's separation-of-duties switch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", proseo.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", proseo.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_token_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_api_token_token_digest")),
    )
    op.drop_table("user_mission")
    with op.batch_alter_table("mission", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allow_self_approval", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("mission", schema=None) as batch_op:
        batch_op.alter_column("allow_self_approval", server_default=None)

    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=100), nullable=True))

    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ingested_by", sa.String(length=100), nullable=True))

    with op.batch_alter_table("user_group", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mission_id", ID, nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_user_group_name"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_group_mission_id_name"), ["mission_id", "name"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_user_group_mission_id_mission"),
            "mission",
            ["mission_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mission_id", ID, nullable=True))
        batch_op.add_column(
            sa.Column("password_changed_at", proseo.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("password_expires_at", proseo.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", proseo.db.types.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_mission_id_mission"),
            "mission",
            ["mission_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("failed_logins", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_mission_id_mission"), type_="foreignkey")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("password_expires_at")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("mission_id")

    with op.batch_alter_table("user_group", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_user_group_mission_id_mission"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_user_group_mission_id_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_user_group_name"), ["name"])
        batch_op.drop_column("mission_id")

    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("ingested_by")

    with op.batch_alter_table("processing_order", schema=None) as batch_op:
        batch_op.drop_column("approved_by")
        batch_op.drop_column("created_by")

    with op.batch_alter_table("mission", schema=None) as batch_op:
        batch_op.drop_column("allow_self_approval")

    op.create_table(
        "user_mission",
        sa.Column("users_id", ID, nullable=False),
        sa.Column("mission_id", ID, nullable=False),
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
    op.drop_table("api_token")
