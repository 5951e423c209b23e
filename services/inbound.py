"""The inbound message log: the durable claim on a push (unique key) and the reply a retry must get again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from models import InboundMessage, utcnow


@dataclass(frozen=True)
class PriorOutcome:
    status: str
    reply_json: str | None


# Built once: these run on every push, and building SQLAlchemy constructs costs more than running them.
_LOG = cast(Table, InboundMessage.__table__)
_CLAIM = insert(_LOG)
_SETTLE = (
    update(_LOG)
    .where(_LOG.c.dedupe_key == bindparam("key"))
    .values(status=bindparam("new_status"), handler=bindparam("new_handler"), reply_json=bindparam("new_reply"))
)


def claim(
    session: Session, dedupe_key: str, *, openid: str, msg_type: str, event: str | None, received_at: datetime
) -> None:
    """Write the log row of a push first thing in the caller's transaction: its unique key is the durable claim.

    If another delivery of the same push has the row, this raises ``IntegrityError`` (a concurrent one waits for the
    first transaction to end, on PostgreSQL and SQLite alike), and the caller rolls back and answers with
    :func:`prior_outcome`.
    """
    session.connection().execute(
        _CLAIM,
        {
            "dedupe_key": dedupe_key,
            "openid": openid,
            "msg_type": msg_type,
            "event": event,
            "received_at": received_at,
            "status": "handling",
        },
    )


def settle(session: Session, dedupe_key: str, *, status: str, handler: str | None, reply_json: str) -> None:
    """Record how the push was answered, for retries: handled, deferred or failed, and the reply."""
    session.connection().execute(
        _SETTLE, {"key": dedupe_key, "new_status": status, "new_handler": handler, "new_reply": reply_json}
    )


def prior_outcome(session: Session, dedupe_key: str) -> PriorOutcome | None:
    row = session.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == dedupe_key))
    return PriorOutcome(row.status, row.reply_json) if row else None


def purge_older_than(session: Session, days: int) -> int:
    """Delete log rows past retention; WeChat stops retrying after seconds, so old rows guard nothing."""
    cutoff = utcnow() - timedelta(days=days)
    result = session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
