"""Retention per product class: how long products and superseded products are kept, and
what eviction leaves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product_class", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_s", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("superseded_retention_s", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "eviction_mode", sa.String(length=16), nullable=False, server_default="TOMBSTONE"
            )
        )
    with op.batch_alter_table("product_class", schema=None) as batch_op:
        batch_op.alter_column("eviction_mode", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("product_class", schema=None) as batch_op:
        batch_op.drop_column("eviction_mode")
        batch_op.drop_column("superseded_retention_s")
        batch_op.drop_column("retention_s")
