"""Which associations a staff account may see and act on: a branch admin only the ones appointed to now.

The console's association and event pages, and the event check-in desk, ask here; a branch admin reaching another
association's data gets ``Forbidden`` (403), as the product promises them a clear refusal rather than a hidden page.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from models.association import AssociationAdmin
from services.staff.policy import SCOPED_ROLES


def scope(session: Session, account_id: int, roles: Iterable[str]) -> frozenset[int] | None:
    """None (every association) unless all the account's roles are scoped; then the associations it is appointed
    to and not relieved of. An account with only scoped roles and no appointment sees none."""
    if any(role not in SCOPED_ROLES for role in roles):
        return None
    appointed = select(AssociationAdmin.association_id).where(
        AssociationAdmin.staff_account_id == account_id, AssociationAdmin.ended_at.is_(None)
    )
    return frozenset(session.scalars(appointed))


def ensure_in_scope(association_id: int | None, associations: frozenset[int] | None) -> None:
    """Raise ``Forbidden`` unless ``association_id`` is within ``associations`` (None: everything). The alumni
    office's own events (``association_id`` None) are outside every branch admin's scope."""
    if associations is None:
        return
    if association_id is None or association_id not in associations:
        raise Forbidden(f"association {association_id} is outside this account's scope")
