"""Index of job steps by completion time: the GUI dashboard's throughput per hour and its
failures of the last 24 hours read a range of it instead of every job step.

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


def downgrade() -> None:
    op.drop_index("ix_job_step_completion", table_name="job_step")
