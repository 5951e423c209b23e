"""class cohorts and groups: grades and classes derived from the databank, their groups, liaisons and members

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Adds ``class_cohorts`` and ``education_records.cohort_id`` with its index, and the tables that hang off a cohort
(``class_groups``, ``class_liaisons``, ``class_memberships``, ``contact_change_reports``, ``class_nominations`` and their evidence;
``models.classes`` says what each holds). Nothing to backfill here: the cohort
build (``python -m cli classes build``, and the scheduler's ``classes.build`` job) creates the cohorts and sets
``cohort_id``. Adding a nullable column without a default is a catalogue change on PostgreSQL (no table rewrite);
building the index reads ``education_records`` once. SQLite copies the table (batch mode) to add the foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "class_cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("institution", sa.String(length=64), nullable=False),
        sa.Column("college_key", models.person.search_key(64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("year_basis", sa.String(length=8), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("class_key", models.person.search_key(64), nullable=False),
        sa.Column("label", sa.String(length=160), nullable=False),
        sa.Column("college", sa.String(length=64), nullable=True),
        sa.Column("major", sa.String(length=64), nullable=True),
        sa.Column("class_name", sa.String(length=64), nullable=True),
        sa.Column("grad_year", sa.SmallInteger(), nullable=True),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("invite_url", sa.String(length=255), nullable=True),
        sa.Column("roster_size", sa.Integer(), nullable=False),
        sa.Column("joined_count", sa.Integer(), nullable=False),
        sa.Column("verified_count", sa.Integer(), nullable=False),
        sa.Column("built_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["class_cohorts.id"], name=op.f("fk_class_cohorts_parent_id_class_cohorts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_cohorts")),
        sa.UniqueConstraint(
            "kind",
            "institution",
            "college_key",
            "level",
            "year_basis",
            "year",
            "class_key",
            name="uq_class_cohorts_key",
        ),
    )
    op.create_index("ix_class_cohorts_grad_year_college_key", "class_cohorts", ["grad_year", "college_key", "kind"])
    op.create_index("ix_class_cohorts_parent_id", "class_cohorts", ["parent_id"])
    with op.batch_alter_table("education_records") as batch_op:
        batch_op.add_column(sa.Column("cohort_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_education_records_cohort_id_class_cohorts"),
            "class_cohorts",
            ["cohort_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_education_records_cohort_id", ["cohort_id", "person_id"])
    op.create_table(
        "class_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("qr_image", sa.LargeBinary(), nullable=True),
        sa.Column("qr_media_type", sa.String(length=32), nullable=True),
        sa.Column("qr_link", sa.String(length=512), nullable=True),
        sa.Column("qr_expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("qr_media_id", sa.String(length=128), nullable=True),
        sa.Column("qr_media_expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=True),
        sa.Column("member_count_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_class_groups_cohort_id_class_cohorts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_groups")),
    )
    op.create_index("ix_class_groups_cohort_id", "class_groups", ["cohort_id", "replaced_at"], unique=False)
    op.create_index(op.f("ix_class_groups_qr_expires_at"), "class_groups", ["qr_expires_at"], unique=False)
    op.create_table(
        "class_liaisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("staff_account_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("contact_encrypted", sa.String(length=512), nullable=True),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=True),
        sa.Column("letter_date", sa.Date(), nullable=True),
        sa.Column("appointed_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_class_liaisons_cohort_id_class_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_class_liaisons_person_id_persons"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"], ["staff_accounts.id"], name=op.f("fk_class_liaisons_staff_account_id_staff_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_liaisons")),
    )
    op.create_index("ix_class_liaisons_cohort_id", "class_liaisons", ["cohort_id", "ended_at"], unique=False)
    op.create_index(
        "ix_class_liaisons_staff_account_id", "class_liaisons", ["staff_account_id", "ended_at"], unique=False
    )
    op.create_table(
        "class_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verified_by", sa.String(length=16), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("vouched_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_class_memberships_cohort_id_class_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_class_memberships_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_memberships")),
        sa.UniqueConstraint("cohort_id", "openid", name="uq_class_memberships_cohort_openid"),
        sa.UniqueConstraint("cohort_id", "person_id", name=op.f("uq_class_memberships_cohort_id")),
    )
    op.create_index("ix_class_memberships_openid", "class_memberships", ["openid"], unique=False)
    op.create_index("ix_class_memberships_person_id", "class_memberships", ["person_id"], unique=False)
    op.create_table(
        "class_nominations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("citation", sa.String(length=2000), nullable=False),
        sa.Column("nominated_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_class_nominations_cohort_id_class_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_class_nominations_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_nominations")),
    )
    op.create_index(op.f("ix_class_nominations_cohort_id"), "class_nominations", ["cohort_id"], unique=False)
    op.create_table(
        "contact_change_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_encrypted", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_contact_change_reports_cohort_id_class_cohorts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_contact_change_reports_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_change_reports")),
    )
    op.create_index(
        "ix_contact_change_reports_cohort_id", "contact_change_reports", ["cohort_id", "status"], unique=False
    )
    op.create_index(op.f("ix_contact_change_reports_person_id"), "contact_change_reports", ["person_id"], unique=False)
    op.create_table(
        "class_nomination_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nomination_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["nomination_id"],
            ["class_nominations.id"],
            name=op.f("fk_class_nomination_evidence_nomination_id_class_nominations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_nomination_evidence")),
    )
    op.create_index(
        op.f("ix_class_nomination_evidence_nomination_id"), "class_nomination_evidence", ["nomination_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_class_nomination_evidence_nomination_id"), table_name="class_nomination_evidence")
    op.drop_table("class_nomination_evidence")
    op.drop_index(op.f("ix_contact_change_reports_person_id"), table_name="contact_change_reports")
    op.drop_index("ix_contact_change_reports_cohort_id", table_name="contact_change_reports")
    op.drop_table("contact_change_reports")
    op.drop_index(op.f("ix_class_nominations_cohort_id"), table_name="class_nominations")
    op.drop_table("class_nominations")
    op.drop_index("ix_class_memberships_person_id", table_name="class_memberships")
    op.drop_index("ix_class_memberships_openid", table_name="class_memberships")
    op.drop_table("class_memberships")
    op.drop_index("ix_class_liaisons_staff_account_id", table_name="class_liaisons")
    op.drop_index("ix_class_liaisons_cohort_id", table_name="class_liaisons")
    op.drop_table("class_liaisons")
    op.drop_index(op.f("ix_class_groups_qr_expires_at"), table_name="class_groups")
    op.drop_index("ix_class_groups_cohort_id", table_name="class_groups")
    op.drop_table("class_groups")
    with op.batch_alter_table("education_records") as batch_op:
        batch_op.drop_index("ix_education_records_cohort_id")
        batch_op.drop_constraint(op.f("fk_education_records_cohort_id_class_cohorts"), type_="foreignkey")
        batch_op.drop_column("cohort_id")
    op.drop_index("ix_class_cohorts_parent_id", table_name="class_cohorts")
    op.drop_index("ix_class_cohorts_grad_year_college_key", table_name="class_cohorts")
    op.drop_table("class_cohorts")
