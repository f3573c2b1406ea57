"""Superseded products (replaced, or waiting to be made again); order settings per campaign
batch (targeted reprocessing).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=True))

    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("superseded_at", proseo.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("superseded_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("superseded_reason")
        batch_op.drop_column("superseded_at")

    with op.batch_alter_table("campaign_batch", schema=None) as batch_op:
        batch_op.drop_column("settings")
