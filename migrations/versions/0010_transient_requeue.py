"""Job steps requeued after a transient failure: ``transient_failures`` counts the runs that
failed because the storage could not be reached (they do not count against the order's
``max_retries``), ``not_before`` holds a requeued step back until the storage had time to
come back (the dispatcher's back-off).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import proseo.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite has ADD and DROP COLUMN): a batch copy of job_step would
    # reflect the expression indexes of migration 0008, which SQLite cannot
    op.add_column(
        "job_step",
        sa.Column("transient_failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("job_step", sa.Column("not_before", proseo.db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("job_step", "not_before")
    op.drop_column("job_step", "transient_failures")
