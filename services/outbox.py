"""The outbox: messages owed to users, written before any send, then delivered at most once each.

Used today for replies that missed WeChat's passive-reply deadline or size; broadcasts will use the same pattern.
A row's ``idempotency_key`` is stable (derived from what caused it), so queuing the same message twice is a no-op.
Delivery claims a row (pending → sending) in its own transaction before calling WeChat, so two workers never send
the same row; a crash while ``sending`` is resolved by :func:`requeue_stuck` after a grace period, and WeChat errors
that can never succeed end the row as ``failed:<errcode>``.

A row's ``channel`` says how it goes: ``custom`` (a customer-service message, the default), ``template`` (an
official-account template message: payload ``template_id``, ``data``, ``client_msg_id``, optional ``url``) or
``subscribe`` (a mini-program subscribe message: ``template_id``, ``data``, optional ``page``). A row whose final
status (``sent`` / ``failed:<errcode>``) matters to a feature reaches that feature's outcome hook
(:data:`OUTCOME_HOOKS`, by key prefix) inside the same transaction that records the status, so a crash never
leaves the two disagreeing.
"""

from __future__ import annotations

import importlib
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
from services.ports import Messenger, MiniProgramPort, TemplateSender

log = logging.getLogger(__name__)

# errcodes that will not change by trying again: not following (43004), window closed (45015), window used up
# (45047), user refused messages (43019), invalid openid (40003), no subscribe consent left (43101), invalid
# template id (40037), template data WeChat refuses (47003), content over the size limit (45002).
PERMANENT_ERRCODES = frozenset({40003, 40037, 43004, 43019, 43101, 45002, 45015, 45047, 47003})
STUCK_AFTER = timedelta(minutes=5)
CUSTOM, TEMPLATE, SUBSCRIBE = "custom", "template", "subscribe"

SessionFactory = Callable[[], AbstractContextManager[Session]]
# Key prefix → "module:function" called as ``function(session, key, payload, status)`` when a row with that prefix
# ends ``sent`` or ``failed:<errcode>``, in the transaction that records it. Imported on first use (no cycles).
OUTCOME_HOOKS: dict[str, str] = {"inquiry-reply:": "services.inquiries.delivery:on_outbox_outcome"}


def enqueue(
    session: Session, idempotency_key: str, openid: str, payloads: list[dict[str, Any]], *, channel: str = CUSTOM
) -> list[int]:
    """Queue one row per payload; keys are ``{idempotency_key}#{n}``. Returns the ids of rows queued now."""
    ids = []
    for n, payload in enumerate(payloads):
        row = OutboundMessage(
            idempotency_key=f"{idempotency_key}#{n}"[:200],
            openid=openid,
            channel=channel,
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


def _hook(key: str) -> Callable[[Session, str, dict[str, Any], str], None] | None:
    for prefix, target in OUTCOME_HOOKS.items():
        if key.startswith(prefix):
            module, name = target.split(":")
            hook: Callable[[Session, str, dict[str, Any], str], None] = getattr(importlib.import_module(module), name)
            return hook
    return None


def _send(
    channel: str,
    openid: str,
    payload: dict[str, Any],
    *,
    messenger: Messenger,
    templates: TemplateSender | None,
    subscriber: MiniProgramPort | None,
) -> None:
    if channel == TEMPLATE and templates is not None:
        templates.send_template(
            openid,
            payload["template_id"],
            payload["data"],
            client_msg_id=payload["client_msg_id"],
            url=payload.get("url"),
        )
    elif channel == SUBSCRIBE and subscriber is not None:
        subscriber.send_subscribe_message(openid, payload["template_id"], payload["data"], payload.get("page"))
    else:
        messenger.send_customer_message(openid, payload)


def deliver(
    sessions: SessionFactory,
    messenger: Messenger,
    row_id: int,
    max_attempts: int,
    retry_seconds: int,
    *,
    templates: TemplateSender | None = None,
    subscriber: MiniProgramPort | None = None,
) -> str:
    """Send one queued row if it is due; return its status afterwards. A ``template`` or ``subscribe`` row needs
    ``templates`` / ``subscriber``: a caller without them leaves it pending for the outbox job."""
    with sessions() as session:
        row = _claim(session, row_id)
        if row is None:
            current = session.get(OutboundMessage, row_id)
            return current.status if current else "missing"
        channel = row.channel
        if (channel == TEMPLATE and templates is None) or (channel == SUBSCRIBE and subscriber is None):
            row.status, row.attempts = "pending", row.attempts - 1  # not ours to send: undone in the same unit
            return "pending"
        openid, payload, attempts, key = row.openid, json.loads(row.payload_json), row.attempts, row.idempotency_key
    status, next_at = "sent", utcnow()
    try:
        _send(channel, openid, payload, messenger=messenger, templates=templates, subscriber=subscriber)
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
        hook = _hook(key) if status != "pending" else None
        if hook is not None:
            hook(session, key, payload, status)  # same unit of work: the outcome and its effect commit together
    return status


def due_ids(session: Session, limit: int = 100) -> list[int]:
    rows = session.scalars(
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == "pending",
            OutboundMessage.broadcast_id.is_(None),  # a broadcast's rows are the broadcast sender's
            OutboundMessage.next_attempt_at <= utcnow(),
        )
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
        .where(
            OutboundMessage.status == "sending",
            OutboundMessage.broadcast_id.is_(None),  # the broadcast sender requeues its own (within its lease)
            OutboundMessage.next_attempt_at < utcnow() - STUCK_AFTER,
        )
        .values(status="pending")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def deliver_due(
    sessions: SessionFactory,
    messenger: Messenger,
    max_attempts: int,
    retry_seconds: int,
    limit: int = 100,
    *,
    templates: TemplateSender | None = None,
    subscriber: MiniProgramPort | None = None,
) -> dict[str, int]:
    """One pass of the scheduler's outbox job: requeue stuck rows, send what is due (and what an outcome hook queued
    meanwhile, e.g. the next part of a split answer), at most ``limit`` rows. Returns counts by status."""
    with sessions() as session:
        requeue_stuck(session)
    counts: dict[str, int] = {}
    tried: set[int] = set()
    while len(tried) < limit:
        with sessions() as session:
            query = select(OutboundMessage.id).where(
                OutboundMessage.status == "pending",
                OutboundMessage.broadcast_id.is_(None),  # a broadcast's rows are the broadcast sender's
                OutboundMessage.next_attempt_at <= utcnow(),
            )
            if tried:
                query = query.where(OutboundMessage.id.not_in(tried))
            ids = list(session.scalars(query.order_by(OutboundMessage.id).limit(limit - len(tried))))
        if not ids:
            break
        for row_id in ids:
            tried.add(row_id)
            status = deliver(
                sessions, messenger, row_id, max_attempts, retry_seconds, templates=templates, subscriber=subscriber
            )
            counts[status] = counts.get(status, 0) + 1
    return counts
