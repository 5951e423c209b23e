"""Branch admins: appointing a staff account (it must hold the ``branch_admin`` role) to one association, relieving
it, and who serves now. The console's scope of such an account follows (``scope.scope``) from these rows alone.

An account is appointed once per association at a time (appointing again answers the current appointment); a
relieved appointment stays as history (``ended_at``/``ended_by``). Every change is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound, ValidationFailed
from models import StaffAccount, StaffRole
from models.association import AssociationAdmin
from models.base import utcnow
from services.associations.directory import get
from services.databank import audit

BRANCH_ADMIN = "branch_admin"
E = texts.ASSOCIATION_ERRORS


def appoint(session: Session, association_id: int, account_id: int, *, actor: str) -> AssociationAdmin:
    get(session, association_id, live=True)
    account = session.get(StaffAccount, account_id)
    if account is None or account.disabled_at is not None:
        raise ValidationFailed("no account", user_message=E["no_account"])
    role = session.get(StaffRole, (account_id, BRANCH_ADMIN))
    if role is None:
        raise ValidationFailed(
            "not a branch admin", user_message=E["not_branch_admin"].format(username=account.username)
        )
    current = session.scalar(
        select(AssociationAdmin).where(
            AssociationAdmin.association_id == association_id,
            AssociationAdmin.staff_account_id == account_id,
            AssociationAdmin.ended_at.is_(None),
        )
    )
    if current is not None:
        return current
    appointment = AssociationAdmin(association_id=association_id, staff_account_id=account_id, appointed_by=actor[:64])
    session.add(appointment)
    session.flush()
    audit.record(
        session, actor=actor, action="association.appoint", association_id=association_id, staff_account_id=account_id
    )
    return appointment


def relieve(session: Session, appointment_id: int, *, actor: str) -> AssociationAdmin:
    appointment = session.get(AssociationAdmin, appointment_id, with_for_update=True)
    if appointment is None:
        raise NotFound(f"no appointment {appointment_id}", user_message=E["no_appointment"])
    if appointment.ended_at is None:
        appointment.ended_at, appointment.ended_by = utcnow(), actor[:64]
        audit.record(
            session, actor=actor, action="association.relieve", association_id=appointment.association_id,
            staff_account_id=appointment.staff_account_id,
        )  # fmt: skip
    return appointment


def current(session: Session, association_id: int) -> list[tuple[AssociationAdmin, StaffAccount]]:
    rows = session.execute(
        select(AssociationAdmin, StaffAccount)
        .join(StaffAccount, StaffAccount.id == AssociationAdmin.staff_account_id)
        .where(AssociationAdmin.association_id == association_id, AssociationAdmin.ended_at.is_(None))
        .order_by(AssociationAdmin.appointed_at, AssociationAdmin.id)
    ).all()
    return [(a, s) for a, s in rows]
