"""The databank's audit trail: one append-only entry per staff action on personal data (reveal, export, merge ...).

Entries name people by id and carry no personal data themselves; ``detail`` holds ids, counts and flags only.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEntry

log = logging.getLogger(__name__)


def record(session: Session, *, actor: str, action: str, person_id: int | None = None, **detail: Any) -> AuditEntry:
    entry = AuditEntry(actor=actor[:64], action=action, person_id=person_id, detail=detail)
    session.add(entry)
    session.flush()
    log.info("audit %s by %s (entry %d)", action, actor, entry.id)
    return entry


def entries(session: Session, *, person_id: int | None = None, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if person_id is not None:
        query = query.where(AuditEntry.person_id == person_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
