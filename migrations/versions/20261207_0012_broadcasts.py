"""broadcasts: segments, broadcasts, mass receipts, subscribe allowances; broadcast rows in the outbox

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

New tables only (``models.broadcast`` says what each holds), plus ``outbound_messages.broadcast_id`` (nullable, no
default: a catalogue change on PostgreSQL) and two indexes: the outbox job's due rows (pending, not a broadcast's,
partial) and a broadcast's rows by status. Building them reads ``outbound_messages`` once. SQLite copies the table
(batch mode) to add the foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("filters_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "subscribe_allowances",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("openid", "template_id", name=op.f("pk_subscribe_allowances")),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("channels", sa.String(length=64), nullable=False),
        sa.Column("content_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ignore_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=True),
        sa.Column("campaign_key", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("started_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_until", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mass_tag_id", sa.Integer(), nullable=True),
        sa.Column("mass_msg_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], name=op.f("fk_broadcasts_segment_id_segments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("campaign_key", name=op.f("uq_broadcasts_campaign_key")),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index("ix_broadcasts_status_scheduled_at", ["status", "scheduled_at"], unique=False)

    op.create_table(
        "mass_receipts",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_mass_receipts_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("openid", "broadcast_id", name=op.f("pk_mass_receipts")),
    )
    with op.batch_alter_table("mass_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_mass_receipts_month_openid", ["month", "openid"], unique=False)

    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outbound_messages_broadcast", ["broadcast_id", "status", "id"], unique=False)
        batch_op.create_index(
            "ix_outbound_messages_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("status = 'pending' AND broadcast_id IS NULL"),
            postgresql_where=sa.text("status = 'pending' AND broadcast_id IS NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_messages_broadcast_id_broadcasts"),
            "broadcasts",
            ["broadcast_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbound_messages_broadcast_id_broadcasts"), type_="foreignkey")
        batch_op.drop_index(
            "ix_outbound_messages_due",
            sqlite_where=sa.text("status = 'pending' AND broadcast_id IS NULL"),
            postgresql_where=sa.text("status = 'pending' AND broadcast_id IS NULL"),
        )
        batch_op.drop_index("ix_outbound_messages_broadcast")
        batch_op.drop_column("broadcast_id")

    with op.batch_alter_table("mass_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_mass_receipts_month_openid")

    op.drop_table("mass_receipts")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcasts_status_scheduled_at")

    op.drop_table("broadcasts")
    op.drop_table("subscribe_allowances")
    op.drop_table("segments")
