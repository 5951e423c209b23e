"""A cohort's invite QR, and the liaison's reminder before a group QR expires.

**Invites.** A liaison hands classmates a parametric QR code of the official account whose scene is
``class:<cohort id>``: scanning it (already following, or following now) starts the join for that cohort directly.
It is a permanent QR (WeChat allows 100,000 per account; a university has tens of thousands of cohorts at most), made
once per cohort on first request and kept as the link it encodes; the console draws the image from the link.

**Reminders.** A WeChat group's join QR lasts 7 days. ``classes.reminder_days_before`` days before it expires, the
cohort's liaisons who have a WeChat identity are sent a customer-service message through the outbox (once per
registration: ``reminded_at``). WeChat delivers it only inside the liaison's 48-hour window; a refused message ends
``failed`` in the outbox, and the console's list of expiring groups is the fallback.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import i18n, texts
from core.errors import NotFound
from models.base import utcnow
from models.classes import ClassCohort, ClassGroup
from services import outbox
from services.classes import liaisons
from services.ports import QRCodeMaker

SCENE_PREFIX = "class:"


def scene(cohort_id: int) -> str:
    return f"{SCENE_PREFIX}{cohort_id}"


def cohort_in_scene(value: str | None) -> int | None:
    """The cohort id in a QR scene (``class:12``), or None for any other scene."""
    if not value or not value.startswith(SCENE_PREFIX):
        return None
    number = value[len(SCENE_PREFIX) :]
    return int(number) if number.isdigit() and len(number) < 12 else None


def invite_url(session: Session, maker: QRCodeMaker, cohort_id: int) -> str:
    """The link of the cohort's invite QR, made on first request. Raises ``NotFound``, ``WeChatAPIError``."""
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    if cohort.invite_url is None:
        cohort.invite_url = maker.create_qrcode(scene(cohort_id), permanent=True).url
        session.flush()
    return cohort.invite_url


def remind_expiring(session: Session, *, days_before: int, now: datetime | None = None) -> int:
    """Queue a reminder to the liaisons of each group whose WeChat QR expires within ``days_before`` days and was
    not reminded yet; returns how many groups were reminded. The outbox job sends them."""
    now = now or utcnow()
    due = session.scalars(
        select(ClassGroup).where(
            ClassGroup.replaced_at.is_(None),
            ClassGroup.reminded_at.is_(None),
            ClassGroup.qr_expires_at > now,
            ClassGroup.qr_expires_at <= now + timedelta(days=days_before),
        )
    ).all()
    for group in due:
        cohort = session.get(ClassCohort, group.cohort_id)
        expires = group.qr_expires_at or now
        days = max(1, round((expires - now) / timedelta(days=1)))
        for liaison in liaisons.current(session, group.cohort_id, today=now.date()):
            if not liaison.openid:
                continue
            with i18n.use(liaison.language):  # the liaison's, whatever the job's or request's language
                content = texts.CLASS_QR_REMINDER[liaison.language].format(
                    group=group.name, cohort=cohort.label if cohort else "", days=days
                )
            key = f"class-qr-reminder:{group.id}:{liaison.id}"
            outbox.enqueue(session, key, liaison.openid, [{"msgtype": "text", "content": content}])
        group.reminded_at = now
    session.flush()
    return len(due)
