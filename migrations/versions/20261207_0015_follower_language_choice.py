"""followers.language_choice: the language a user chose by writing "English" or "中文"

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

One nullable column without a default: a catalogue change on PostgreSQL, a plain ADD COLUMN on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("followers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_choice", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followers", schema=None) as batch_op:
        batch_op.drop_column("language_choice")
