"""one held card per person: the unique index covers suspended cards too; an index for the expiry job

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

A suspended card is still its holder's card (suspension is temporary), so issuing a second card beside it must be
impossible. Before 0005 the partial unique index covered ``status = 'active'`` only, and approving a new application
for someone holding a suspended card issued a second card. Where that happened, the suspended card is the older one
that the approval superseded: the upgrade revokes it (bumping its version, so none of its codes verify) before
building the wider index. ``ix_cards_held_expiry`` serves the expiry job's "held cards past expires_at" scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = "status IN ('active', 'suspended')"


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE cards SET status = 'revoked', status_reason = 'superseded by a newer card (migration 0005)', "
            "version = version + 1 "
            "WHERE status = 'suspended' AND person_id IN (SELECT person_id FROM cards WHERE status = 'active')"
        )
    )
    op.drop_index("uq_cards_person_active", table_name="cards")
    op.create_index(
        "uq_cards_person_held",
        "cards",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )
    op.create_index(
        "ix_cards_held_expiry",
        "cards",
        ["expires_at"],
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_cards_held_expiry", table_name="cards")
    op.drop_index("uq_cards_person_held", table_name="cards")
    op.create_index(
        "uq_cards_person_active",
        "cards",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
