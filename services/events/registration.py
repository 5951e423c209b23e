"""Registering for an event and cancelling: one registration per person, capacity held exactly, and the waitlist.

Owns the registration rules (the bot, the mini-program API and the console call these; none has a rule of its own):

- **who**: a :class:`Registrant` names a person once (``person:<id>`` when their WeChat identity is bound to the
  databank, else ``oa:<openid>`` / ``mp:<openid>``), so registering from the bot and from the mini-program is one
  registration. The partial unique index on live registrations is the last word: a racing second insert meets it,
  is rolled back to its SAVEPOINT, and the existing row is returned.
- **when**: the event is published (a draft is not found; a cancelled one is refused), registration has opened
  (``registration_opens_at``, else its publication) and not closed (``registration_closes_at``, else its start).
- **whether**: the eligibility rule (``services.events.eligibility``) and the answers to the event's questions
  (``services.events.catalog.validate_answers``: precise field errors).
- **capacity**: exactly one conditional ``UPDATE events SET confirmed_count = confirmed_count + 1 WHERE ... AND
  confirmed_count < capacity`` decides a place: the event row's lock serialises concurrent registrations for the
  last place on PostgreSQL (the loser re-reads the count and finds none left), the single writer on SQLite. Past
  capacity the registrant is waitlisted when the event keeps a waitlist, else refused (:class:`EventFull`).

Cancelling frees the place and fills it from the waitlist head (lowest id) in the same transaction, queuing the
promoted person's notice in the outbox (``services.events.notices``). When staff cancel someone's registration
(the console, ``notify=True``), that person is told too, through the same path, unless the event has already started.
Every change of the counts and every waitlist promotion starts with an ``UPDATE`` of the event row, so they all take
its lock first and never interleave.

Commits nothing: the caller's unit of work (like ``services.classes.membership``). On SQLite the caller opens it
with ``session(write=True)``: the registration reads before it writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import i18n, texts
from core.db import rowcount
from core.errors import Conflict, NotFound, XiaoyouError
from core.settings import EventSettings
from models.base import utcnow
from models.event import (
    EVENT_CANCELLED,
    EVENT_PUBLISHED,
    REG_CANCELLED,
    REG_CONFIRMED,
    REG_LIVE,
    REG_WAITLISTED,
    Event,
    EventRegistration,
)
from services.cards.lifecycle import person_id_for, person_id_for_follower
from services.events import catalog, notices
from services.events.eligibility import eligible

CHANNELS = ("bot", "miniprogram", "console")


class EventUnavailable(Conflict):
    """The event was cancelled (or is otherwise not taking registrations)."""

    code = "event_unavailable"
    user_message = i18n.Text(lambda: texts.EVENT_ERRORS["cancelled"])


class RegistrationNotOpen(Conflict):
    code = "registration_not_open"
    user_message = i18n.Text(lambda: texts.EVENT_ERRORS["not_open"])


class RegistrationClosed(Conflict):
    code = "registration_closed"
    user_message = i18n.Text(lambda: texts.EVENT_ERRORS["closed"])


class EventFull(Conflict):
    """No place left and the event keeps no waitlist."""

    code = "event_full"
    user_message = i18n.Text(lambda: texts.EVENT_ERRORS["full"])


class NotEligible(XiaoyouError):
    """The registrant does not meet the event's eligibility (card holders, a segment)."""

    code = "not_eligible"
    status = 403
    user_message = i18n.Text(lambda: texts.EVENT_ERRORS["not_eligible"])


@dataclass(frozen=True)
class Registrant:
    """Who registers: their databank person when known, and where to reach them (official account, mini-program)."""

    person_id: int | None
    oa_openid: str | None = None
    mp_openid: str | None = None
    display_name: str | None = None

    @property
    def key(self) -> str:
        if self.person_id is not None:
            return f"person:{self.person_id}"
        if self.oa_openid:
            return f"oa:{self.oa_openid}"
        if self.mp_openid:
            return f"mp:{self.mp_openid}"
        raise ValueError("a registrant needs a person or an openid")


def registrant_for_openid(session: Session, oa_openid: str) -> Registrant:
    """An official-account follower as a registrant: their person when the openid (or its unionid) is bound."""
    return Registrant(person_id_for_follower(session, oa_openid), oa_openid=oa_openid)


def registrant_for_mp(session: Session, mp_openid: str, *, unionid: str | None = None) -> Registrant:
    """A mini-program user as a registrant: their person when the openid (or the unionid) is bound."""
    return Registrant(person_id_for(session, mp_openid=mp_openid, unionid=unionid), mp_openid=mp_openid)


def get_event(session: Session, event_id: int, *, for_update: bool = False) -> Event:
    """A published or cancelled event (a draft is nobody's to see but staff's): ``NotFound`` otherwise."""
    event = session.get(Event, event_id, with_for_update=for_update or None)
    if event is None or event.status not in (EVENT_PUBLISHED, EVENT_CANCELLED):
        raise NotFound(f"no event {event_id}", user_message=texts.EVENT_ERRORS["not_found"])
    return event


def _mine(registrant: Registrant) -> list[ColumnElement[bool]]:
    """The conditions that find a registrant's rows: by key, and by either openid (a row made before binding)."""
    same = [EventRegistration.registrant == registrant.key]
    if registrant.oa_openid:
        same.append(EventRegistration.oa_openid == registrant.oa_openid)
    if registrant.mp_openid:
        same.append(EventRegistration.mp_openid == registrant.mp_openid)
    if registrant.person_id is not None:
        same.append(EventRegistration.person_id == registrant.person_id)
    return same


def live_registration(session: Session, event_id: int, registrant: Registrant) -> EventRegistration | None:
    return session.scalar(
        select(EventRegistration)
        .where(
            EventRegistration.event_id == event_id,
            EventRegistration.status.in_(REG_LIVE),
            or_(*_mine(registrant)),
        )
        .order_by(EventRegistration.id)
        .limit(1)
    )


def check_window(event: Event, now: datetime) -> None:
    """Raise unless the event takes registrations at ``now``."""
    if event.status == EVENT_CANCELLED:
        raise EventUnavailable(f"event {event.id} is cancelled")
    if event.status != EVENT_PUBLISHED:
        raise NotFound(f"event {event.id} is not published", user_message=texts.EVENT_ERRORS["not_found"])
    opens = event.registration_opens_at or event.published_at
    if opens is not None and now < opens:
        raise RegistrationNotOpen(
            f"event {event.id} opens at {opens.isoformat()}",
            user_message=texts.EVENT_ERRORS["not_open_at"].format(at=catalog.show_time(opens)),
        )
    closes = event.registration_closes_at or event.starts_at
    if now >= closes:
        raise RegistrationClosed(f"event {event.id} closed at {closes.isoformat()}")


def register(
    session: Session,
    event_id: int,
    registrant: Registrant,
    *,
    answers: Mapping[str, str] | None = None,
    channel: str,
    now: datetime | None = None,
) -> EventRegistration:
    """Register (confirmed, or waitlisted past capacity); the existing live registration if already registered.
    Raises ``NotFound`` (no such event, a draft), :class:`EventUnavailable` (cancelled), :class:`RegistrationNotOpen`,
    :class:`RegistrationClosed`, :class:`NotEligible`, ``ValidationFailed`` (answers) or :class:`EventFull`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    now = now or utcnow()
    key = registrant.key
    event = get_event(session, event_id)
    existing = live_registration(session, event_id, registrant)
    if existing is not None:
        return existing
    check_window(event, now)
    if not eligible(session, event, registrant.person_id, now=now):
        raise NotEligible(f"registrant not eligible for event {event_id} ({event.eligibility})")
    cleaned = catalog.validate_answers(catalog.questions_of(event), answers or {})
    row = EventRegistration(
        event_id=event_id,
        registrant=key,
        person_id=registrant.person_id,
        oa_openid=registrant.oa_openid,
        mp_openid=registrant.mp_openid,
        display_name=(registrant.display_name or "")[:64] or None,
        channel=channel,
        answers_json=json.dumps(cleaned, ensure_ascii=False),
        created_at=now,
    )
    try:
        with session.begin_nested():
            if _take_place(session, event_id):
                row.status, row.confirmed_at = REG_CONFIRMED, now
            elif event.waitlist:
                _move(session, event_id, waitlisted=1)
                row.status = REG_WAITLISTED
            else:
                raise EventFull(f"event {event_id} is full")
            session.add(row)
            session.flush()
    except IntegrityError:  # registered at the same instant through another channel: that registration stands
        again = live_registration(session, event_id, registrant)
        if again is None:
            raise
        return again
    return row


def _take_place(session: Session, event_id: int) -> bool:
    """The capacity guard: one conditional UPDATE; True when a place was taken."""
    result = session.execute(
        update(Event)
        .where(
            Event.id == event_id,
            Event.status == EVENT_PUBLISHED,
            or_(Event.capacity.is_(None), Event.confirmed_count < Event.capacity),
        )
        .values(confirmed_count=Event.confirmed_count + 1)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def _move(session: Session, event_id: int, *, confirmed: int = 0, waitlisted: int = 0) -> None:
    session.execute(
        update(Event)
        .where(Event.id == event_id)
        .values(
            confirmed_count=Event.confirmed_count + confirmed,
            waitlisted_count=Event.waitlisted_count + waitlisted,
        )
        .execution_options(synchronize_session=False)
    )


def cancel(
    session: Session,
    event_id: int,
    registrant: Registrant,
    *,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> EventRegistration | None:
    """Cancel the registrant's live registration (None when there is none). A freed place goes to the waitlist
    head, whose notice is queued in the outbox (``settings``: the notice templates; None: the defaults)."""
    now = now or utcnow()
    row = live_registration(session, event_id, registrant)
    if row is None:
        return None
    return cancel_registration(session, row, now=now, settings=settings)


def cancel_registration(
    session: Session,
    row: EventRegistration,
    *,
    now: datetime | None = None,
    settings: EventSettings | None = None,
    notify: bool = False,
) -> EventRegistration:
    """Cancel one registration (the registrant's own, or staff's from the console); promote from the waitlist.
    ``notify`` (staff cancelled it): the registrant is told, once, in their language, if the event has not started
    and they can be reached (``notices.queue``, kind ``REGISTRATION_CANCELLED``); the promoted one is told either
    way."""
    now = now or utcnow()
    was = row.status
    # The event row first (its lock orders this against registrations and other cancellations), then the row.
    if was == REG_CONFIRMED:
        _move(session, row.event_id, confirmed=-1)
    elif was == REG_WAITLISTED:
        _move(session, row.event_id, waitlisted=-1)
    else:
        return row
    done = session.execute(
        update(EventRegistration)
        .where(EventRegistration.id == row.id, EventRegistration.status == was)
        .values(status=REG_CANCELLED, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1:  # cancelled meanwhile by someone else: undo our count
        _move(session, row.event_id, confirmed=1 if was == REG_CONFIRMED else 0, waitlisted=int(was == REG_WAITLISTED))
        session.refresh(row)
        return row
    session.refresh(row)
    if notify:
        event = session.get(Event, row.event_id)
        if event is not None and event.status == EVENT_PUBLISHED and event.starts_at > now:
            notices.queue(session, event, row, notices.REGISTRATION_CANCELLED, settings=settings, now=now)
    if was == REG_CONFIRMED:
        fill_from_waitlist(session, row.event_id, now=now, settings=settings)
    return row


def fill_from_waitlist(
    session: Session, event_id: int, *, now: datetime | None = None, settings: EventSettings | None = None
) -> list[EventRegistration]:
    """Give free places to the waitlist, head first, and queue each promoted registrant's notice. Used after a
    cancellation and after staff raise the capacity. Returns the promoted registrations."""
    now = now or utcnow()
    promoted: list[EventRegistration] = []
    while True:
        event = session.get(Event, event_id, populate_existing=True)
        if event is None or event.status != EVENT_PUBLISHED or event.starts_at <= now:
            return promoted
        head = session.scalar(
            select(EventRegistration)
            .where(EventRegistration.event_id == event_id, EventRegistration.status == REG_WAITLISTED)
            .order_by(EventRegistration.id)
            .limit(1)
        )
        if head is None or not _take_place(session, event_id):
            return promoted
        _move(session, event_id, waitlisted=-1)
        session.execute(
            update(EventRegistration)
            .where(EventRegistration.id == head.id)
            .values(status=REG_CONFIRMED, confirmed_at=now, promoted_at=now)
            .execution_options(synchronize_session=False)
        )
        session.refresh(head)
        notices.queue_promotion(session, event, head, settings=settings, now=now)
        promoted.append(head)


def my_registrations(
    session: Session, registrant: Registrant, *, limit: int = 50
) -> list[tuple[EventRegistration, Event]]:
    """The registrant's live registrations with their events, the soonest first (past ones last)."""
    rows = session.execute(
        select(EventRegistration, Event)
        .join(Event, Event.id == EventRegistration.event_id)
        .where(EventRegistration.status.in_(REG_LIVE), or_(*_mine(registrant)))
        .order_by(Event.starts_at.desc())
        .limit(limit)
    )
    return [(r, e) for r, e in rows]


def waitlist_position(session: Session, row: EventRegistration) -> int | None:
    """1 for the waitlist head; None when the registration is not waitlisted."""
    if row.status != REG_WAITLISTED:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(EventRegistration)
        .where(
            EventRegistration.event_id == row.event_id,
            EventRegistration.status == REG_WAITLISTED,
            EventRegistration.id < row.id,
        )
    )
    return int(ahead or 0) + 1


__all__ = [
    "CHANNELS",
    "EventFull",
    "EventUnavailable",
    "NotEligible",
    "Registrant",
    "RegistrationClosed",
    "RegistrationNotOpen",
    "cancel",
    "cancel_registration",
    "fill_from_waitlist",
    "get_event",
    "live_registration",
    "my_registrations",
    "register",
    "registrant_for_mp",
    "registrant_for_openid",
    "waitlist_position",
]
