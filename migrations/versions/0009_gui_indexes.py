"""Indexes of the operator GUI: job steps by completion time (the dashboard's throughput per
hour and its failures of the last 24 hours read a range of it instead of every job step), and
products by sensing start and id (the product list, newest first, paged by that key, reads
one page of it instead of sorting every product).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_job_step_completion", "job_step", ["processing_completion_time"])
    op.create_index("ix_product_sensing_start", "product", ["sensing_start", "id"])


def downgrade() -> None:
    op.drop_index("ix_product_sensing_start", table_name="product")
    op.drop_index("ix_job_step_completion", table_name="job_step")
