"""alumni databank: persons, education, contacts, employment, identities, change sets, consent, audit, claims

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The search keys use the "C" collation on PostgreSQL (models.person.search_key), so plain b-tree indexes serve both
prefix LIKE and ORDER BY there; SQLite gets the same plain indexes. The audit log refuses UPDATE by trigger on both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models
from models.person import search_key

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:  # noqa: PLR0915 - one table after another
    op.create_table(
        "databank_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_inserted", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("finished_at", True),
        _ts("rolled_back_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_databank_batches")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_simplified", search_key(64), nullable=False),
        sa.Column("name_traditional", sa.String(length=64), nullable=False),
        sa.Column("name_pinyin", search_key(128), nullable=False),
        sa.Column("name_initials", search_key(32), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(length=64), nullable=True),
        sa.Column("id_hmac", sa.String(length=48), nullable=True),
        sa.Column("id_last4_hmac", sa.String(length=48), nullable=True),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_persons_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(["merged_into_id"], ["persons.id"], name=op.f("fk_persons_merged_into_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index("ix_persons_name_simplified", ["name_simplified", "id"], unique=False)
        batch_op.create_index("ix_persons_name_pinyin", ["name_pinyin", "id"], unique=False)
        batch_op.create_index("ix_persons_name_initials", ["name_initials", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_persons_id_hmac"), ["id_hmac"], unique=False)
        batch_op.create_index(
            "ix_persons_merged_into_id",
            ["merged_into_id"],
            unique=False,
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        )

    op.create_table(
        "person_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_simplified", search_key(64), nullable=False),
        sa.Column("name_pinyin", search_key(128), nullable=False),
        sa.Column("name_initials", search_key(32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_person_names_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_names_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_names")),
    )
    with op.batch_alter_table("person_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_names_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_person_names_name_simplified", ["name_simplified", "person_id"], unique=False)
        batch_op.create_index("ix_person_names_name_pinyin", ["name_pinyin", "person_id"], unique=False)
        batch_op.create_index("ix_person_names_name_initials", ["name_initials", "person_id"], unique=False)

    op.create_table(
        "education_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("institution", sa.String(length=64), nullable=False),
        sa.Column("student_no", search_key(32), nullable=False),
        sa.Column("college", sa.String(length=64), nullable=True),
        sa.Column("major", sa.String(length=64), nullable=True),
        sa.Column("class_name", sa.String(length=64), nullable=True),
        sa.Column("entry_year", sa.SmallInteger(), nullable=True),
        sa.Column("grad_year", sa.SmallInteger(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("international", sa.Boolean(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("import_digest", sa.String(length=32), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_education_records_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_education_records_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_education_records")),
        sa.UniqueConstraint("student_no", "institution", name=op.f("uq_education_records_student_no")),
    )
    with op.batch_alter_table("education_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_education_records_person_id", ["person_id", "college", "major", "grad_year"], unique=False
        )
        batch_op.create_index("ix_education_records_grad_year_person_id", ["grad_year", "person_id"], unique=False)
        batch_op.create_index(
            "ix_education_records_college_grad_year", ["college", "grad_year", "person_id"], unique=False
        )
        batch_op.create_index("ix_education_records_major_grad_year", ["major", "grad_year", "person_id"], unique=False)

    op.create_table(
        "contact_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_encrypted", sa.Text(), nullable=False),
        sa.Column("blind_index", sa.String(length=48), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_contact_points_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_contact_points_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_points")),
        sa.UniqueConstraint("person_id", "kind", "blind_index", name=op.f("uq_contact_points_person_id")),
    )
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_points_blind_index"), ["blind_index"], unique=False)

    op.create_table(
        "employments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("employer", sa.String(length=128), nullable=True),
        sa.Column("title", sa.String(length=64), nullable=True),
        sa.Column("industry", sa.String(length=64), nullable=True),
        sa.Column("city", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_employments_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_employments_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employments")),
    )
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.create_index("ix_employments_person_id", ["person_id", "city"], unique=False)
        batch_op.create_index("ix_employments_city_person_id", ["city", "person_id"], unique=False)

    op.create_table(
        "wechat_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        _ts("bound_at"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_wechat_identities_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_identities")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_wechat_identities_kind")),
    )
    with op.batch_alter_table("wechat_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wechat_identities_person_id"), ["person_id"], unique=False)

    op.create_table(
        "import_row_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("column", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["databank_batches.id"],
            name=op.f("fk_import_row_errors_batch_id_databank_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_row_errors")),
    )
    with op.batch_alter_table("import_row_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_row_errors_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "field_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        _ts("at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_field_changes_batch_id_databank_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_changes")),
    )
    with op.batch_alter_table("field_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_field_changes_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "person_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        _ts("merged_at"),
        _ts("undone_at", True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["databank_batches.id"], name=op.f("fk_person_merges_batch_id_databank_batches")
        ),
        sa.ForeignKeyConstraint(["kept_id"], ["persons.id"], name=op.f("fk_person_merges_kept_id_persons")),
        sa.ForeignKeyConstraint(["merged_id"], ["persons.id"], name=op.f("fk_person_merges_merged_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_merges")),
    )
    with op.batch_alter_table("person_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_merges_kept_id"), ["kept_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_merges_merged_id"), ["merged_id"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        _ts("granted_at"),
        _ts("withdrawn_at", True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_consents_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_person_id"), ["person_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_person_id"), ["person_id"], unique=False)

    op.create_table(
        "verification_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("claim", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("decided_at", True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_verification_claims_person_id_persons"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_claims")),
    )
    with op.batch_alter_table("verification_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_claims_openid"), ["openid"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_claims_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_claims_person_id"), ["person_id"], unique=False)

    # The audit log is append-only: the database itself refuses to change an entry.
    if op.get_bind().dialect.name == "postgresql":
        # Surnames are few and skewed: without a finer histogram the planner misjudges "张%" by 40x and sorts
        # thousands of rows instead of walking the index to the first page.
        for table in ("persons", "person_names"):
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN name_simplified SET STATISTICS 1000, "
                "ALTER COLUMN name_pinyin SET STATISTICS 1000, ALTER COLUMN name_initials SET STATISTICS 1000"
            )
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    for table in (
        "verification_claims",
        "audit_log",
        "consents",
        "person_merges",
        "field_changes",
        "import_row_errors",
        "wechat_identities",
        "employments",
        "contact_points",
        "education_records",
        "person_names",
        "persons",
        "databank_batches",
    ):
        op.drop_table(table)
