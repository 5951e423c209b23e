"""alumni cards: cards, applications and their evidence, scanner credentials, the scan log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

At most one active card per person: a partial unique index (WHERE status = 'active'), on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.String(length=255), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=True),
        _ts("issued_at"),
        _ts("expires_at", True),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_cards_person_id_persons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["replaced_by_id"], ["cards.id"], name=op.f("fk_cards_replaced_by_id_cards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("number", name=op.f("uq_cards_number")),
    )
    op.create_index(op.f("ix_cards_person_id"), "cards", ["person_id"])
    op.create_index(
        "uq_cards_person_active",
        "cards",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "card_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mp_openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        _ts("decided_at", True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("notified", sa.String(length=24), nullable=True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["verification_claims.id"],
            name=op.f("fk_card_applications_claim_id_verification_claims"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_card_applications_person_id_persons"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_applications_card_id_cards"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_applications")),
    )
    op.create_index(op.f("ix_card_applications_mp_openid"), "card_applications", ["mp_openid"])
    op.create_index(op.f("ix_card_applications_status"), "card_applications", ["status"])
    op.create_index(op.f("ix_card_applications_decided_at"), "card_applications", ["decided_at"])
    op.create_table(
        "card_application_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        _ts("created_at"),
        _ts("deleted_at", True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["card_applications.id"],
            name=op.f("fk_card_application_evidence_application_id_card_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_application_evidence")),
    )
    op.create_index(
        op.f("ix_card_application_evidence_application_id"), "card_application_evidence", ["application_id"]
    )
    op.create_table(
        "card_scanners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_scanners")),
    )
    op.create_table(
        "card_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scanner_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        _ts("scanned_at"),
        sa.ForeignKeyConstraint(
            ["scanner_id"],
            ["card_scanners.id"],
            name=op.f("fk_card_scans_scanner_id_card_scanners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_scans_card_id_cards"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_scans")),
    )
    op.create_index(op.f("ix_card_scans_scanned_at"), "card_scans", ["scanned_at"])


def downgrade() -> None:
    op.drop_table("card_scans")
    op.drop_table("card_scanners")
    op.drop_table("card_application_evidence")
    op.drop_table("card_applications")
    op.drop_index("uq_cards_person_active", table_name="cards")
    op.drop_table("cards")
