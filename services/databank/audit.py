"""The databank's audit trail: one append-only entry per staff action on personal data (reveal, export, merge ...).

Entries name people by id and carry no personal data themselves; ``detail`` holds ids, counts and flags only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class AuditQuery:
    """A filter over the audit log; every field is optional. ``since``/``until`` bound ``at`` (until is exclusive)."""

    actor: str | None = None
    action: str | None = None
    person_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(session: Session, query: AuditQuery, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
    """Newest first, at most ``limit`` entries older than ``before_id`` (keyset paging: deep pages cost nothing more).
    ``actor`` and ``action`` match a prefix, so ``staff:`` finds every staff member and ``staff.`` every staff action.
    """
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if query.actor:
        statement = statement.where(AuditEntry.actor.startswith(query.actor, autoescape=True))
    if query.action:
        statement = statement.where(AuditEntry.action.startswith(query.action, autoescape=True))
    if query.person_id is not None:
        statement = statement.where(AuditEntry.person_id == query.person_id)
    if query.since is not None:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.at < query.until)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return list(session.scalars(statement))
