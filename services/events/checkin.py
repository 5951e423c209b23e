"""Attendance at an event: who is checked in, when and how, recorded once per registration.

Three ways in, one rule. A confirmed, live registration is checked in by one conditional ``UPDATE ... WHERE
checked_in_at IS NULL``, so two desks scanning the same person at once record one check-in and the second is told
"already checked in at HH:MM"; a waitlisted registration is not confirmed; nobody else is checked in at all.

- **By card** (:func:`scan_at_door`, :func:`check_in_by_card`): a desk scans the alumni card's rotating QR with a
  scanner credential scoped to the event (``card_scanners.event_id``). The card verification service
  (``services.cards.scanners.verify``) alone judges the code (signature, version, expiry, the once-only claim); an
  answer other than valid refuses with its own reason. A valid card checks in the holder's live registration at the
  scanner's event; a card of someone not registered answers ``not_registered`` and the desk decides. The busy
  door's usual case (a confirmed registration made by the person, not yet checked in, the event open) is one
  ``UPDATE ... RETURNING``; anything else takes the full path, which finds out what is the case and says so.
- **By scene** (:func:`check_in_by_scene`): the attendee scans the event's check-in QR at the door, an official
  account QR with scene ``checkin:<event id>:<checkin_token>`` (the token is the event's secret; rotating it stops
  an old photo of the code working). The follower's registration (by their openid or the person it is bound to)
  is checked in.
- **At the desk** (:func:`check_in_at_desk`): a staff member checks a registration in by hand (audited).

Card and scene check-ins are taken only within the event's check-in window (``events.checkin_opens_before_hours``
before it starts until ``events.checkin_closes_after_hours`` after it ends; each edge passes its ``EventSettings``,
None meaning the defaults), and only for a published event. The desk's manual check-in
needs only a published event: staff correct the record after the door has closed. No Flask and no WeChat types
here; the scene QR is made through the ``QRCodeMaker`` port.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from core import redis_keys, texts
from core.clock import BEIJING
from core.db import rowcount
from core.errors import NotFound, ValidationFailed
from core.settings import CardSettings, EventSettings
from models import Person, ScannerCredential, WeChatIdentity, utcnow
from models.event import (
    CHECKIN_CARD,
    CHECKIN_DESK,
    CHECKIN_SCENE,
    EVENT_PUBLISHED,
    REG_CONFIRMED,
    REG_LIVE,
    REG_WAITLISTED,
    Event,
    EventRegistration,
)
from models.person import MP_OPENID, OA_OPENID
from services.cards.lifecycle import person_id_for_follower
from services.cards.scanners import VALID, Verification, create_scanner, revoke_scanner, verify
from services.databank import audit
from services.ports import QRCodeMaker

# Outcomes.
CHECKED_IN, ALREADY, NOT_REGISTERED, NOT_CONFIRMED = "checked_in", "already", "not_registered", "not_confirmed"
CARD_INVALID, WRONG_EVENT, EVENT_CLOSED, NOT_OPEN = "card_invalid", "wrong_event", "event_closed", "not_open"
OUTCOMES = (CHECKED_IN, ALREADY, NOT_REGISTERED, NOT_CONFIRMED, CARD_INVALID, WRONG_EVENT, EVENT_CLOSED, NOT_OPEN)

SCENE_PREFIX = "checkin:"
QR_MAX_SECONDS = 30 * 24 * 3600  # WeChat's longest temporary QR code
QR_MARGIN_SECONDS = 60  # a kept QR link is dropped this long before the code itself expires
LATEST = 20  # check-ins the desk's live list shows


@dataclass(frozen=True)
class CheckIn:
    """What a check-in attempt came to. ``checked_in_at``: now for ``checked_in``, the earlier time for
    ``already``. ``card_result``: the card verification's answer, for a check-in by card."""

    outcome: str
    event_id: int | None = None
    registration_id: int | None = None
    checked_in_at: datetime | None = None
    card_result: str | None = None

    @property
    def message(self) -> str:
        """The answer for the desk or the attendee (core/texts/zh.py)."""
        if self.outcome == CARD_INVALID:
            return texts.CHECKIN_CARD_REFUSED.format(reason=texts.CHECKIN_CARD_REASONS.get(self.card_result or "", ""))
        return texts.CHECKIN_OUTCOMES[self.outcome].format(at=self._at())

    def for_attendee(self, title: str, *, settings: EventSettings | None = None) -> str:
        """The answer for the attendee who scanned the event's check-in QR (``title``: the event's; ``settings``:
        the check-in window it names, None for the defaults)."""
        hours = (settings or EventSettings()).checkin_opens_before_hours
        template = texts.CHECKIN_BOT.get(self.outcome, texts.CHECKIN_BOT[WRONG_EVENT])
        return template.format(at=self._at(), title=title, hours=hours)

    def _at(self) -> str:
        return self.checked_in_at.astimezone(BEIJING).strftime("%H:%M") if self.checked_in_at else ""


@dataclass(frozen=True)
class DoorScan:
    """A desk's scan: the card's verification, and the check-in when the scanner is scoped to an event."""

    verification: Verification
    checkin: CheckIn | None


# --- by card ----------------------------------------------------------------------------------------------------


def scan_at_door(
    units: Callable[..., AbstractContextManager[Session]],
    client: redis.Redis,
    settings: CardSettings,
    *,
    credential: str,
    token: str,
    events: EventSettings | None = None,
    now: datetime | None = None,
) -> DoorScan:
    """``POST /card/verify``: the card verification (a read-only unit of work, exactly as for any desk), then, for a
    scanner scoped to an event, the check-in in a unit of work of its own that writes (SQLite takes writers in
    turn). ``units`` is the database's session factory; ``events`` the check-in window (None: the defaults). Raises
    what ``verify`` raises."""
    now = now or utcnow()
    with units() as session:
        verification = verify(session, client, settings, credential=credential, token=token, now=now)
    if verification.event_id is None:
        return DoorScan(verification, None)
    if verification.result != VALID:
        return DoorScan(verification, check_in_by_card(None, verification, now=now, settings=events))
    with units(write=True) as session:
        return DoorScan(verification, check_in_by_card(session, verification, now=now, settings=events))


def check_in_by_card(
    session: Session | None,
    scanned: Verification,
    *,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> CheckIn:
    """Check in the holder of a card an event-scoped scanner verified (``scanned``). A refused card answers
    ``card_invalid`` with the verification's reason and touches nothing (``session`` may then be None).
    ``settings``: the check-in window (None: the defaults)."""
    if scanned.event_id is None:
        raise ValueError("not a scan by an event-scoped scanner")
    if scanned.result != VALID or scanned.person_id is None:
        return CheckIn(CARD_INVALID, scanned.event_id, card_result=scanned.result)
    assert session is not None
    now = now or utcnow()
    window = _Window.of(settings)
    done = _fast_card(session, scanned.event_id, scanned.person_id, scanned.scanner_id, now, window=window)
    if done is not None:
        return CheckIn(CHECKED_IN, scanned.event_id, done, now, scanned.result)
    event = session.get(Event, scanned.event_id)
    refused = _refusal(event, now, window=window)
    if refused is not None or event is None:
        return CheckIn(refused or EVENT_CLOSED, scanned.event_id, card_result=scanned.result)
    registration = _first(session, _live(event.id).where(_of_person(session, scanned.person_id)))
    if registration is None:
        return CheckIn(NOT_REGISTERED, event.id, card_result=scanned.result)
    result = _record(session, registration, CHECKIN_CARD, now, scanner_id=scanned.scanner_id)
    return CheckIn(result.outcome, result.event_id, result.registration_id, result.checked_in_at, scanned.result)


# --- by the event's scene QR ------------------------------------------------------------------------------------


def scene(event: Event) -> str:
    return f"{SCENE_PREFIX}{event.id}:{event.checkin_token}"


def parse_scene(value: str | None) -> tuple[int, str] | None:
    """(event id, token) of a check-in scene, or None for any other scene."""
    if not value or not value.startswith(SCENE_PREFIX):
        return None
    number, _, token = value[len(SCENE_PREFIX) :].partition(":")
    if not (number.isascii() and number.isdigit()) or len(number) > 9 or not 1 <= len(token) <= 32:
        return None
    return int(number), token


def check_in_by_scene(
    session: Session,
    event_id: int,
    token: str,
    oa_openid: str,
    *,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> CheckIn:
    """The follower ``oa_openid`` scanned the check-in QR of ``event_id`` carrying ``token``: check in their live
    registration (by their openid, or the databank person it is bound to). A token that is not the event's current
    one answers ``wrong_event`` (an old or forged code). ``settings``: the check-in window (None: the defaults)."""
    now = now or utcnow()
    event = session.get(Event, event_id)
    if event is None or not hmac.compare_digest(event.checkin_token.encode(), token.encode()):
        return CheckIn(WRONG_EVENT, event_id)
    refused = _refusal(event, now, window=_Window.of(settings))
    if refused is not None:
        return CheckIn(refused, event_id)
    person_id = person_id_for_follower(session, oa_openid)
    whose = or_(EventRegistration.oa_openid == oa_openid, EventRegistration.registrant == f"oa:{oa_openid}")
    if person_id is not None:
        whose = or_(whose, _of_person(session, person_id))
    registration = _first(session, _live(event.id).where(whose))
    if registration is None:
        return CheckIn(NOT_REGISTERED, event.id)
    return _record(session, registration, CHECKIN_SCENE, now)


def scene_qr_url(
    session: Session,
    maker: QRCodeMaker,
    cache: redis.Redis,
    event_id: int,
    *,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> str:
    """The link a temporary QR code of the official account encodes, for the screen at the door: its scene is the
    event's check-in scene, and it lasts until the check-in window closes (30 days at most, WeChat's limit). Made
    once per token and kept in Redis (``cache``) for its life, so a desk reloading its page asks WeChat nothing.
    ``settings``: the check-in window (None: the defaults). Raises ``NotFound``, ``ValidationFailed`` for an event
    whose window has closed, and ``WeChatAPIError``."""
    now = now or utcnow()
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    seconds = min(int((_Window.of(settings).closes(event) - now).total_seconds()), QR_MAX_SECONDS)
    if seconds <= 2 * QR_MARGIN_SECONDS:
        raise ValidationFailed("the check-in window has closed", user_message=texts.CHECKIN_QR_CLOSED)
    key = redis_keys.event_checkin_qr(event.id, event.checkin_token)
    kept = cache.get(key)
    if kept is not None:
        return kept.decode() if isinstance(kept, bytes) else str(kept)
    url = maker.create_qrcode(scene(event), expire_seconds=seconds).url
    cache.set(key, url, ex=seconds - QR_MARGIN_SECONDS)
    return url


def renew_token(session: Session, event_id: int, *, actor: str) -> Event:
    """A new check-in token: QR codes shown (or photographed) before stop working at once. Audited."""
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    event.checkin_token = secrets.token_urlsafe(18)  # 24 characters, as when the event was made
    audit.record(session, actor=actor, action="events.checkin.renew_token", event_id=event_id)
    session.flush()
    return event


# --- at the desk ------------------------------------------------------------------------------------------------


def check_in_at_desk(
    session: Session, event_id: int, registration_id: int, *, actor: str, now: datetime | None = None
) -> CheckIn:
    """A staff member checks ``registration_id`` in by hand. ``NotFound`` for an unknown event; ``wrong_event``
    for a registration of another event. Audited when it checks someone in."""
    now = now or utcnow()
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    refused = _refusal(event, now, window=None)
    if refused is not None:
        return CheckIn(refused, event_id)
    registration = session.get(EventRegistration, registration_id)
    if registration is None or registration.event_id != event_id:
        return CheckIn(WRONG_EVENT, event_id)
    if registration.status not in REG_LIVE:
        return CheckIn(NOT_REGISTERED, event_id, registration.id)
    result = _record(session, registration, CHECKIN_DESK, now)
    if result.outcome == CHECKED_IN:
        audit.record(
            session,
            actor=actor,
            action="events.checkin.desk",
            person_id=registration.person_id,
            event_id=event_id,
            registration_id=registration.id,
        )
    return result


# --- the desk's view ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    confirmed: int
    checked_in: int
    waitlisted: int

    @property
    def remaining(self) -> int:
        return max(0, self.confirmed - self.checked_in)


@dataclass(frozen=True)
class Attendee:
    """A registration as the desk sees it; ``name`` is the clear name (the console masks it), None when neither the
    databank nor the registrant gave one."""

    registration_id: int
    name: str | None
    status: str
    checked_in_at: datetime | None
    method: str | None


def counts(session: Session, event_id: int) -> Counts:
    """Confirmed and waitlisted registrations, and the confirmed ones checked in: one indexed pass."""
    rows = session.execute(
        select(
            EventRegistration.status,
            func.count(),
            func.count(EventRegistration.checked_in_at),
        )
        .where(EventRegistration.event_id == event_id, EventRegistration.status.in_(REG_LIVE))
        .group_by(EventRegistration.status)
    ).all()
    by = {status: (int(total), int(done)) for status, total, done in rows}
    confirmed = by.get(REG_CONFIRMED, (0, 0))
    return Counts(confirmed[0], confirmed[1], by.get(REG_WAITLISTED, (0, 0))[0])


def _attendees(session: Session, query: Select[Any]) -> list[Attendee]:
    return [
        Attendee(r.id, name or r.display_name or None, r.status, r.checked_in_at, r.checkin_method)
        for r, name in session.execute(query)
    ]


def _with_names(event_id: int) -> Any:  # a Select of (registration, name)
    return (
        select(EventRegistration, Person.name)
        .outerjoin(Person, Person.id == EventRegistration.person_id)
        .where(EventRegistration.event_id == event_id)
    )


def latest(session: Session, event_id: int, *, limit: int = LATEST) -> list[Attendee]:
    """The latest check-ins at the event, newest first."""
    query = (
        _with_names(event_id)
        .where(EventRegistration.checked_in_at.is_not(None))
        .order_by(EventRegistration.checked_in_at.desc(), EventRegistration.id.desc())
        .limit(limit)
    )
    return _attendees(session, query)


def search(session: Session, event_id: int, q: str, *, limit: int = 20) -> list[Attendee]:
    """Live registrations at the event whose name (the databank's, or as given) contains ``q``, or whose
    registration number is ``q``."""
    q = q.strip()[:64]
    if not q:
        return []
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    match = or_(Person.name.like(pattern, escape="\\"), EventRegistration.display_name.like(pattern, escape="\\"))
    if q.isdigit() and len(q) <= 9:
        match = or_(match, EventRegistration.id == int(q))
    query = (
        _with_names(event_id)
        .where(EventRegistration.status.in_(REG_LIVE), match)
        .order_by(EventRegistration.id)
        .limit(limit)
    )
    return _attendees(session, query)


def event_scanners(session: Session, event_id: int) -> list[ScannerCredential]:
    """The event's scanner credentials, live and revoked, oldest first."""
    return list(
        session.scalars(
            select(ScannerCredential).where(ScannerCredential.event_id == event_id).order_by(ScannerCredential.id)
        )
    )


def create_event_scanner(session: Session, event_id: int, *, label: str, actor: str) -> tuple[ScannerCredential, str]:
    """A scanner credential for the event's door (its secret is returned once, as for any desk)."""
    if session.get(Event, event_id) is None:
        raise NotFound(f"no event {event_id}")
    return create_scanner(session, label=label, actor=actor, event_id=event_id)


def revoke_event_scanner(session: Session, event_id: int, scanner_id: int, *, actor: str) -> None:
    scanner = session.get(ScannerCredential, scanner_id)
    if scanner is None or scanner.event_id != event_id:
        raise NotFound(f"no scanner {scanner_id} at event {event_id}")
    revoke_scanner(session, scanner_id, actor=actor)


# --- the rule ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The check-in window around an event, from ``events.checkin_opens_before_hours`` / ``_closes_after_hours``."""

    opens_before: timedelta  # the doors open this long before the start, at the earliest
    closes_after: timedelta  # and close this long after the end (the start, when no end is given)

    @classmethod
    def of(cls, settings: EventSettings | None) -> _Window:
        settings = settings or EventSettings()
        return cls(
            timedelta(hours=settings.checkin_opens_before_hours), timedelta(hours=settings.checkin_closes_after_hours)
        )

    def opens(self, event: Event) -> datetime:
        return event.starts_at - self.opens_before

    def closes(self, event: Event) -> datetime:
        return (event.ends_at or event.starts_at) + self.closes_after


def _refusal(event: Event | None, now: datetime, *, window: _Window | None) -> str | None:
    """Why a check-in at ``event`` is refused at ``now`` (None: it is not); ``window`` None: any time (the desk)."""
    if event is None or event.status != EVENT_PUBLISHED:
        return EVENT_CLOSED
    if window is not None and not window.opens(event) <= now <= window.closes(event):
        return NOT_OPEN
    return None


def _live(event_id: int) -> Select[Any]:
    # A confirmed registration first, should a person hold a waitlisted one under another key as well.
    return (
        select(EventRegistration)
        .where(EventRegistration.event_id == event_id, EventRegistration.status.in_(REG_LIVE))
        .order_by((EventRegistration.status == REG_CONFIRMED).desc(), EventRegistration.id)
        .limit(1)
    )


def _of_person(session: Session, person_id: int) -> ColumnElement[bool]:
    """A registration of the person: by the person, or by a WeChat openid bound to them (a registration made before
    the binding). Each branch is an indexed equality, so a large event's registrations are never scanned."""
    bound = session.execute(
        select(WeChatIdentity.kind, WeChatIdentity.value).where(
            WeChatIdentity.person_id == person_id, WeChatIdentity.kind.in_((OA_OPENID, MP_OPENID))
        )
    ).all()
    oa = [value for kind, value in bound if kind == OA_OPENID]
    mp = [value for kind, value in bound if kind == MP_OPENID]
    return or_(
        EventRegistration.person_id == person_id,
        EventRegistration.registrant == f"person:{person_id}",
        *([EventRegistration.oa_openid.in_(oa)] if oa else []),
        *([EventRegistration.mp_openid.in_(mp)] if mp else []),
    )


def _first(session: Session, query: Select[Any]) -> EventRegistration | None:
    found: EventRegistration | None = session.scalars(query).first()
    return found


def _fast_card(
    session: Session, event_id: int, person_id: int, scanner_id: int | None, now: datetime, *, window: _Window
) -> int | None:
    """The busy door's one statement: check in the person's confirmed registration (by their key, as a registration
    made with a known person has it) if the event is open now and it is not checked in yet; its id, or None when
    anything else is the case (then the full path finds out what, and says so)."""
    open_now = (
        select(Event.id)
        .where(
            Event.id == event_id,
            Event.status == EVENT_PUBLISHED,
            Event.starts_at <= now + window.opens_before,
            func.coalesce(Event.ends_at, Event.starts_at) >= now - window.closes_after,
        )
        .exists()
    )
    found = session.execute(
        update(EventRegistration)
        .where(
            EventRegistration.event_id == event_id,
            EventRegistration.registrant == f"person:{person_id}",
            EventRegistration.status == REG_CONFIRMED,
            EventRegistration.checked_in_at.is_(None),
            open_now,
        )
        .values(checked_in_at=now, checkin_method=CHECKIN_CARD, checkin_scanner_id=scanner_id)
        .returning(EventRegistration.id)
        .execution_options(synchronize_session=False)
    ).first()
    return int(found[0]) if found is not None else None


def _record(
    session: Session, registration: EventRegistration, method: str, now: datetime, *, scanner_id: int | None = None
) -> CheckIn:
    """Check a live registration in once: the conditional UPDATE decides between two desks at the same moment."""
    if registration.status != REG_CONFIRMED:
        return CheckIn(NOT_CONFIRMED, registration.event_id, registration.id)
    done = session.execute(
        update(EventRegistration)
        .where(
            EventRegistration.id == registration.id,
            EventRegistration.status == REG_CONFIRMED,
            EventRegistration.checked_in_at.is_(None),
        )
        .values(checked_in_at=now, checkin_method=method, checkin_scanner_id=scanner_id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) == 1:
        session.expire(registration)
        return CheckIn(CHECKED_IN, registration.event_id, registration.id, now)
    session.expire(registration)
    current = session.get(EventRegistration, registration.id)
    if current is None or current.status != REG_CONFIRMED:
        return CheckIn(NOT_CONFIRMED, registration.event_id, registration.id)
    return CheckIn(ALREADY, registration.event_id, registration.id, current.checked_in_at)


__all__ = [
    "ALREADY",
    "CARD_INVALID",
    "CHECKED_IN",
    "EVENT_CLOSED",
    "NOT_CONFIRMED",
    "NOT_OPEN",
    "NOT_REGISTERED",
    "OUTCOMES",
    "SCENE_PREFIX",
    "WRONG_EVENT",
    "Attendee",
    "CheckIn",
    "Counts",
    "DoorScan",
    "check_in_at_desk",
    "check_in_by_card",
    "check_in_by_scene",
    "counts",
    "create_event_scanner",
    "event_scanners",
    "latest",
    "parse_scene",
    "renew_token",
    "revoke_event_scanner",
    "scan_at_door",
    "scene",
    "scene_qr_url",
    "search",
]
