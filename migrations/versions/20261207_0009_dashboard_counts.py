"""dashboard aggregates: daily counts, and the indexes the rollup and the live counts read

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Adds ``daily_counts`` (one row per Beijing day and metric, written by the scheduler's ``stats.rollup`` job), the
indexes its range counts use (``followers.subscribed_at`` and ``unsubscribed_at``, ``cards.issued_at``,
``card_applications.created_at``) and a partial index of the open inquiries, which the dashboard counts on every
view. Nothing to backfill here: the job fills the missing days on its first run. Building the indexes reads each
table once (a few seconds at a million rows); writes to those tables wait meanwhile.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SQL = "status = 'open'"
INDEXES = (
    ("followers", "subscribed_at"),
    ("followers", "unsubscribed_at"),
    ("cards", "issued_at"),
    ("card_applications", "created_at"),
)


def upgrade() -> None:
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", name=op.f("pk_daily_counts")),
    )
    for table, column in INDEXES:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])
    op.create_index(
        "ix_inquiries_open",
        "inquiries",
        ["created_at"],
        postgresql_where=sa.text(OPEN_SQL),
        sqlite_where=sa.text(OPEN_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_inquiries_open", table_name="inquiries")
    for table, column in reversed(INDEXES):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
    op.drop_table("daily_counts")
