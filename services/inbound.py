"""The inbound message log: the durable claim on a push (unique key) and the reply a retry must get again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import InboundMessage, utcnow


@dataclass(frozen=True)
class PriorOutcome:
    status: str
    reply_json: str | None


def claim(
    session: Session, dedupe_key: str, *, openid: str, msg_type: str, event: str | None, received_at: datetime
) -> InboundMessage | None:
    """Insert the log row for this push; None if another delivery of it already did (the unique key decides).

    Runs in a savepoint so that losing the race leaves the caller's transaction usable. On PostgreSQL a concurrent
    insert of the same key waits for the first transaction to finish, so "already claimed" means "already done".
    """
    row = InboundMessage(dedupe_key=dedupe_key, openid=openid, msg_type=msg_type, event=event, received_at=received_at)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def prior_outcome(session: Session, dedupe_key: str) -> PriorOutcome | None:
    row = session.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == dedupe_key))
    return PriorOutcome(row.status, row.reply_json) if row else None


def purge_older_than(session: Session, days: int) -> int:
    """Delete log rows past retention; WeChat stops retrying after seconds, so old rows guard nothing."""
    cutoff = utcnow() - timedelta(days=days)
    result = session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
