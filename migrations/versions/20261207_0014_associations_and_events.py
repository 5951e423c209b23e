"""associations and events: the association tree, its regions, members and admins; events and registrations

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

New tables only (``models.association`` and ``models.event`` say what each holds), plus two nullable columns without
defaults (catalogue changes on PostgreSQL): ``card_scanners.event_id`` (a desk credential scoped to one event's door)
and ``followers.language`` (WeChat's language of the user, for the bot's language and segments). SQLite copies
``card_scanners`` (batch mode) to add its foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "associations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=255), nullable=False),
        sa.Column("join_policy", sa.String(length=16), nullable=False),
        sa.Column("abroad", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["associations.id"], name=op.f("fk_associations_parent_id_associations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_associations")),
        sa.UniqueConstraint("name_zh", name=op.f("uq_associations_name_zh")),
    )
    with op.batch_alter_table("associations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_associations_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "association_admins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("staff_account_id", sa.Integer(), nullable=False),
        sa.Column("appointed_by", sa.String(length=64), nullable=False),
        sa.Column("appointed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["association_id"],
            ["associations.id"],
            name=op.f("fk_association_admins_association_id_associations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"],
            ["staff_accounts.id"],
            name=op.f("fk_association_admins_staff_account_id_staff_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_association_admins")),
    )
    with op.batch_alter_table("association_admins", schema=None) as batch_op:
        batch_op.create_index("ix_association_admins_association_id", ["association_id", "ended_at"], unique=False)
        batch_op.create_index("ix_association_admins_staff_account_id", ["staff_account_id", "ended_at"], unique=False)

    op.create_table(
        "association_regions",
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "value",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["association_id"],
            ["associations.id"],
            name=op.f("fk_association_regions_association_id_associations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("association_id", "kind", "value", name=op.f("pk_association_regions")),
    )
    with op.batch_alter_table("association_regions", schema=None) as batch_op:
        batch_op.create_index("ix_association_regions_kind_value", ["kind", "value"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("venue", sa.String(length=255), nullable=False),
        sa.Column("venue_latitude", sa.Float(), nullable=True),
        sa.Column("venue_longitude", sa.Float(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("waitlist", sa.Boolean(), nullable=False),
        sa.Column("registration_opens_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("registration_closes_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("eligibility", sa.String(length=16), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("questions_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confirmed_count", sa.Integer(), nullable=False),
        sa.Column("waitlisted_count", sa.Integer(), nullable=False),
        sa.Column("checkin_token", sa.String(length=32), nullable=False),
        sa.Column("reminders_sent_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["association_id"], ["associations.id"], name=op.f("fk_events_association_id_associations")
        ),
        sa.ForeignKeyConstraint(["segment_id"], ["segments.id"], name=op.f("fk_events_segment_id_segments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_association_id"), ["association_id"], unique=False)
        batch_op.create_index("ix_events_status_starts_at", ["status", "starts_at"], unique=False)

    op.create_table(
        "association_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("requested_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("introduced_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["association_id"],
            ["associations.id"],
            name=op.f("fk_association_members_association_id_associations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consents.id"],
            name=op.f("fk_association_members_consent_id_consents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_association_members_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_association_members")),
        sa.UniqueConstraint("association_id", "person_id", name=op.f("uq_association_members_association_id")),
    )
    with op.batch_alter_table("association_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_association_members_association_id_status", ["association_id", "status"], unique=False
        )
        batch_op.create_index("ix_association_members_person_id", ["person_id"], unique=False)

    op.create_table(
        "event_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("registrant", sa.String(length=80), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("oa_openid", sa.String(length=64), nullable=True),
        sa.Column("mp_openid", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("answers_json", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checkin_method", sa.String(length=8), nullable=True),
        sa.Column("checkin_scanner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_scanner_id"],
            ["card_scanners.id"],
            name=op.f("fk_event_registrations_checkin_scanner_id_card_scanners"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_registrations_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_event_registrations_person_id_persons"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_registrations")),
    )
    with op.batch_alter_table("event_registrations", schema=None) as batch_op:
        batch_op.create_index("ix_event_registrations_event_id_status", ["event_id", "status", "id"], unique=False)
        batch_op.create_index("ix_event_registrations_mp_openid", ["mp_openid"], unique=False)
        batch_op.create_index("ix_event_registrations_oa_openid", ["oa_openid"], unique=False)
        batch_op.create_index("ix_event_registrations_person_id", ["person_id"], unique=False)
        batch_op.create_index(
            "uq_event_registrations_live",
            ["event_id", "registrant"],
            unique=True,
            sqlite_where=sa.text("status IN ('confirmed', 'waitlisted')"),
            postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"),
        )

    with op.batch_alter_table("card_scanners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_card_scanners_event_id"), ["event_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_card_scanners_event_id_events"), "events", ["event_id"], ["id"], ondelete="CASCADE"
        )

    with op.batch_alter_table("followers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followers", schema=None) as batch_op:
        batch_op.drop_column("language")

    with op.batch_alter_table("card_scanners", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_card_scanners_event_id_events"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_card_scanners_event_id"))
        batch_op.drop_column("event_id")

    with op.batch_alter_table("event_registrations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_event_registrations_live",
            sqlite_where=sa.text("status IN ('confirmed', 'waitlisted')"),
            postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"),
        )
        batch_op.drop_index("ix_event_registrations_person_id")
        batch_op.drop_index("ix_event_registrations_oa_openid")
        batch_op.drop_index("ix_event_registrations_mp_openid")
        batch_op.drop_index("ix_event_registrations_event_id_status")

    op.drop_table("event_registrations")
    with op.batch_alter_table("association_members", schema=None) as batch_op:
        batch_op.drop_index("ix_association_members_person_id")
        batch_op.drop_index("ix_association_members_association_id_status")

    op.drop_table("association_members")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_status_starts_at")
        batch_op.drop_index(batch_op.f("ix_events_association_id"))

    op.drop_table("events")
    with op.batch_alter_table("association_regions", schema=None) as batch_op:
        batch_op.drop_index("ix_association_regions_kind_value")

    op.drop_table("association_regions")
    with op.batch_alter_table("association_admins", schema=None) as batch_op:
        batch_op.drop_index("ix_association_admins_staff_account_id")
        batch_op.drop_index("ix_association_admins_association_id")

    op.drop_table("association_admins")
    with op.batch_alter_table("associations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_associations_parent_id"))

    op.drop_table("associations")
