"""The outbox: messages owed to users, written before any send, then delivered at most once each.

Used today for replies that missed WeChat's passive-reply deadline or size; broadcasts will use the same pattern.
A row's ``idempotency_key`` is stable (derived from what caused it), so queuing the same message twice is a no-op.
Delivery claims a row (pending → sending) in its own transaction before calling WeChat, so two workers never send
the same row; a crash while ``sending`` is resolved by :func:`requeue_stuck` after a grace period, and WeChat errors
that can never succeed end the row as ``failed:<errcode>``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import WeChatAPIError
from models import OutboundMessage, utcnow
from services.ports import Messenger

log = logging.getLogger(__name__)

# errcodes that will not change by trying again: not following (43004), window closed (45015), window used up
# (45047), user refused messages (43019), invalid openid (40003).
PERMANENT_ERRCODES = frozenset({40003, 43004, 43019, 45015, 45047})
STUCK_AFTER = timedelta(minutes=5)

SessionFactory = Callable[[], AbstractContextManager[Session]]


def enqueue(session: Session, idempotency_key: str, openid: str, payloads: list[dict[str, Any]]) -> list[int]:
    """Queue one row per payload; keys are ``{idempotency_key}#{n}``. Returns the ids of rows queued now."""
    ids = []
    for n, payload in enumerate(payloads):
        row = OutboundMessage(
            idempotency_key=f"{idempotency_key}#{n}"[:200],
            openid=openid,
            payload_json=json.dumps(payload, ensure_ascii=False),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue
        ids.append(row.id)
    return ids


def _claim(session: Session, row_id: int) -> OutboundMessage | None:
    now = utcnow()
    result = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == row_id, OutboundMessage.status == "pending", OutboundMessage.next_attempt_at <= now
        )
        .values(status="sending", attempts=OutboundMessage.attempts + 1, next_attempt_at=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(OutboundMessage, row_id)


def deliver(sessions: SessionFactory, messenger: Messenger, row_id: int, max_attempts: int, retry_seconds: int) -> str:
    """Send one queued row if it is due; return its status afterwards."""
    with sessions() as session:
        row = _claim(session, row_id)
        if row is None:
            current = session.get(OutboundMessage, row_id)
            return current.status if current else "missing"
        openid, payload, attempts = row.openid, json.loads(row.payload_json), row.attempts
    status, next_at = "sent", utcnow()
    try:
        messenger.send_customer_message(openid, payload)
    except WeChatAPIError as exc:
        if exc.errcode in PERMANENT_ERRCODES or attempts >= max_attempts:
            status = f"failed:{exc.errcode}"
        else:
            status, next_at = "pending", utcnow() + timedelta(seconds=retry_seconds * attempts)
        log.warning("outbox row %s: WeChat errcode %s (attempt %s) → %s", row_id, exc.errcode, attempts, status)
    except OSError as exc:  # network trouble: requests' errors derive from OSError
        status = "pending" if attempts < max_attempts else "failed:network"
        next_at = utcnow() + timedelta(seconds=retry_seconds * attempts)
        log.warning("outbox row %s: network error %s (attempt %s) → %s", row_id, type(exc).__name__, attempts, status)
    with sessions() as session:
        values: dict[str, Any] = {"status": status, "next_attempt_at": next_at}
        if status == "sent":
            values["sent_at"] = utcnow()
        session.execute(update(OutboundMessage).where(OutboundMessage.id == row_id).values(**values))
    return status


def due_ids(session: Session, limit: int = 100) -> list[int]:
    rows = session.scalars(
        select(OutboundMessage.id)
        .where(OutboundMessage.status == "pending", OutboundMessage.next_attempt_at <= utcnow())
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(rows)


def requeue_stuck(session: Session) -> int:
    """Rows left ``sending`` by a crashed worker go back to ``pending``.

    The send may have reached WeChat before the crash; customer-service messages have no idempotency key at WeChat,
    so this trades a rare duplicate for never losing a reply.
    """
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == "sending", OutboundMessage.next_attempt_at < utcnow() - STUCK_AFTER)
        .values(status="pending")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def deliver_due(
    sessions: SessionFactory, messenger: Messenger, max_attempts: int, retry_seconds: int, limit: int = 100
) -> dict[str, int]:
    """One pass of the scheduler's outbox job: requeue stuck rows, send what is due. Returns counts by status."""
    with sessions() as session:
        requeue_stuck(session)
        ids = due_ids(session, limit)
    counts: dict[str, int] = {}
    for row_id in ids:
        status = deliver(sessions, messenger, row_id, max_attempts, retry_seconds)
        counts[status] = counts.get(status, 0) + 1
    return counts
