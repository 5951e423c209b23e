"""Notices to an event's registrants: promoted from the waitlist, the day-before reminder, the event cancelled, and
their registration cancelled by staff (the console).

Owns what each notice says and how it goes; it sends nothing itself. Every notice is a row of the existing outbox
(``services.outbox``), written in the caller's transaction with a stable idempotency key
(``event-notice:<kind>:<registration id>``), so a notice is queued once and the outbox job delivers it (never a
second sender). The channel, as ``services.inquiries.delivery`` chooses it: a registration made in the
mini-program, while an event-notice subscribe template is configured (``events.notice_subscribe_template_id``) and
the user has an allowance left for it (``subscribe_allowances``, spent here with one atomic UPDATE), gets a
**subscribe message**; anyone else reachable on the official account (the registration's openid, or the person's
bound one) gets a **customer-service** text (WeChat refuses it outside the 48-hour window: the row then ends
``failed:45015``, as an inquiry answer's does). A mini-program registrant with neither sees it in the app.
The text is written in the recipient's language (``services.followers.language_of``); the subscribe template's
fields stay in Chinese, the language its template is registered in on the WeChat platform.

The reminders (:func:`remind_due`, the ``events.remind`` job) are idempotent: a registration is reminded once
(``reminded_at`` set by a conditional UPDATE before its row is queued, in one transaction), and the event records
when its reminders went (``reminders_sent_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import i18n, texts
from core.clock import beijing_minutes
from core.db import rowcount
from core.settings import EventSettings
from models import WeChatIdentity
from models.base import utcnow
from models.event import EVENT_PUBLISHED, REG_CONFIRMED, REG_LIVE, Event, EventRegistration
from models.person import OA_OPENID
from services import followers, outbox
from services.broadcasts import segments

KEY_PREFIX = "event-notice:"
PROMOTED, REMINDER, CANCELLED = "promoted", "reminder", "cancelled"
REGISTRATION_CANCELLED = "registration_cancelled"  # staff cancelled this one registration: queue(..., this kind)
MP_PAGE = "pages/events/detail"
REMIND_BATCH = 500


def _oa_openid(session: Session, registration: EventRegistration) -> str | None:
    if registration.oa_openid:
        return registration.oa_openid
    if registration.person_id is None:
        return None
    return session.scalar(
        select(WeChatIdentity.value)
        .where(WeChatIdentity.person_id == registration.person_id, WeChatIdentity.kind == OA_OPENID)
        .order_by(WeChatIdentity.id.desc())
        .limit(1)
    )


def _excerpt(text: str, chars: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


def _subscribe_payload(template_id: str, event: Event, kind: str) -> dict[str, Any]:
    return {
        "template_id": template_id,
        "page": f"{MP_PAGE}?id={event.id}",
        "data": {
            "thing1": {"value": _excerpt(event.title, 20)},
            "time2": {"value": beijing_minutes(event.starts_at)},
            "thing3": {"value": _excerpt(event.venue or "-", 20)},
            "thing4": {"value": texts.EVENT_NOTICE_HINTS[kind][:20]},
        },
    }


def _text(event: Event, kind: str) -> str:
    return texts.EVENT_NOTICES[kind].format(
        title=event.title, time=beijing_minutes(event.starts_at), venue=event.venue or "-"
    )


def queue(
    session: Session,
    event: Event,
    registration: EventRegistration,
    kind: str,
    *,
    settings: EventSettings | None = None,
    now: datetime | None = None,
) -> str | None:
    """Queue one notice; returns the channel used (``subscribe`` / ``custom``), None when nobody can be reached."""
    settings = settings or EventSettings()
    key = f"{KEY_PREFIX}{kind}:{registration.id}"
    template_id = settings.notice_subscribe_template_id
    if (
        registration.channel == "miniprogram"
        and registration.mp_openid
        and template_id
        and segments.spend_allowance(session, registration.mp_openid, template_id, now=now)
    ):
        payload = _subscribe_payload(template_id, event, kind)
        outbox.enqueue(session, key, registration.mp_openid, [payload], channel=outbox.SUBSCRIBE)
        return outbox.SUBSCRIBE
    openid = _oa_openid(session, registration)
    if openid:
        with i18n.use(followers.language_of(session, openid)):
            content = _text(event, kind)
        outbox.enqueue(session, key, openid, [{"msgtype": "text", "content": content}])
        return outbox.CUSTOM
    return None


def queue_promotion(
    session: Session,
    event: Event,
    registration: EventRegistration,
    *,
    settings: EventSettings | None = None,
    now: datetime | None = None,
) -> str | None:
    return queue(session, event, registration, PROMOTED, settings=settings, now=now)


def queue_cancelled(
    session: Session, event: Event, *, settings: EventSettings | None = None, now: datetime | None = None
) -> int:
    """Tell everyone registered (confirmed or waitlisted) that the event is cancelled. Returns the notices queued."""
    rows = session.scalars(
        select(EventRegistration)
        .where(EventRegistration.event_id == event.id, EventRegistration.status.in_(REG_LIVE))
        .order_by(EventRegistration.id)
    )
    return sum(1 for row in rows if queue(session, event, row, CANCELLED, settings=settings, now=now))


@dataclass(frozen=True)
class RemindReport:
    events: int  # events whose reminders were (or finished being) queued in this pass
    reminded: int  # registrations marked reminded
    queued: int  # of them, with a notice queued (the others have no channel)


def remind_due(session: Session, settings: EventSettings, *, now: datetime | None = None) -> RemindReport:
    """One pass of the ``events.remind`` job: every confirmed registration of a published event starting within
    ``remind_before_hours`` that has not been reminded gets its reminder, once; the event records when. Commits
    nothing (the job's unit of work)."""
    now = now or utcnow()
    horizon = now + timedelta(hours=settings.remind_before_hours)
    due = list(
        session.execute(
            select(EventRegistration, Event)
            .join(Event, Event.id == EventRegistration.event_id)
            .where(
                Event.status == EVENT_PUBLISHED,
                Event.starts_at > now,
                Event.starts_at <= horizon,
                EventRegistration.status == REG_CONFIRMED,
                EventRegistration.reminded_at.is_(None),
            )
            .order_by(EventRegistration.id)
            .limit(REMIND_BATCH)
        )
    )
    reminded = queued = 0
    events: dict[int, Event] = {}
    for registration, event in due:
        marked = session.execute(
            update(EventRegistration)
            .where(EventRegistration.id == registration.id, EventRegistration.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(marked) != 1:
            continue  # another pass reminded it
        reminded += 1
        events[event.id] = event
        if queue(session, event, registration, REMINDER, settings=settings, now=now):
            queued += 1
    for event_id in events:
        session.execute(
            update(Event)
            .where(Event.id == event_id, Event.reminders_sent_at.is_(None))
            .values(reminders_sent_at=now)
            .execution_options(synchronize_session=False)
        )
    return RemindReport(len(events), reminded, queued)
