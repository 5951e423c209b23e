"""A broadcast's life after composing: confirmation (the plan stored, then approval or the schedule), approval and
rejection by a second staff member, pause, resume and cancel, and the progress and delivery report with its .xlsx.

Status transitions owned here (``models.broadcast``): ``draft`` → (confirm) ``awaiting_approval`` when the planned
audience is larger than ``broadcasts.approval_threshold``, else ``scheduled``; ``awaiting_approval`` → (approve)
``scheduled`` or (reject) back to ``draft``; ``scheduled`` / ``sending`` / ``quota_paused`` → (pause) ``paused`` →
(resume) ``sending`` when its rows were written, else ``scheduled``; anything not finished → (cancel) ``cancelled``,
its pending outbox rows ending ``skipped:cancelled``. The sender (``services.broadcasts.delivery``) moves
``scheduled`` → ``sending`` → ``finished`` and reads the status at every batch. Each transition locks the broadcast's
row, so a pause and the sender's own update never interleave; each is audited (``broadcast.<step>``).

The approver holds ``broadcasts.approve`` and is neither the broadcast's author nor the one who confirmed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, Forbidden, ValidationFailed
from core.settings import Settings
from models import OutboundMessage
from models.base import utcnow
from models.broadcast import (
    AWAITING_APPROVAL,
    CANCELLED,
    DRAFT,
    FINISHED,
    PAUSED,
    QUOTA_PAUSED,
    SCHEDULED,
    SENDING,
    Broadcast,
)
from services.broadcasts import compose, plan
from services.databank import audit
from services.staff import policy

E = texts.BROADCAST_ERRORS
REASON_MAX = 200
CANCELLABLE = (DRAFT, AWAITING_APPROVAL, SCHEDULED, SENDING, PAUSED, QUOTA_PAUSED)
PAUSABLE = (SCHEDULED, SENDING, QUOTA_PAUSED)
ACTIVE = (AWAITING_APPROVAL, SCHEDULED, SENDING, PAUSED, QUOTA_PAUSED)


def _refuse(broadcast: Broadcast, action: str) -> Conflict:
    status = texts.BROADCAST_STATUS_NAMES.get(broadcast.status, broadcast.status)
    return Conflict(
        f"broadcast {broadcast.id} is {broadcast.status}: cannot {action}",
        user_message=E["bad_status"].format(status=status, action=texts.BROADCAST_ACTIONS[action]),
    )


def _reason(value: str, problem: str) -> str:
    value = value.strip()
    if not value or len(value) > REASON_MAX:
        raise ValidationFailed(f"{problem}: reason", user_message=E[problem])
    return value


def confirm(
    session: Session,
    settings: Settings,
    broadcast_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    usage: dict[str, int] | None = None,
    threshold: int | None = None,
) -> Broadcast:
    """The author (or any composer) confirms a draft: it is planned now, the plan stored; then it waits for
    approval when the audience exceeds the threshold (``broadcasts.approval_threshold``, or ``threshold``: a
    campaign's 0 means always), else it is scheduled. ``usage``: today's sends per API family so far
    (``RateLimiter.used_today``), for the plan's ETA."""
    now = now or utcnow()
    broadcast = compose.get(session, broadcast_id, for_update=True)
    if broadcast.status != DRAFT:
        raise _refuse(broadcast, "confirm")
    if broadcast.scheduled_at is not None and broadcast.scheduled_at < now - plan.GRACE:
        raise Conflict("scheduled time passed", user_message=E["scheduled_past"])
    planned = plan.build(session, settings, broadcast, now=now, usage=usage)
    if planned.reachable == 0:
        raise Conflict("nobody reachable", user_message=E["empty_audience"])
    threshold = settings.broadcasts.approval_threshold if threshold is None else threshold
    broadcast.status = AWAITING_APPROVAL if planned.audience > threshold else SCHEDULED
    broadcast.audience = planned.audience
    broadcast.plan_json = json.dumps(planned.as_json(), ensure_ascii=False)
    broadcast.confirmed_by, broadcast.confirmed_at = actor[:64], now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="broadcast.confirmed",
        broadcast_id=broadcast.id,
        audience=planned.audience,
        reachable=planned.reachable,
        status=broadcast.status,
        threshold=threshold,
    )
    return broadcast


def approve(
    session: Session,
    broadcast_id: int,
    *,
    actor: str,
    roles: frozenset[str],
    now: datetime | None = None,
) -> Broadcast:
    """A second staff member holding ``broadcasts.approve`` approves: the broadcast is scheduled."""
    broadcast = _for_decision(session, broadcast_id, actor=actor, roles=roles, action="approve")
    broadcast.status = SCHEDULED
    broadcast.approved_by, broadcast.approved_at = actor[:64], now or utcnow()
    session.flush()
    audit.record(
        session, actor=actor, action="broadcast.approved", broadcast_id=broadcast.id, audience=broadcast.audience
    )
    return broadcast


def reject(session: Session, broadcast_id: int, *, actor: str, roles: frozenset[str], reason: str) -> Broadcast:
    """A second staff member holding ``broadcasts.approve`` sends it back to its author as a draft, with a reason."""
    reason = _reason(reason, "reject_reason")
    broadcast = _for_decision(session, broadcast_id, actor=actor, roles=roles, action="reject")
    broadcast.status = DRAFT
    broadcast.confirmed_by = broadcast.confirmed_at = None
    broadcast.plan_json = None
    session.flush()
    audit.record(session, actor=actor, action="broadcast.rejected", broadcast_id=broadcast.id, reason=reason)
    return broadcast


def _for_decision(session: Session, broadcast_id: int, *, actor: str, roles: frozenset[str], action: str) -> Broadcast:
    if not policy.allows(roles, "broadcasts.approve"):
        raise Forbidden("broadcasts.approve not held", user_message=E["approve_forbidden"])
    broadcast = compose.get(session, broadcast_id, for_update=True)
    if broadcast.status != AWAITING_APPROVAL:
        raise _refuse(broadcast, action)
    if actor[:64] in (broadcast.created_by, broadcast.confirmed_by):
        raise Forbidden(f"{actor} authored or confirmed broadcast {broadcast_id}", user_message=E["approve_own"])
    return broadcast


def pause(session: Session, broadcast_id: int, *, actor: str) -> Broadcast:
    broadcast = compose.get(session, broadcast_id, for_update=True)
    if broadcast.status not in PAUSABLE:
        raise _refuse(broadcast, "pause")
    before = broadcast.status
    broadcast.status = PAUSED
    session.flush()
    audit.record(session, actor=actor, action="broadcast.paused", broadcast_id=broadcast.id, was=before)
    return broadcast


def resume(session: Session, broadcast_id: int, *, actor: str) -> Broadcast:
    """Back to ``sending`` when its rows were written (the sender goes on; a quota pause that has not ended is the
    sender's to find again), else to ``scheduled``."""
    broadcast = compose.get(session, broadcast_id, for_update=True)
    if broadcast.status != PAUSED:
        raise _refuse(broadcast, "resume")
    broadcast.status = SENDING if broadcast.started_at is not None else SCHEDULED
    session.flush()
    audit.record(session, actor=actor, action="broadcast.resumed", broadcast_id=broadcast.id, now=broadcast.status)
    return broadcast


def cancel(session: Session, broadcast_id: int, *, actor: str, reason: str, now: datetime | None = None) -> int:
    """Stop it for good: rows not sent yet end ``skipped:cancelled`` (a row the sender holds right now ends as its
    send does). Returns how many rows were skipped."""
    reason = _reason(reason, "cancel_reason")
    broadcast = compose.get(session, broadcast_id, for_update=True)
    if broadcast.status not in CANCELLABLE:
        raise _refuse(broadcast, "cancel")
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.broadcast_id == broadcast.id, OutboundMessage.status == "pending")
        .values(status="skipped:cancelled")
        .execution_options(synchronize_session=False)
    )
    skipped = int(getattr(result, "rowcount", 0) or 0)
    before = broadcast.status
    broadcast.status = CANCELLED
    broadcast.cancelled_by = actor[:64]
    broadcast.finished_at = now or utcnow()
    broadcast.skipped_count = Broadcast.skipped_count + skipped  # in SQL: no lost update
    session.flush()
    audit.record(
        session, actor=actor, action="broadcast.cancelled", broadcast_id=broadcast.id, was=before, skipped=skipped,
        reason=reason,
    )  # fmt: skip
    return skipped


# --- lists, progress and the report -----------------------------------------------------------------------------


def listing(
    session: Session, *, status: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[Broadcast]:
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if status:
        query = query.where(Broadcast.status == status)
    if before_id:
        query = query.where(Broadcast.id < before_id)
    return list(session.scalars(query))


def approval_queue(session: Session) -> list[Broadcast]:
    return list(
        session.scalars(select(Broadcast).where(Broadcast.status == AWAITING_APPROVAL).order_by(Broadcast.confirmed_at))
    )


@dataclass(frozen=True)
class Progress:
    id: int
    status: str
    audience: int
    sent: int
    failed: int
    skipped: int
    started_at: datetime | None
    finished_at: datetime | None
    paused_until: datetime | None
    eta: str | None  # the plan's finish, ISO (UTC)

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> float:
        return round(100 * self.done / self.audience, 1) if self.audience else 0.0


def progress(session: Session, broadcast_id: int) -> Progress:
    """From the broadcast's counts alone (the sender keeps them): no outbox rows are read."""
    b = compose.get(session, broadcast_id)
    eta = json.loads(b.plan_json).get("eta", {}).get("finish") if b.plan_json else None
    return Progress(
        b.id, b.status, b.audience, b.sent_count, b.failed_count, b.skipped_count, b.started_at, b.finished_at,
        b.paused_until, eta,
    )  # fmt: skip


@dataclass
class Report:
    """Where every recipient row ended: sent per channel, failed by errcode, skipped by reason, still pending."""

    broadcast_id: int
    status: str
    audience: int
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0  # pending or being sent right now
    sent_by_channel: dict[str, int] = field(default_factory=dict)
    failed_by_errcode: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)  # the broadcast's own counts (events included)


def report(session: Session, broadcast_id: int) -> Report:
    """One GROUP BY over the broadcast's outbox rows (its index: broadcast_id, status) and its own counts."""
    b = compose.get(session, broadcast_id)
    out = Report(b.id, b.status, b.audience)
    out.counted = {"sent": b.sent_count, "failed": b.failed_count, "skipped": b.skipped_count}
    rows = session.execute(
        select(OutboundMessage.status, OutboundMessage.channel, func.count())
        .where(OutboundMessage.broadcast_id == b.id)
        .group_by(OutboundMessage.status, OutboundMessage.channel)
    )
    for status, channel, count in rows:
        kind, _, detail = str(status).partition(":")
        if kind == "sent":
            out.sent += count
            out.sent_by_channel[channel] = out.sent_by_channel.get(channel, 0) + count
        elif kind == "failed":
            out.failed += count
            out.failed_by_errcode[detail] = out.failed_by_errcode.get(detail, 0) + count
        elif kind == "skipped":
            out.skipped += count
            out.skipped_by_reason[detail] = out.skipped_by_reason.get(detail, 0) + count
        else:
            out.pending += count
    return out


def export_xlsx(session: Session, broadcast_id: int, out: IO[bytes] | str, *, actor: str) -> Report:
    """The report as a workbook (summary, then one row per channel / errcode / reason); audited."""
    found = report(session, broadcast_id)
    b = compose.get(session, broadcast_id)
    x = texts.BROADCAST_XLSX
    book = Workbook(write_only=True)
    sheet = book.create_sheet(x["sheet"])
    sheet.append([x["broadcast"], b.id, b.title])
    sheet.append([x["status"], texts.BROADCAST_STATUS_NAMES.get(b.status, b.status)])
    sheet.append([x["audience"], b.audience])
    for key in ("sent", "failed", "skipped", "pending"):
        sheet.append([x[key], getattr(found, key)])
    sheet.append([])
    sheet.append([x["kind"], x["detail"], x["count"]])
    for channel, count in sorted(found.sent_by_channel.items()):
        sheet.append([x["sent"], texts.BROADCAST_CHANNEL_NAMES.get(channel, channel), count])
    for errcode, count in sorted(found.failed_by_errcode.items()):
        sheet.append([x["failed"], f"{errcode} {compose.errcode_text(errcode)}", count])
    for reason, count in sorted(found.skipped_by_reason.items()):
        sheet.append([x["skipped"], texts.BROADCAST_SKIP_REASONS.get(reason, reason), count])
    book.save(out)
    audit.record(session, actor=actor, action="broadcast.report_exported", broadcast_id=b.id)
    return found


def plan_of(broadcast: Broadcast) -> dict[str, Any] | None:
    """The plan stored at confirmation."""
    return json.loads(broadcast.plan_json) if broadcast.plan_json else None


__all__ = [
    "ACTIVE",
    "FINISHED",
    "Progress",
    "Report",
    "approval_queue",
    "approve",
    "cancel",
    "confirm",
    "export_xlsx",
    "listing",
    "pause",
    "plan_of",
    "progress",
    "reject",
    "report",
    "resume",
]
