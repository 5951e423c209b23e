"""Events as staff make them: create, edit, publish, cancel, and the lists the bot, the mini-program and the console
show.

Owns an event's own rules: what a valid event is (a title, a start, an end after it, a capacity of at least one
or none, a registration window that closes no later than the start, a venue point given as both coordinates, an
eligibility with its segment), its life (draft → published → cancelled; a cancelled event tells its registrants
through ``services.events.notices``), and its **questions**: the optional questions asked at registration, stored as
JSON in ``events.questions_json`` (``key``, ``label``, ``required``, ``choices``, ``max_chars``), and the check of
the answers given to them (:func:`validate_answers`, one ``FieldProblem`` per refused answer).

Every staff change is audited (``services.databank.audit``: ``event.create`` / ``event.edit`` / ``event.publish``
/ ``event.cancel``). Times are stored in UTC; :func:`show_time` is how users and staff read them (Beijing time).
Scoping a branch admin to their associations is the console's (``services.associations.scope``); the lists here take
the scope as a parameter.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from openpyxl import Workbook
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import texts
from core.clock import beijing_minutes
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from core.settings import EventSettings
from models import Association, Person, Segment
from models.base import utcnow
from models.event import (
    ELIGIBILITIES,
    ELIGIBLE_SEGMENT,
    EVENT_CANCELLED,
    EVENT_DRAFT,
    EVENT_PUBLISHED,
    REG_LIVE,
    Event,
    EventRegistration,
)
from services.databank import audit

TITLE_MAX = 120
DESCRIPTION_MAX = 4000
VENUE_MAX = 255
MAX_QUESTIONS = 10
QUESTION_LABEL_MAX = 60
ANSWER_MAX = 200  # the longest free answer
MAX_CHOICES = 20
CAPACITY_MAX = 100_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Question:
    key: str  # q1, q2, … (stable: answers are stored under it)
    label: str
    required: bool = False
    choices: tuple[str, ...] = ()  # empty: a free answer
    max_chars: int = ANSWER_MAX


@dataclass
class EventInput:
    """What staff give for an event (the console's form, the CLI, tests)."""

    title: str
    starts_at: datetime
    association_id: int | None = None
    description: str = ""
    ends_at: datetime | None = None
    venue: str = ""
    venue_latitude: float | None = None
    venue_longitude: float | None = None
    capacity: int | None = None
    waitlist: bool = True
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    eligibility: str = "everyone"
    segment_id: int | None = None
    questions: Sequence[Question] = field(default_factory=tuple)


def show_time(moment: datetime) -> str:
    return beijing_minutes(moment)


# --- questions ------------------------------------------------------------------------------------------------------


def questions_of(event: Event) -> list[Question]:
    raw = json.loads(event.questions_json or "[]")
    return [
        Question(q["key"], q["label"], bool(q.get("required")), tuple(q.get("choices") or ()), int(q["max_chars"]))
        for q in raw
    ]


def parse_questions(text: str) -> list[Question]:
    """The console's question box: one question per line; a leading ``*`` makes it required; choices follow a colon,
    separated by ``/`` (``*人数：1/2/3``). Raises ``ValidationFailed`` naming the line."""
    out: list[Question] = []
    lines = [line.strip() for line in (text or "").replace("\r", "\n").split("\n") if line.strip()]
    if len(lines) > MAX_QUESTIONS:
        message = texts.EVENT_FORM_ERRORS["too_many_questions"].format(max=MAX_QUESTIONS)
        raise ValidationFailed("too many questions", user_message=message,
                               fields=[FieldProblem("questions", "too_many", message)])  # fmt: skip
    for n, line in enumerate(lines, 1):
        required = line.startswith("*")
        body = line.lstrip("*").strip()
        label, _, rest = body.replace("：", ":").partition(":")
        label = label.strip()
        choices = tuple(dict.fromkeys(c.strip() for c in rest.split("/") if c.strip()))
        problem = None
        if not label or _CONTROL.search(body):
            problem = texts.EVENT_FORM_ERRORS["question_empty"].format(n=n)
        elif len(label) > QUESTION_LABEL_MAX:
            problem = texts.EVENT_FORM_ERRORS["question_too_long"].format(n=n, max=QUESTION_LABEL_MAX)
        elif (rest.strip() and len(choices) < 2) or len(choices) > MAX_CHOICES:
            problem = texts.EVENT_FORM_ERRORS["question_choices"].format(n=n, max=MAX_CHOICES)
        elif any(len(c) > QUESTION_LABEL_MAX for c in choices):
            problem = texts.EVENT_FORM_ERRORS["question_too_long"].format(n=n, max=QUESTION_LABEL_MAX)
        if problem:
            raise ValidationFailed(f"question line {n}", user_message=problem,
                                   fields=[FieldProblem("questions", "invalid", problem)])  # fmt: skip
        out.append(Question(f"q{n}", label, required, choices))
    return out


def questions_text(questions: Sequence[Question]) -> str:
    """The inverse of :func:`parse_questions` (to edit them)."""
    lines = []
    for q in questions:
        line = ("*" if q.required else "") + q.label
        if q.choices:
            line += "：" + "/".join(q.choices)
        lines.append(line)
    return "\n".join(lines)


def validate_answers(questions: Sequence[Question], answers: Mapping[str, Any]) -> dict[str, str]:
    """The answers cleaned (trimmed, known keys only), or ``ValidationFailed`` naming every refused answer
    (``answers.<key>``, with the API's problem codes): an unknown question (``unknown_field``), a required one left
    empty (``required``), a value not among the choices (``not_allowed``), too long (``too_long``)."""
    by_key = {q.key: q for q in questions}
    problems: list[FieldProblem] = []
    cleaned: dict[str, str] = {}
    for key in answers:
        if key not in by_key:
            problems.append(FieldProblem(f"answers.{key}"[:60], "unknown_field", texts.EVENT_ANSWER_ERRORS["unknown"]))
    for q in questions:
        raw = answers.get(q.key)
        if raw is not None and not isinstance(raw, str):
            problems.append(FieldProblem(f"answers.{q.key}", "wrong_type", texts.EVENT_ANSWER_ERRORS["not_text"]))
            continue
        value = " ".join((raw or "").split())
        if not value:
            if q.required:
                message = texts.EVENT_ANSWER_ERRORS["required"].format(label=q.label)
                problems.append(FieldProblem(f"answers.{q.key}", "required", message))
            continue
        if _CONTROL.search(raw or ""):
            message = texts.EVENT_ANSWER_ERRORS["bad_characters"].format(label=q.label)
            problems.append(FieldProblem(f"answers.{q.key}", "bad_characters", message))
        elif q.choices and value not in q.choices:
            message = texts.EVENT_ANSWER_ERRORS["not_a_choice"].format(label=q.label, choices="/".join(q.choices))
            problems.append(FieldProblem(f"answers.{q.key}", "not_allowed", message))
        elif len(value) > q.max_chars:
            message = texts.EVENT_ANSWER_ERRORS["too_long"].format(label=q.label, max=q.max_chars)
            problems.append(FieldProblem(f"answers.{q.key}", "too_long", message))
        else:
            cleaned[q.key] = value
    if problems:
        raise ValidationFailed("bad answers", user_message=problems[0].message, fields=problems)
    return cleaned


# --- creating and editing -------------------------------------------------------------------------------------------


def _check(session: Session, data: EventInput) -> dict[str, Any]:  # noqa: PLR0912 - a branch per field
    """The event's columns from ``data``, or ``ValidationFailed`` naming every refused field."""
    e = texts.EVENT_FORM_ERRORS
    problems: list[FieldProblem] = []

    def refuse(name: str, code: str, message: str) -> None:
        problems.append(FieldProblem(name, code, message))

    title = " ".join((data.title or "").split())
    if not title:
        refuse("title", "required", e["title_required"])
    elif len(title) > TITLE_MAX or _CONTROL.search(data.title):
        refuse("title", "invalid", e["title_too_long"].format(max=TITLE_MAX))
    description = (data.description or "").replace("\r\n", "\n").strip()
    if len(description) > DESCRIPTION_MAX or _CONTROL.search(description):
        refuse("description", "invalid", e["description_too_long"].format(max=DESCRIPTION_MAX))
    venue = " ".join((data.venue or "").split())
    if len(venue) > VENUE_MAX:
        refuse("venue", "too_long", e["venue_too_long"].format(max=VENUE_MAX))
    for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
        moment = getattr(data, name)
        if moment is not None and moment.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if data.ends_at is not None and data.ends_at <= data.starts_at:
        refuse("ends_at", "before_start", e["ends_before_start"])
    opens, closes = data.registration_opens_at, data.registration_closes_at
    if closes is not None and closes > data.starts_at:
        refuse("registration_closes_at", "after_start", e["closes_after_start"])
    if opens is not None and (opens >= (closes or data.starts_at)):
        refuse("registration_opens_at", "after_close", e["opens_after_close"])
    lat, lng = data.venue_latitude, data.venue_longitude
    if (lat is None) != (lng is None):
        refuse("venue_latitude", "half_point", e["half_point"])
    elif lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        refuse("venue_latitude", "out_of_range", e["point_out_of_range"])
    if data.capacity is not None and not 1 <= data.capacity <= CAPACITY_MAX:
        refuse("capacity", "out_of_range", e["capacity"].format(max=CAPACITY_MAX))
    segment_id = data.segment_id if data.eligibility == ELIGIBLE_SEGMENT else None
    if data.eligibility not in ELIGIBILITIES:
        refuse("eligibility", "bad_choice", e["eligibility"])
    elif data.eligibility == ELIGIBLE_SEGMENT:
        segment = session.get(Segment, segment_id) if segment_id is not None else None
        if segment is None or segment.archived_at is not None:
            refuse("segment_id", "required", e["segment_required"])
    if data.association_id is not None and session.get(Association, data.association_id) is None:
        refuse("association_id", "not_found", e["association"])
    if len(data.questions) > MAX_QUESTIONS:
        refuse("questions", "too_many", e["too_many_questions"].format(max=MAX_QUESTIONS))
    if problems:
        raise ValidationFailed("bad event", user_message=problems[0].message, fields=problems)
    return {
        "association_id": data.association_id,
        "title": title,
        "description": description,
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "venue": venue,
        "venue_latitude": lat,
        "venue_longitude": lng,
        "capacity": data.capacity,
        "waitlist": bool(data.waitlist),
        "registration_opens_at": opens,
        "registration_closes_at": closes,
        "eligibility": data.eligibility,
        "segment_id": segment_id,
        "questions_json": json.dumps([asdict(q) for q in data.questions], ensure_ascii=False),
    }


def create_event(
    session: Session,
    *,
    actor: str,
    association_id: int | None,
    title: str,
    starts_at: datetime,
    now: datetime | None = None,
    **fields: Any,
) -> Event:
    """A draft event (publish it to open registration). ``fields``: the rest of :class:`EventInput`. Raises
    ``ValidationFailed`` naming every refused field."""
    data = EventInput(title=title, starts_at=starts_at, association_id=association_id, **fields)
    values = _check(session, data)
    now = now or utcnow()
    event = Event(
        **values,
        status=EVENT_DRAFT,
        confirmed_count=0,
        waitlisted_count=0,
        checkin_token=secrets.token_urlsafe(18),  # 24 characters: room in a 32-character scene for a prefix
        created_by=actor[:64],
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    session.flush()
    audit.record(session, actor=actor, action="event.create", event_id=event.id, association_id=association_id)
    return event


def get(session: Session, event_id: int, *, for_update: bool = False) -> Event:
    event = session.get(Event, event_id, with_for_update=for_update or None)
    if event is None:
        raise NotFound(f"no event {event_id}", user_message=texts.EVENT_ERRORS["not_found"])
    return event


def edit_event(
    session: Session,
    event_id: int,
    data: EventInput,
    *,
    actor: str,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> Event:
    """Change an event (not a cancelled one). Its capacity cannot drop below the places already confirmed; raising
    it gives the new places to the waitlist at once. Questions already answered keep their keys."""
    from services.events import registration  # the waitlist is registration's (it imports this module)

    event = get(session, event_id, for_update=True)
    if event.status == EVENT_CANCELLED:
        raise Conflict(f"event {event_id} is cancelled", user_message=texts.EVENT_ERRORS["cancelled"])
    values = _check(session, data)
    if values["capacity"] is not None and values["capacity"] < event.confirmed_count:
        message = texts.EVENT_FORM_ERRORS["capacity_below_confirmed"].format(confirmed=event.confirmed_count)
        raise ValidationFailed("capacity below confirmed", user_message=message,
                               fields=[FieldProblem("capacity", "below_confirmed", message)])  # fmt: skip
    changed = sorted(k for k, v in values.items() if getattr(event, k) != v)
    for key, value in values.items():
        setattr(event, key, value)
    event.updated_at = now or utcnow()
    session.flush()
    audit.record(session, actor=actor, action="event.edit", event_id=event.id, fields=changed)
    if event.status == EVENT_PUBLISHED:
        registration.fill_from_waitlist(session, event.id, now=now, settings=settings)
    return event


def publish(session: Session, event_id: int, *, actor: str, now: datetime | None = None) -> Event:
    """Open a draft to registration (publishing a published event again changes nothing). Refused for a cancelled
    event or one that has started."""
    now = now or utcnow()
    event = get(session, event_id, for_update=True)
    if event.status == EVENT_PUBLISHED:
        return event
    if event.status == EVENT_CANCELLED:
        raise Conflict(f"event {event_id} is cancelled", user_message=texts.EVENT_ERRORS["cancelled"])
    if event.starts_at <= now:
        raise Conflict(f"event {event_id} has started", user_message=texts.EVENT_FORM_ERRORS["publish_past"])
    event.status, event.published_at, event.updated_at = EVENT_PUBLISHED, now, now
    session.flush()
    audit.record(session, actor=actor, action="event.publish", event_id=event.id)
    return event


def cancel_event(
    session: Session,
    event_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    settings: EventSettings | None = None,
) -> Event:
    """Cancel an event; everyone registered (confirmed or waitlisted) is told through the outbox. Their
    registrations stay as they were, so the record shows who had a place."""
    from services.events import notices

    now = now or utcnow()
    event = get(session, event_id, for_update=True)
    if event.status == EVENT_CANCELLED:
        return event
    was_published = event.status == EVENT_PUBLISHED
    event.status, event.cancelled_at, event.updated_at = EVENT_CANCELLED, now, now
    session.flush()
    audit.record(session, actor=actor, action="event.cancel", event_id=event.id)
    if was_published:
        notices.queue_cancelled(session, event, settings=settings, now=now)
    return event


# --- lists ----------------------------------------------------------------------------------------------------------


def list_events(
    session: Session,
    *,
    associations: frozenset[int] | None,
    status: str | None = None,
    limit: int = 200,
) -> list[Event]:
    """The console's list: newest start first, within the staff member's scope (None: all)."""
    query = select(Event)
    if associations is not None:
        query = query.where(Event.association_id.in_(sorted(associations)) if associations else Event.id < 0)
    if status:
        query = query.where(Event.status == status)
    return list(session.scalars(query.order_by(Event.starts_at.desc(), Event.id.desc()).limit(limit)))


def upcoming(session: Session, *, now: datetime | None = None, limit: int = 20) -> list[Event]:
    """Published events that have not started and still take (or will take) registrations, soonest first."""
    now = now or utcnow()
    closes = func.coalesce(Event.registration_closes_at, Event.starts_at)
    return list(
        session.scalars(
            select(Event)
            .where(Event.status == EVENT_PUBLISHED, Event.starts_at > now, closes > now)
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
        )
    )


def attendance(session: Session, *, associations: frozenset[int] | None, limit: int = 20) -> list[tuple[Event, int]]:
    """The last ``limit`` published or past events with how many checked in (the console's chart), oldest first."""
    checked = (
        select(EventRegistration.event_id, func.count().label("n"))
        .where(EventRegistration.checked_in_at.is_not(None))
        .group_by(EventRegistration.event_id)
        .subquery()
    )
    query = (
        select(Event, func.coalesce(checked.c.n, 0))
        .outerjoin(checked, checked.c.event_id == Event.id)
        .where(Event.status == EVENT_PUBLISHED)
    )
    if associations is not None:
        query = query.where(or_(Event.association_id.in_(sorted(associations)), Event.id < 0))
    rows = session.execute(query.order_by(Event.starts_at.desc(), Event.id.desc()).limit(limit))
    return [(e, int(n)) for e, n in reversed(list(rows))]


def registrations(session: Session, event_id: int, *, status: str | None = None) -> list[EventRegistration]:
    """An event's registrations in order (the waitlist's order is its ids)."""
    query = select(EventRegistration).where(EventRegistration.event_id == event_id)
    query = query.where(EventRegistration.status == status) if status else query
    return list(session.scalars(query.order_by(EventRegistration.id)))


def live_count(session: Session, event_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(EventRegistration)
            .where(EventRegistration.event_id == event_id, EventRegistration.status.in_(REG_LIVE))
        )
        or 0
    )


# --- the console's roster and the attendance export -----------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    registration: EventRegistration
    name: str | None  # the databank's name of the person, else the name they gave; None: neither


def roster(session: Session, event_id: int, *, statuses: Sequence[str] = REG_LIVE) -> list[RosterRow]:
    """An event's registrations in these statuses, in order (the waitlist's order is its ids), with names."""
    rows = session.execute(
        select(EventRegistration, Person.name)
        .outerjoin(Person, Person.id == EventRegistration.person_id)
        .where(EventRegistration.event_id == event_id, EventRegistration.status.in_(list(statuses)))
        .order_by(EventRegistration.id)
    )
    return [RosterRow(r, name or r.display_name) for r, name in rows]


def attendance_xlsx(
    session: Session,
    event_id: int,
    out: BinaryIO,
    *,
    actor: str,
    header: Sequence[str],
    names: Mapping[str, Mapping[str, str]],
    unknown: str,
) -> int:
    """Write the attendance sheet (every live registration, in order: names in clear, status, channel, times in
    Beijing time, check-in, answers) as .xlsx to ``out``; audited as ``events.export``. ``names``: the copy for the
    status / channel / check-in method codes (the caller's). Returns the rows written."""
    event = get(session, event_id)
    questions = {q.key: q.label for q in questions_of(event)}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(event.title))
    sheet.append(list(header))
    rows = roster(session, event_id)
    for n, row in enumerate(rows, 1):
        r = row.registration
        answers = json.loads(r.answers_json or "{}")
        sheet.append(
            [
                n,
                _cell(row.name or unknown),
                names["status"].get(r.status, r.status),
                names["channel"].get(r.channel, r.channel),
                beijing_minutes(r.created_at),
                beijing_minutes(r.checked_in_at) if r.checked_in_at else "",
                names["method"].get(r.checkin_method or "", r.checkin_method or ""),
                _cell(
                    texts.CLAUSE_SEPARATOR.join(
                        texts.LABELLED.format(label=questions.get(k, k), value=v) for k, v in answers.items()
                    )
                ),
            ]
        )
    workbook.save(out)
    audit.record(session, actor=actor, action="events.export", event_id=event_id, rows=len(rows))
    return len(rows)


def _sheet_title(title: str) -> str:
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31]
    return cleaned or "event"


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (an answer starting with = + - @)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
