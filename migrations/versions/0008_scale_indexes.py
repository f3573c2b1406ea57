"""Indexes for planning and readiness at scale: each product's validity length within its
class (the planner's backward reach, the longest validity of a class, in one index probe),
and the job windows' start and length (the readiness re-check after an arrival reads only the
jobs near it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from proseo.db.functions import sensing_length

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_product_class_length",
        "product",
        [
            sa.column("product_class_id"),
            sensing_length(sa.column("sensing_start"), sa.column("sensing_stop")),
        ],
    )
    op.create_index("ix_job_start", "job", ["start_time"])
    op.create_index(
        "ix_job_length", "job", [sensing_length(sa.column("start_time"), sa.column("stop_time"))]
    )


def downgrade() -> None:
    op.drop_index("ix_job_length", table_name="job")
    op.drop_index("ix_job_start", table_name="job")
    op.drop_index("ix_product_class_length", table_name="product")
