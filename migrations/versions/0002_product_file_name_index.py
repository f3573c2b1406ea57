"""Index product files by name: ingestion looks products up by (class, main file name).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.create_index("ix_product_file_name", ["product_file_name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("product_file", schema=None) as batch_op:
        batch_op.drop_index("ix_product_file_name")
