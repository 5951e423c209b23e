"""cohort placements in a table of their own: class_cohort_records replaces education_records.cohort_id

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Placing a million records in their cohorts by ``UPDATE education_records SET cohort_id`` wrote a million new versions
of a wide row (no HOT: the column is indexed) into all eight of its indexes, about 2 GB of WAL (80-180 s measured,
bench-classes); a two-column table filled by ``INSERT … SELECT … ON CONFLICT DO NOTHING`` writes about 255 MB
(``services.classes.cohorts``). The placements already made are copied across, then the column, its foreign key and
its index go (SQLite copies the table to drop them: batch mode). The downgrade copies them back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "class_cohort_records",
        sa.Column("education_record_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"],
            ["class_cohorts.id"],
            name=op.f("fk_class_cohort_records_cohort_id_class_cohorts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["education_record_id"],
            ["education_records.id"],
            name=op.f("fk_class_cohort_records_education_record_id_education_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("education_record_id", name=op.f("pk_class_cohort_records")),
    )
    op.execute(
        "INSERT INTO class_cohort_records (education_record_id, cohort_id) "
        "SELECT id, cohort_id FROM education_records WHERE cohort_id IS NOT NULL"
    )
    op.create_index("ix_class_cohort_records_cohort_id", "class_cohort_records", ["cohort_id", "education_record_id"])
    with op.batch_alter_table("education_records") as batch_op:
        batch_op.drop_index("ix_education_records_cohort_id")
        batch_op.drop_constraint(op.f("fk_education_records_cohort_id_class_cohorts"), type_="foreignkey")
        batch_op.drop_column("cohort_id")


def downgrade() -> None:
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
    op.execute(
        "UPDATE education_records SET cohort_id = "
        "(SELECT cohort_id FROM class_cohort_records r WHERE r.education_record_id = education_records.id) "
        "WHERE id IN (SELECT education_record_id FROM class_cohort_records)"
    )
    op.drop_index("ix_class_cohort_records_cohort_id", table_name="class_cohort_records")
    op.drop_table("class_cohort_records")
