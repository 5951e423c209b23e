"""roster import jobs: uploads queued by the console and run by the scheduler process

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Adds ``import_jobs``: one row per uploaded roster, from queued to its outcome, linked to the databank batch it
produced. A new table only; nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("encoding", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=64), nullable=True),
        _ts("created_at"),
        _ts("started_at", True),
        _ts("finished_at", True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_import_jobs_batch_id_databank_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_status_id", "import_jobs", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_import_jobs_status_id", table_name="import_jobs")
    op.drop_table("import_jobs")
