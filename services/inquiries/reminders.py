"""SLA reminders of the help desk: the ``inquiries.remind`` job's pass (:func:`remind`).

An open inquiry without a first answer owes one by its ``due_at``. Each pass finds those due within
``inquiries.remind_before_hours`` or past it (the ``ix_inquiries_unanswered_due`` partial index) and moves
each one's ``reminder_stage`` up once per stage: 0 → 1 ("nearing") → 2 ("past"); an inquiry first seen past its due
time goes straight to 2, with one reminder. The move is a conditional UPDATE, so two passes never remind twice.

Who is told, and how:

- **An assigned inquiry**: its assignee. Every stage writes a ``remind`` event to the inquiry's record, naming the
  assignee; the console shows the assignee's own near and overdue counts as a banner on the inbox (computed live from
  the open rows, so it is right even when no message could be sent). An assignee whose WeChat is linked
  (``StaffAccount.openid``) also gets a template message (``inquiries.staff_template_id``; none when it is "") through
  the outbox (``channel=template``, keyed by inquiry, stage and account, so a retried pass queues it once).
- **An unassigned inquiry past its due time**: nobody owns it, so every enabled ``officer`` (the office's staff who
  triage the inbox; not ``admin``, which is the system's administrators) with a linked WeChat gets one digest per
  pass ("N unassigned inquiries are overdue", the oldest first), rather than one message per inquiry each. The
  inbox's "overdue" tab lists them. Nearing its due time, an unassigned inquiry is only in the inbox (no one to
  remind yet); its stage stays 0 until it is overdue or assigned (assigning restarts the stages).

Answered inquiries are not reminded (the SLA is to a first answer), nor closed ones. Sending is the outbox's job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.clock import beijing_minutes
from core.settings import Settings
from models import Inquiry, InquiryEvent, StaffAccount, StaffRole, utcnow
from models.inquiry import INQUIRY_OPEN, REMIND
from services import outbox
from services.inquiries.desk import claim_stage

log = logging.getLogger(__name__)

NEAR, PAST = 1, 2
KEY_PREFIX = "inquiry-remind:"
BATCH = 500  # inquiries looked at per pass; the rest wait for the next pass (every few minutes)
DIGEST_ROLE = "officer"


@dataclass(frozen=True)
class RemindReport:
    near: int  # assigned inquiries whose assignee was told the SLA is near
    past: int  # assigned inquiries whose assignee was told it has passed
    unassigned: int  # unassigned inquiries newly past due (in the officers' digest)
    templates: int  # template messages queued


def _excerpt(text: str, chars: int = 20) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


def _template(settings: Settings, key: str, data: dict[str, str]) -> dict[str, object]:
    return {
        "template_id": settings.inquiries.staff_template_id,
        "client_msg_id": key,
        "data": {name: {"value": value} for name, value in data.items()},
    }


def _officers_with_wechat(session: Session) -> list[StaffAccount]:
    return list(
        session.scalars(
            select(StaffAccount)
            .join(StaffRole, StaffRole.account_id == StaffAccount.id)
            .where(StaffRole.role == DIGEST_ROLE, StaffAccount.disabled_at.is_(None), StaffAccount.openid.is_not(None))
            .order_by(StaffAccount.id)
        )
    )


def _remind_assignee(session: Session, settings: Settings, inquiry_id: int, target: int, now: datetime) -> int:
    """Record the reminder of an assigned inquiry and queue its template message; returns the messages queued."""
    inquiry = session.get(Inquiry, inquiry_id)
    assignee = session.get(StaffAccount, inquiry.assignee_id) if inquiry and inquiry.assignee_id else None
    if inquiry is None or assignee is None:
        return 0
    body = texts.INQUIRY_REMIND_EVENT[target]
    session.add(
        InquiryEvent(
            inquiry_id=inquiry_id, kind=REMIND, actor="system", body=body, staff_account_id=assignee.id, at=now
        )
    )
    if not (settings.inquiries.staff_template_id and assignee.openid and assignee.disabled_at is None):
        return 0
    key = f"{KEY_PREFIX}{inquiry_id}:{target}:{assignee.id}"
    data = {
        "first": texts.INQUIRY_REMIND_TITLE[target],
        "keyword1": texts.INQUIRY_REMIND_WHAT.format(number=inquiry_id, question=_excerpt(inquiry.question)),
        "keyword2": texts.INQUIRY_CATEGORY_NAMES.get(inquiry.category, inquiry.category),
        "keyword3": beijing_minutes(inquiry.due_at or now),
        "remark": texts.INQUIRY_REMIND_REMARK,
    }
    return len(outbox.enqueue(session, key, assignee.openid, [_template(settings, key, data)], channel=outbox.TEMPLATE))


def _remind_officers(session: Session, settings: Settings, inquiry_ids: list[int], now: datetime) -> int:
    """Record the reminder of each unassigned overdue inquiry and queue one digest per officer with a linked WeChat;
    returns the messages queued."""
    for inquiry_id in inquiry_ids:
        body = texts.INQUIRY_REMIND_UNASSIGNED
        session.add(InquiryEvent(inquiry_id=inquiry_id, kind=REMIND, actor="system", body=body, at=now))
    if not settings.inquiries.staff_template_id:
        return 0
    oldest = min(inquiry_ids)
    digest = f"{oldest}-{max(inquiry_ids)}-{len(inquiry_ids)}"
    queued = 0
    for officer in _officers_with_wechat(session):
        key = f"{KEY_PREFIX}unassigned:{digest}:{officer.id}"
        data = {
            "first": texts.INQUIRY_REMIND_DIGEST.format(count=len(inquiry_ids)),
            "keyword1": texts.INQUIRY_REMIND_DIGEST_OLDEST.format(number=oldest),
            "keyword2": texts.INQUIRY_REMIND_DIGEST_WHO,
            "keyword3": beijing_minutes(now),
            "remark": texts.INQUIRY_REMIND_REMARK,
        }
        payload = [_template(settings, key, data)]
        queued += len(outbox.enqueue(session, key, officer.openid or "", payload, channel=outbox.TEMPLATE))
    return queued


def remind(session: Session, settings: Settings, *, now: datetime | None = None) -> RemindReport:
    """One pass: move each due inquiry's reminder stage and queue what it owes (in the caller's transaction)."""
    now = now or utcnow()
    horizon = now + timedelta(hours=settings.inquiries.remind_before_hours)
    due = session.execute(
        select(Inquiry.id, Inquiry.due_at, Inquiry.reminder_stage, Inquiry.assignee_id)
        .where(
            Inquiry.status == INQUIRY_OPEN,
            Inquiry.due_at <= horizon,
            Inquiry.answered_at.is_(None),
            Inquiry.reminder_stage < PAST,
        )
        .order_by(Inquiry.due_at, Inquiry.id)
        .limit(BATCH)
    ).all()
    told = {NEAR: 0, PAST: 0}
    templates = 0
    overdue_unassigned: list[int] = []
    for inquiry_id, due_at, stage, assignee_id in due:
        target = PAST if due_at is not None and due_at <= now else NEAR
        if target <= stage or (assignee_id is None and target != PAST):
            continue  # nothing new; or unassigned and only near: the inbox shows it, there is nobody to remind
        if not claim_stage(session, inquiry_id, target):
            continue  # another pass got there first
        if assignee_id is None:
            overdue_unassigned.append(inquiry_id)
            continue
        told[target] += 1
        templates += _remind_assignee(session, settings, inquiry_id, target, now)
    if overdue_unassigned:
        templates += _remind_officers(session, settings, overdue_unassigned, now)
    session.flush()
    report = RemindReport(told[NEAR], told[PAST], len(overdue_unassigned), templates)
    if report.near or report.past or report.unassigned:
        log.info("inquiry reminders: %s", report)
    return report
