"""help desk: inquiries get a workflow and a transcript; the knowledge base; staff link their WeChat

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

``inquiries`` gains the workflow's columns (channel, person, category, priority, assignee, SLA due time, escalation,
answer delivery, resolution, rating; ``models.inquiry`` says what each holds) and its ``openid`` becomes optional
(a phone call has none). Existing questions are backfilled as open chat questions of category ``other`` with no
due time, and each gets its opening message as the first event of its transcript. ``inquiry_events`` and
``knowledge_entries`` are new; ``staff_accounts`` gains ``openid``. On PostgreSQL the new NOT NULL columns are
added with a default (a catalogue change, no rewrite) that is then dropped; SQLite copies the tables (batch mode).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("status = 'open'")
_WAITING = sa.text("answer_waiting IS true")
_UNANSWERED = sa.text("status = 'open' AND answered_at IS NULL")
_ESCALATED = sa.text("status = 'open' AND escalated IS true")

# New NOT NULL columns of inquiries, with the value existing rows get.
_FILLED = {
    "channel": (sa.String(length=16), "'wechat'"),
    "category": (sa.String(length=16), "'other'"),
    "priority": (sa.String(length=8), "'normal'"),
    "escalated": (sa.Boolean(), "false"),
    "reminder_stage": (sa.SmallInteger(), "0"),
    "answer_waiting": (sa.Boolean(), "false"),
    "created_by": (sa.String(length=64), "'user'"),
}


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch_op:
        batch_op.add_column(sa.Column("openid", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_accounts_openid"), ["openid"])

    with op.batch_alter_table("inquiries") as batch_op:
        for name, (type_, value) in _FILLED.items():
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=sa.text(value)))
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("requester_sealed", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_message_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("answered_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_inquiries_person_id_persons"), "persons", ["person_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_inquiries_assignee_id_staff_accounts"),
            "staff_accounts",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute("UPDATE inquiries SET last_message_at = created_at")
    with op.batch_alter_table("inquiries") as batch_op:
        for name, (type_, _value) in _FILLED.items():
            batch_op.alter_column(name, existing_type=type_, existing_nullable=False, server_default=None)
        batch_op.alter_column("last_message_at", existing_type=models.base.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index(
            "ix_inquiries_open_assignee_due",
            ["assignee_id", "due_at"],
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch_op.create_index(
            "ix_inquiries_unanswered_due", ["due_at"], sqlite_where=_UNANSWERED, postgresql_where=_UNANSWERED
        )
        batch_op.create_index(
            "ix_inquiries_escalated", ["created_at"], sqlite_where=_ESCALATED, postgresql_where=_ESCALATED
        )
        batch_op.create_index(
            "ix_inquiries_answer_waiting", ["openid"], sqlite_where=_WAITING, postgresql_where=_WAITING
        )
        batch_op.create_index("ix_inquiries_person_id", ["person_id"])
        batch_op.create_index("ix_inquiries_category_created", ["category", "created_at"])

    op.create_table(
        "inquiry_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("msg_type", sa.String(length=16), nullable=True),
        sa.Column("media_id", sa.String(length=128), nullable=True),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("delivery", sa.String(length=32), nullable=True),
        sa.Column("delivered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("staff_account_id", sa.Integer(), nullable=True),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inquiry_id"], ["inquiries.id"], name=op.f("fk_inquiry_events_inquiry_id_inquiries"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"],
            ["staff_accounts.id"],
            name=op.f("fk_inquiry_events_staff_account_id_staff_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_events")),
        sa.UniqueConstraint("source_key", name=op.f("uq_inquiry_events_source_key")),
    )
    op.create_index("ix_inquiry_events_inquiry_id", "inquiry_events", ["inquiry_id", "id"])
    # The transcript starts with the opening message, for the questions filed before this revision too.
    op.execute(
        "INSERT INTO inquiry_events (inquiry_id, kind, actor, body, msg_type, source_key, at) "
        "SELECT id, 'message', 'user', question, 'text', source_key, created_at FROM inquiries"
    )

    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
    )


def downgrade() -> None:
    op.drop_table("knowledge_entries")
    op.drop_index("ix_inquiry_events_inquiry_id", table_name="inquiry_events")
    op.drop_table("inquiry_events")
    # Questions without a chat openid (logged by staff) cannot go back to a table that requires one.
    op.execute("DELETE FROM inquiries WHERE openid IS NULL")
    with op.batch_alter_table("inquiries") as batch_op:
        for index in (
            "ix_inquiries_category_created",
            "ix_inquiries_person_id",
            "ix_inquiries_answer_waiting",
            "ix_inquiries_escalated",
            "ix_inquiries_unanswered_due",
            "ix_inquiries_open_assignee_due",
        ):
            batch_op.drop_index(index)
        batch_op.drop_constraint(batch_op.f("fk_inquiries_assignee_id_staff_accounts"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_inquiries_person_id_persons"), type_="foreignkey")
        batch_op.alter_column("openid", existing_type=sa.String(length=64), nullable=False)
        for name in (
            "rated_at",
            "rating",
            "closed_at",
            "resolution",
            "answered_at",
            "last_message_at",
            "due_at",
            "assignee_id",
            "requester_sealed",
            "person_id",
            *_FILLED,
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("staff_accounts") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_accounts_openid"), type_="unique")
        batch_op.drop_column("openid")
