"""folded education labels: college, major and class label searched across simplified and traditional forms

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Adds ``college_folded``, ``major_folded`` and ``class_name_folded`` to ``education_records`` (the labels as
``services.databank.names.label_key`` folds them: simplified, half-width, lower case, no spaces), fills them for
the rows already there, and moves the filter indexes from the raw labels to the folded ones.

The backfill folds each distinct label once in Python (a roster has few: colleges, majors, class labels), puts the
results in a work table, and updates ``education_records`` a range of ids at a time from it, so neither memory nor
any one statement grows with the table. The fold is the application's own function, so stored keys are exactly
what queries compute; a later change to ``label_key`` needs a migration that refolds (``backfill`` below).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.person import search_key
from services.databank.names import label_key

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LABELS = {"college": "college_folded", "major": "major_folded", "class_name": "class_name_folded"}
BATCH_IDS = 20_000  # rows of education_records updated per statement
BATCH_LABELS = 5_000  # folded labels inserted per statement
WORK_TABLE = "tmp_label_folds_0007"


def backfill(conn: sa.Connection) -> None:
    """Fill every folded label column of ``education_records`` from its label."""
    work = sa.Table(
        WORK_TABLE,
        sa.MetaData(),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("folded", sa.String(64)),
    )
    work.create(conn)
    distinct = " UNION ".join(
        f"SELECT {label} FROM education_records WHERE {label} IS NOT NULL"  # noqa: S608 - our own column names
        for label in LABELS
    )
    batch: list[dict[str, str | None]] = []
    for (label,) in conn.execute(sa.text(distinct)):
        batch.append({"label": label, "folded": label_key(label)})
        if len(batch) >= BATCH_LABELS:
            conn.execute(work.insert(), batch)
            batch = []
    if batch:
        conn.execute(work.insert(), batch)
    assignments = ", ".join(
        f"{folded} = (SELECT folded FROM {WORK_TABLE} WHERE label = education_records.{label})"  # noqa: S608
        for label, folded in LABELS.items()
    )
    update = sa.text(f"UPDATE education_records SET {assignments} WHERE id >= :lo AND id < :hi")  # noqa: S608
    low, high = conn.execute(sa.text("SELECT min(id), max(id) FROM education_records")).one()
    if low is not None:
        for start in range(low, high + 1, BATCH_IDS):
            conn.execute(update, {"lo": start, "hi": start + BATCH_IDS})
    work.drop(conn)


def upgrade() -> None:
    for folded in LABELS.values():
        op.add_column("education_records", sa.Column(folded, search_key(64), nullable=True))
    # The raw-label indexes go first: nothing filters on the raw labels any more, and the backfill need not keep them.
    op.drop_index("ix_education_records_college_grad_year", table_name="education_records")
    op.drop_index("ix_education_records_major_grad_year", table_name="education_records")
    op.drop_index("ix_education_records_person_id", table_name="education_records")
    backfill(op.get_bind())
    op.create_index(
        "ix_education_records_college_folded", "education_records", ["college_folded", "grad_year", "person_id"]
    )
    op.create_index(
        "ix_education_records_major_folded", "education_records", ["major_folded", "grad_year", "person_id"]
    )
    op.create_index(
        "ix_education_records_class_name_folded", "education_records", ["class_name_folded", "grad_year", "person_id"]
    )
    op.create_index(
        "ix_education_records_person_id",
        "education_records",
        ["person_id", "college_folded", "major_folded", "grad_year"],
    )


def downgrade() -> None:
    op.drop_index("ix_education_records_person_id", table_name="education_records")
    op.drop_index("ix_education_records_class_name_folded", table_name="education_records")
    op.drop_index("ix_education_records_major_folded", table_name="education_records")
    op.drop_index("ix_education_records_college_folded", table_name="education_records")
    op.create_index(
        "ix_education_records_person_id", "education_records", ["person_id", "college", "major", "grad_year"]
    )
    op.create_index("ix_education_records_major_grad_year", "education_records", ["major", "grad_year", "person_id"])
    op.create_index(
        "ix_education_records_college_grad_year", "education_records", ["college", "grad_year", "person_id"]
    )
    with op.batch_alter_table("education_records", schema=None) as batch_op:
        for folded in reversed(LABELS.values()):
            batch_op.drop_column(folded)
