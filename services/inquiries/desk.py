"""The help desk's workflow: filing an inquiry (chat, mini-program, staff log), every step of its handling, the inbox,
one inquiry's record, and the monthly report. Each step writes an :class:`~models.InquiryEvent`: the events are the
association's written record of the inquiry, appended and never edited.

**Filing.** A chat message (text, or an image or voice message kept as its WeChat media reference) opens an inquiry
(:func:`open_from_chat`) or, within ``inquiries.followup_window_minutes`` of the user's previous message, joins their
open one (:func:`follow_up`). A text longer than ``MAX_CHARS`` is not refused: its first ``MAX_CHARS`` characters
are kept and the caller is told how many were left out. The mini-program opens one (:func:`open_from_miniprogram`);
staff log one that came by phone, letter, e-mail or in person (:func:`log_inquiry`), linked to a databank person
when known, otherwise with the requester's name and contact sealed with the databank keyring (opened only through
:func:`requester`, which is audited). Every filing is keyed by what caused it (``source_key``), so a retried push or
a double-tapped request files once.

**Handling.** Assign (to an enabled account holding ``inquiries.handle``), categorise (the SLA due time becomes
``created_at`` + the category's ``sla_hours``), prioritise, note, escalate to leadership, record leadership's
instruction (which clears ``escalated``), close with a resolution, reopen; the user rates a closed inquiry once, 1-5,
within ``rating_days``. Replies are ``services.inquiries.delivery``'s. A step that the inquiry's state forbids is a
``Conflict`` (closing a closed inquiry, rating twice, instructing one that is not escalated); bad input is
``ValidationFailed`` with the texts catalogue's message; an unknown inquiry or account is ``NotFound``.

**The inbox** lists open inquiries by tab in SLA order through the partial indexes of ``models.inquiry`` (mine and
unassigned: ``ix_inquiries_open_assignee_due``; overdue: ``ix_inquiries_unanswered_due``; escalated:
``ix_inquiries_escalated``; all: newest first by id) with
keyset paging, so a page costs the same at a million inquiries as at a hundred. The tabs' counts read the open rows
only. The SLA is the time to a first answer: an answered inquiry is never overdue.

**The asker's view** (the mini-program): their own inquiries (:func:`askers`: asked in the mini-program, or in the
chat by the follower with the same unionid), listed (:func:`of_user`) or read one at a time (:func:`read_own`,
which marks an answer held for the chat as shown, so the bot does not repeat it).

This module does not send anything to WeChat and imports neither Flask nor WeChat types.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import i18n, texts
from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import InquirySettings, Settings
from models import Follower, Inquiry, InquiryEvent, Person, StaffAccount, utcnow
from models.inquiry import (
    ASSIGN,
    CATEGORIES,
    CATEGORY,
    CLOSE,
    ESCALATE,
    INQUIRY_CLOSED,
    INQUIRY_OPEN,
    INSTRUCT,
    MESSAGE,
    NOTE,
    PRIORITIES,
    PRIORITY,
    RATE,
    REOPEN,
    REPLY,
)
from services import followers, outbox
from services.databank import audit
from services.databank.keys import Keyring
from services.inquiries import delivery
from services.staff.accounts import roles_of
from services.staff.policy import allows
from services.stats import day_bounds

T = texts.INQUIRY_ERRORS
MIN_CHARS = 2
MAX_CHARS = 1000
MAX_NOTE = 2000  # a note, an escalation, an instruction, a resolution
MEDIA_TYPES = ("image", "voice")  # kept as a WeChat media reference, fetched through the gateway when staff look
MESSAGE_TYPES = ("text", *MEDIA_TYPES)
STAFF_CHANNELS = ("phone", "letter", "email", "in_person")
REQUESTER_KIND = "inquiry_requester"  # the keyring's associated data for a sealed requester
TABS = ("mine", "unassigned", "overdue", "escalated", "all")
Tab = Literal["mine", "unassigned", "overdue", "escalated", "all"]
STATUSES = (INQUIRY_OPEN, INQUIRY_CLOSED)
HANDLE = "inquiries.handle"


def _refuse(key: str, **values: object) -> ValidationFailed:
    return ValidationFailed(key, user_message=T[key].format(**values) if values else T[key])


def _inquiry_settings(settings: Settings | InquirySettings) -> InquirySettings:
    return settings.inquiries if isinstance(settings, Settings) else settings


def due_at(settings: Settings | InquirySettings, category: str, created_at: datetime) -> datetime:
    """The SLA due time of an inquiry of ``category`` created at ``created_at``."""
    hours = _inquiry_settings(settings).sla_hours
    return created_at + timedelta(hours=hours.get(category, hours["other"]))


def _event(
    session: Session,
    inquiry: Inquiry,
    kind: str,
    actor: str,
    *,
    body: str | None = None,
    at: datetime | None = None,
    staff_account_id: int | None = None,
    msg_type: str | None = None,
    media_id: str | None = None,
    source_key: str | None = None,
) -> InquiryEvent:
    event = InquiryEvent(
        inquiry_id=inquiry.id,
        kind=kind,
        actor=actor[:64],
        body=body,
        msg_type=msg_type,
        media_id=media_id,
        source_key=source_key,
        staff_account_id=staff_account_id,
        at=at or utcnow(),
    )
    session.add(event)
    session.flush()
    return event


# --- filing -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filed:
    inquiry: Inquiry
    dropped_chars: int  # characters past MAX_CHARS that were not kept; 0 when the whole message was


@dataclass(frozen=True)
class _Message:
    msg_type: str
    text: str | None
    media_id: str | None
    dropped: int

    @property
    def body(self) -> str:
        """What the inquiry's ``question`` says: the text, or a placeholder naming the media."""
        return self.text if self.text is not None else texts.INQUIRY_MEDIA_PLACEHOLDER[self.msg_type]


def _message(msg_type: str, text: str | None, media_id: str | None) -> _Message:
    """A user's message, checked: text (at least ``MIN_CHARS``, cut at ``MAX_CHARS``) or an image/voice reference."""
    if msg_type == "text":
        cleaned = (text or "").strip()
        if len(cleaned) < MIN_CHARS:
            raise ValidationFailed("question too short", user_message=texts.ASK_TOO_SHORT.format(min_chars=MIN_CHARS))
        if "\x00" in cleaned:
            raise _refuse("binary")
        return _Message("text", cleaned[:MAX_CHARS], None, max(0, len(cleaned) - MAX_CHARS))
    if msg_type in MEDIA_TYPES:
        media = (media_id or "").strip()
        if not media or len(media) > 128:
            raise _refuse("media")
        return _Message(msg_type, None, media, 0)
    raise _refuse("msg_type")


def _existing(session: Session, source_key: str) -> Inquiry | None:
    return session.scalar(select(Inquiry).where(Inquiry.source_key == source_key))


def _file(
    session: Session,
    settings: Settings | InquirySettings,
    *,
    source_key: str,
    question: str,
    channel: str,
    openid: str | None,
    person_id: int | None,
    created_by: str,
    now: datetime,
    message: _Message | None,
    category: str = "other",
    priority: str = "normal",
    requester_sealed: str | None = None,
) -> Inquiry | None:
    """Insert the inquiry and its opening event; None when ``source_key`` filed one already (a race lost)."""
    inquiry = Inquiry(
        openid=openid,
        source_key=source_key[:200],
        question=question,
        status=INQUIRY_OPEN,
        channel=channel,
        person_id=person_id,
        requester_sealed=requester_sealed,
        category=category,
        priority=priority,
        due_at=due_at(settings, category, now),
        last_message_at=now,
        created_by=created_by[:64],
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(inquiry)
            session.flush()
    except IntegrityError:
        return None
    actor = "user" if created_by == "user" else created_by
    _event(
        session,
        inquiry,
        MESSAGE,
        actor,
        body=message.text if message else question,
        at=now,
        msg_type=message.msg_type if message else "text",
        media_id=message.media_id if message else None,
        source_key=source_key[:200],
    )
    return inquiry


def open_from_chat(
    session: Session,
    settings: Settings,
    *,
    openid: str,
    msg_type: str,
    text: str | None,
    media_id: str | None,
    source_key: str,
    person_id: int | None = None,
    now: datetime | None = None,
) -> Filed:
    """Open an inquiry from an official-account message (``source_key``: the push's dedupe key, so a retried push
    files once). Text is cut at ``MAX_CHARS`` (``dropped_chars`` says how much was left out); an image or voice
    message is kept as its media reference. Raises ``ValidationFailed`` (too short, no media, another type)."""
    message = _message(msg_type, text, media_id)
    return _open_chat(
        session, settings, openid=openid, message=message, source_key=source_key, person_id=person_id,
        now=now or utcnow(),
    )  # fmt: skip


def _open_chat(
    session: Session,
    settings: Settings | InquirySettings,
    *,
    openid: str,
    message: _Message,
    source_key: str,
    person_id: int | None,
    now: datetime,
) -> Filed:
    found = _existing(session, source_key)
    if found is None:
        found = _file(
            session,
            settings,
            source_key=source_key,
            question=message.body,
            channel="wechat",
            openid=openid,
            person_id=person_id,
            created_by="user",
            now=now,
            message=message,
        ) or _existing(session, source_key)  # None: a concurrent push filed it first
    assert found is not None
    return Filed(found, message.dropped)


def submit(session: Session, openid: str, question: str, source_key: str) -> Filed:
    """The 提问 conversation's filing (kept until the bot moves to :func:`open_from_chat`): a text inquiry, with the
    default SLA of ``InquirySettings``."""
    message = _message("text", question, None)
    return _open_chat(
        session, InquirySettings(), openid=openid, message=message, source_key=source_key, person_id=None,
        now=utcnow(),
    )  # fmt: skip


def follow_up(
    session: Session,
    settings: Settings,
    *,
    openid: str,
    msg_type: str,
    text: str | None,
    media_id: str | None,
    source_key: str,
    now: datetime | None = None,
) -> Inquiry | None:
    """Join the user's open chat inquiry when their previous message to it came within
    ``inquiries.followup_window_minutes``; None otherwise (the caller then opens one, or answers otherwise).
    The same ``source_key`` joins once. Raises ``ValidationFailed`` for an empty message or an unknown type.
    Most pushes come from users with nothing open: for them this is one probe of the open inquiries by openid."""
    now = now or utcnow()
    window = timedelta(minutes=settings.inquiries.followup_window_minutes)
    inquiry = session.scalar(
        select(Inquiry)
        .where(
            Inquiry.openid == openid,
            Inquiry.status == INQUIRY_OPEN,
            Inquiry.channel == "wechat",
            Inquiry.last_message_at >= now - window,
        )
        .order_by(Inquiry.last_message_at.desc(), Inquiry.id.desc())
        .limit(1)
    )
    if inquiry is None:
        return None
    seen = session.scalar(select(InquiryEvent.inquiry_id).where(InquiryEvent.source_key == source_key))
    if seen is not None:
        return session.get(Inquiry, seen)
    message = _message(msg_type, text, media_id)
    try:
        with session.begin_nested():
            _event(
                session,
                inquiry,
                MESSAGE,
                "user",
                body=message.text,
                at=now,
                msg_type=message.msg_type,
                media_id=message.media_id,
                source_key=source_key[:200],
            )
    except IntegrityError:  # the same push, joined meanwhile by another worker
        return inquiry
    inquiry.last_message_at = now
    session.flush()
    return inquiry


def miniprogram_key(openid: str, request_id: str | None, *, session_token: str, question: str) -> str:
    """The mini-program request's idempotency key: the client's request id, or (without one) the session and the
    question, so a double tap in one session files once and the same question asked in a later session is new."""
    if request_id:
        return f"mp:{openid}:{request_id}"
    digest = hashlib.sha256(f"{session_token}\x00{question.strip()}".encode()).hexdigest()[:40]
    return f"mp:{openid}:s:{digest}"


def open_from_miniprogram(
    session: Session,
    settings: Settings,
    *,
    openid: str,
    question: str,
    source_key: str,
    category: str = "other",
    person_id: int | None = None,
    now: datetime | None = None,
) -> tuple[Inquiry, bool]:
    """Open an inquiry from the mini-program; returns it and whether it is new. The same ``source_key`` with the same
    question returns the first; with another question it is a ``Conflict`` (a request id reused)."""
    cleaned = question.strip()
    if len(cleaned) < MIN_CHARS:
        raise ValidationFailed("question too short", user_message=texts.ASK_TOO_SHORT.format(min_chars=MIN_CHARS))
    if len(cleaned) > MAX_CHARS:
        raise _refuse("too_long", max_chars=MAX_CHARS)
    if category not in CATEGORIES:
        raise _refuse("category")
    found = _existing(session, source_key)
    if found is None:
        now = now or utcnow()
        found = _file(
            session,
            settings,
            source_key=source_key,
            question=cleaned,
            channel="miniprogram",
            openid=openid,
            person_id=person_id,
            created_by="user",
            now=now,
            message=_Message("text", cleaned, None, 0),
            category=category,
        )
        if found is not None:
            return found, True
        found = _existing(session, source_key)
        assert found is not None
    if found.openid != openid or found.question != cleaned:
        raise Conflict("request id reused for another question", user_message=T["request_reused"])
    return found, False


@dataclass(frozen=True)
class Requester:
    name: str
    contact: str


def log_inquiry(
    session: Session,
    settings: Settings,
    keyring: Keyring,
    *,
    channel: str,
    question: str,
    actor: str,
    person_id: int | None = None,
    requester_name: str = "",
    requester_contact: str = "",
    category: str = "other",
    priority: str = "normal",
    source_key: str | None = None,
    now: datetime | None = None,
) -> Inquiry:
    """Staff log an inquiry that came by phone, letter, e-mail or in person: linked to a databank person when known,
    otherwise with the requester's name (required) and contact sealed. ``source_key`` (the form's one-time token)
    makes a resubmitted form file once. Audited."""
    if channel not in STAFF_CHANNELS:
        raise _refuse("channel")
    cleaned = question.strip()
    if len(cleaned) < MIN_CHARS:
        raise ValidationFailed("question too short", user_message=texts.ASK_TOO_SHORT.format(min_chars=MIN_CHARS))
    if len(cleaned) > MAX_CHARS:
        raise _refuse("too_long", max_chars=MAX_CHARS)
    if category not in CATEGORIES:
        raise _refuse("category")
    if priority not in PRIORITIES:
        raise _refuse("priority")
    sealed = None
    if person_id is not None:
        if session.get(Person, person_id) is None:
            raise _refuse("person")
    else:
        name, contact = requester_name.strip(), requester_contact.strip()
        if not 0 < len(name) <= 64:
            raise _refuse("requester_name")
        if len(contact) > 128:
            raise _refuse("requester_contact")
        sealed = keyring.encrypt(REQUESTER_KIND, json.dumps({"name": name, "contact": contact}, ensure_ascii=False))
    key = source_key or f"staff:{uuid.uuid4().hex}"
    found = _existing(session, key)
    if found is not None:
        return found
    now = now or utcnow()
    inquiry = _file(
        session,
        settings,
        source_key=key,
        question=cleaned,
        channel=channel,
        openid=None,
        person_id=person_id,
        created_by=actor,
        now=now,
        message=None,
        category=category,
        priority=priority,
        requester_sealed=sealed,
    )
    if inquiry is None:
        raced = _existing(session, key)
        assert raced is not None
        return raced
    audit.record(session, actor=actor, action="inquiry.log", person_id=person_id, inquiry_id=inquiry.id)
    return inquiry


def requester(session: Session, keyring: Keyring, inquiry_id: int, *, actor: str) -> Requester | None:
    """The sealed requester of a logged inquiry, in clear (audited); None when it has none (a chat or a databank
    person)."""
    inquiry = _get(session, inquiry_id)
    if inquiry.requester_sealed is None:
        return None
    opened = json.loads(keyring.decrypt(REQUESTER_KIND, inquiry.requester_sealed))
    audit.record(session, actor=actor, action="inquiry.requester_view", inquiry_id=inquiry.id)
    return Requester(str(opened.get("name", "")), str(opened.get("contact", "")))


# --- handling -----------------------------------------------------------------------------------------------------


def _get(session: Session, inquiry_id: int, *, lock: bool = False) -> Inquiry:
    query = select(Inquiry).where(Inquiry.id == inquiry_id)
    inquiry = session.scalar(query.with_for_update() if lock else query)
    if inquiry is None:
        raise NotFound(f"no inquiry {inquiry_id}")
    return inquiry


def _open(session: Session, inquiry_id: int) -> Inquiry:
    inquiry = _get(session, inquiry_id, lock=True)
    if inquiry.status != INQUIRY_OPEN:
        raise Conflict(f"inquiry {inquiry_id} is closed", user_message=T["closed"])
    return inquiry


def _words(body: str, key: str) -> str:
    cleaned = body.strip()
    if not cleaned:
        raise _refuse(key)
    if len(cleaned) > MAX_NOTE:
        raise _refuse("note_too_long", max_chars=MAX_NOTE)
    return cleaned


def handlers(session: Session) -> list[StaffAccount]:
    """Enabled accounts that may handle inquiries (an assignee must be one), by display name."""
    accounts = session.scalars(
        select(StaffAccount).where(StaffAccount.disabled_at.is_(None)).order_by(StaffAccount.display_name)
    ).all()
    return [a for a in accounts if allows(roles_of(session, a.id), HANDLE)]


def assign(
    session: Session, inquiry_id: int, *, assignee_id: int | None, actor: str, now: datetime | None = None
) -> Inquiry:
    """Assign an open inquiry (None: back to unassigned). The assignee must be an enabled account holding
    ``inquiries.handle`` (``ValidationFailed`` otherwise). The reminders start over for the new assignee."""
    inquiry = _open(session, inquiry_id)
    if assignee_id is not None:
        account = session.get(StaffAccount, assignee_id)
        if account is None:
            raise _refuse("no_account")
        if account.disabled_at is not None or not allows(roles_of(session, account.id), HANDLE):
            raise _refuse("not_handler", name=account.display_name)
    if inquiry.assignee_id == assignee_id:
        return inquiry
    inquiry.assignee_id = assignee_id
    inquiry.reminder_stage = 0
    _event(session, inquiry, ASSIGN, actor, at=now, staff_account_id=assignee_id)
    return inquiry


def set_category(
    session: Session, settings: Settings, inquiry_id: int, *, category: str, actor: str, now: datetime | None = None
) -> Inquiry:
    """Change the category; the SLA due time becomes ``created_at`` + the new category's hours (reminders restart)."""
    if category not in CATEGORIES:
        raise _refuse("category")
    inquiry = _get(session, inquiry_id, lock=True)
    if inquiry.category == category:
        return inquiry
    inquiry.category = category
    inquiry.due_at = due_at(settings, category, inquiry.created_at)
    inquiry.reminder_stage = 0
    _event(session, inquiry, CATEGORY, actor, body=category, at=now)
    return inquiry


def set_priority(
    session: Session, inquiry_id: int, *, priority: str, actor: str, now: datetime | None = None
) -> Inquiry:
    if priority not in PRIORITIES:
        raise _refuse("priority")
    inquiry = _get(session, inquiry_id, lock=True)
    if inquiry.priority == priority:
        return inquiry
    inquiry.priority = priority
    _event(session, inquiry, PRIORITY, actor, body=priority, at=now)
    return inquiry


def note(session: Session, inquiry_id: int, *, body: str, actor: str, now: datetime | None = None) -> InquiryEvent:
    """An internal note (never shown to the user), on an open or closed inquiry."""
    text = _words(body, "note_empty")
    return _event(session, _get(session, inquiry_id), NOTE, actor, body=text, at=now)


def escalate(
    session: Session,
    inquiry_id: int,
    *,
    body: str,
    actor: str,
    leader_id: int | None = None,
    now: datetime | None = None,
) -> Inquiry:
    """Ask leadership for an instruction (``body``: what is asked); the inquiry stays open and ``escalated``."""
    text = _words(body, "escalate_empty")
    inquiry = _open(session, inquiry_id)
    if inquiry.escalated:
        raise Conflict(f"inquiry {inquiry_id} already escalated", user_message=T["already_escalated"])
    if leader_id is not None:
        leader = session.get(StaffAccount, leader_id)
        if (
            leader is None
            or leader.disabled_at is not None
            or not allows(roles_of(session, leader_id), "inquiries.instruct")
        ):
            raise _refuse("not_leader")
    inquiry.escalated = True
    _event(session, inquiry, ESCALATE, actor, body=text, at=now, staff_account_id=leader_id)
    return inquiry


def instruct(session: Session, inquiry_id: int, *, body: str, actor: str, now: datetime | None = None) -> Inquiry:
    """Record leadership's instruction on an escalated inquiry; it is no longer waiting for leadership."""
    text = _words(body, "instruction_empty")
    inquiry = _open(session, inquiry_id)
    if not inquiry.escalated:
        raise Conflict(f"inquiry {inquiry_id} is not escalated", user_message=T["not_escalated"])
    inquiry.escalated = False
    _event(session, inquiry, INSTRUCT, actor, body=text, at=now)
    return inquiry


def close(session: Session, inquiry_id: int, *, resolution: str, actor: str, now: datetime | None = None) -> Inquiry:
    """Close with a resolution (required); a chat user is told it and asked for a rating. Closing a closed inquiry is
    a ``Conflict``."""
    text = _words(resolution, "resolution_empty")
    inquiry = _open(session, inquiry_id)
    now = now or utcnow()
    inquiry.status = INQUIRY_CLOSED
    inquiry.resolution = text
    inquiry.closed_at = now
    inquiry.escalated = False
    event = _event(session, inquiry, CLOSE, actor, body=text, at=now)
    if inquiry.channel == "wechat" and inquiry.openid:
        # The user learns the outcome and how to rate it (the first digit they send rates it: handlers/desk.py).
        # A customer-service message: outside their 48-hour window it fails (45015) and shows so in the outbox.
        with i18n.use(followers.language_of(session, inquiry.openid)):  # the user's language, not staff's
            notice = texts.DESK_CLOSED_NOTICE.format(number=inquiry.id, resolution=text)
        outbox.enqueue(session, f"inquiry-closed:{event.id}", inquiry.openid, [{"msgtype": "text", "content": notice}])
    return inquiry


def reopen(session: Session, inquiry_id: int, *, reason: str = "", actor: str, now: datetime | None = None) -> Inquiry:
    """Open a closed inquiry again (its resolution stays in the record); reopening an open one is a ``Conflict``."""
    inquiry = _get(session, inquiry_id, lock=True)
    if inquiry.status != INQUIRY_CLOSED:
        raise Conflict(f"inquiry {inquiry_id} is open", user_message=T["not_closed"])
    if len(reason) > MAX_NOTE:
        raise _refuse("note_too_long", max_chars=MAX_NOTE)
    inquiry.status = INQUIRY_OPEN
    inquiry.closed_at = None
    inquiry.resolution = None
    inquiry.reminder_stage = 0
    _event(session, inquiry, REOPEN, actor, body=reason.strip() or None, at=now)
    return inquiry


def rate_inquiry(
    session: Session,
    settings: Settings,
    inquiry_id: int,
    *,
    openid: str,
    rating: int,
    now: datetime | None = None,
) -> Inquiry:
    """The asker rates a closed inquiry 1-5, once, within ``rating_days`` of its closing. Another user's inquiry is
    ``NotFound``; not closed, already rated or too late is a ``Conflict``."""
    if not 1 <= rating <= 5:
        raise _refuse("rating")
    inquiry = _get(session, inquiry_id, lock=True)
    if inquiry.openid != openid:
        raise NotFound(f"inquiry {inquiry_id} is not this user's")
    if inquiry.rating is not None:
        raise Conflict(f"inquiry {inquiry_id} already rated", user_message=T["already_rated"])
    now = now or utcnow()
    if inquiry.status != INQUIRY_CLOSED or inquiry.closed_at is None:
        raise Conflict(f"inquiry {inquiry_id} is open", user_message=T["rate_open"])
    if now - inquiry.closed_at > timedelta(days=settings.inquiries.rating_days):
        raise Conflict(f"inquiry {inquiry_id} closed too long ago", user_message=T["rate_late"])
    inquiry.rating = rating
    inquiry.rated_at = now
    _event(session, inquiry, RATE, "user", body=str(rating), at=now)
    return inquiry


def rate(
    session: Session, settings: Settings, *, openid: str, digit: int, now: datetime | None = None
) -> Inquiry | None:
    """A digit the user replied: the rating of their latest closed, unrated inquiry closed within ``rating_days``;
    None when there is none (the digit means something else). Raises ``ValidationFailed`` outside 1-5."""
    if not 1 <= digit <= 5:
        raise _refuse("rating")
    now = now or utcnow()
    candidate = session.scalar(
        select(Inquiry.id)
        .where(
            Inquiry.openid == openid,
            Inquiry.status == INQUIRY_CLOSED,
            Inquiry.rating.is_(None),
            Inquiry.closed_at >= now - timedelta(days=settings.inquiries.rating_days),
        )
        .order_by(Inquiry.closed_at.desc(), Inquiry.id.desc())
        .limit(1)
    )
    if candidate is None:
        return None
    return rate_inquiry(session, settings, candidate, openid=openid, rating=digit, now=now)


# --- the inbox ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    id: int
    question: str
    channel: str
    category: str
    priority: str
    status: str
    assignee: str | None  # display name
    due_at: datetime | None
    overdue: bool
    escalated: bool
    answered: bool
    created_at: datetime


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    after: str | None  # the cursor of the next page; None on the last


@dataclass(frozen=True)
class Counts:
    mine: int
    unassigned: int
    overdue: int
    escalated: int
    all: int  # open
    mine_overdue: int  # the signed-in member's: past due, unanswered
    mine_due_soon: int  # due within remind_before_hours, unanswered


def _unanswered_overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Inquiry.due_at < now, Inquiry.answered_at.is_(None))


def counts(session: Session, settings: Settings, *, me: int, now: datetime | None = None) -> Counts:
    """The tabs' numbers, over the open inquiries only. Three queries, each on a partial index of the open rows:
    the totals by assignee read ``ix_inquiries_open_assignee_due`` alone (an index-only scan); the overdue ones
    walk ``ix_inquiries_unanswered_due`` (open and unanswered only) up to the reminder horizon; the escalated ones
    ``ix_inquiries_escalated``."""
    now = now or utcnow()
    soon = now + timedelta(hours=settings.inquiries.remind_before_hours)
    mine = Inquiry.assignee_id == me
    is_open = Inquiry.status == INQUIRY_OPEN
    total, my, unassigned = session.execute(
        select(func.count(), func.count(case((mine, 1))), func.count(case((Inquiry.assignee_id.is_(None), 1)))).where(
            is_open
        )
    ).one()
    overdue, my_overdue, my_soon = session.execute(
        select(
            func.count(case((Inquiry.due_at < now, 1))),
            func.count(case((and_(mine, Inquiry.due_at < now), 1))),
            func.count(case((and_(mine, Inquiry.due_at >= now), 1))),
        ).where(is_open, Inquiry.due_at < soon, Inquiry.answered_at.is_(None))
    ).one()
    escalated = session.scalar(select(func.count()).where(is_open, Inquiry.escalated.is_(True)))
    return Counts(
        int(my or 0), int(unassigned or 0), int(overdue or 0), int(escalated or 0), int(total or 0),
        int(my_overdue or 0), int(my_soon or 0),
    )  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _due_cursor(inquiry: Inquiry) -> str:
    due = inquiry.due_at or _EPOCH
    return f"{(due - _EPOCH) // timedelta(microseconds=1)}.{inquiry.id}"


def _parse_due_cursor(after: str) -> tuple[datetime, int]:
    micros, _, ident = after.partition(".")
    if not (micros.isascii() and micros.isdigit() and ident.isascii() and ident.isdigit()):
        raise _refuse("bad_cursor")
    if len(micros) > 18 or len(ident) > 18:
        raise _refuse("bad_cursor")
    return _EPOCH + timedelta(microseconds=int(micros)), int(ident)


def _tab_filters(tab: str, me: int, status: str | None, now: datetime) -> list[ColumnElement[bool]]:
    if tab == "mine":
        return [Inquiry.assignee_id == me, Inquiry.status == (status or INQUIRY_OPEN)]
    if tab == "all":
        return [Inquiry.status == status] if status is not None else []
    by_tab = {
        "unassigned": Inquiry.assignee_id.is_(None),
        "overdue": _unanswered_overdue(now),
        "escalated": Inquiry.escalated.is_(True),
    }
    return [Inquiry.status == INQUIRY_OPEN, by_tab[tab]]


def _check_inbox(tab: str, category: str | None, status: str | None, limit: int) -> None:
    if tab not in TABS:
        raise _refuse("tab")
    if category is not None and category not in CATEGORIES:
        raise _refuse("category")
    if status is not None and status not in STATUSES:
        raise _refuse("status")
    if not 1 <= limit <= 500:
        raise _refuse("bad_cursor")


def inbox(
    session: Session,
    *,
    tab: str,
    me: int,
    category: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> InboxPage:
    """A page of the inbox. ``mine``, ``unassigned``, ``overdue`` and ``escalated`` list open inquiries, soonest
    due first (``status`` narrows ``mine`` and ``all`` only); ``all`` lists newest first. ``after`` is the previous
    page's cursor (keyset paging). Raises ``ValidationFailed`` for an unknown tab, category, status or cursor."""
    _check_inbox(tab, category, status, limit)
    now = now or utcnow()
    filters = _tab_filters(tab, me, status, now)
    if category is not None:
        filters.append(Inquiry.category == category)
    by_due = tab != "all" and not (tab == "mine" and status == INQUIRY_CLOSED)
    query = select(Inquiry, StaffAccount.display_name).outerjoin(StaffAccount, StaffAccount.id == Inquiry.assignee_id)
    if by_due:
        if after:
            due, ident = _parse_due_cursor(after)
            filters.append(or_(Inquiry.due_at > due, and_(Inquiry.due_at == due, Inquiry.id > ident)))
        query = query.where(*filters).order_by(Inquiry.due_at, Inquiry.id)
    else:
        if after:
            if not (after.isascii() and after.isdigit() and len(after) < 19):
                raise _refuse("bad_cursor")
            filters.append(Inquiry.id < int(after))
        query = query.where(*filters).order_by(Inquiry.id.desc())
    found = session.execute(query.limit(limit + 1)).all()
    rows = [_row(inquiry, name, now) for inquiry, name in found[:limit]]
    cursor = None
    if len(found) > limit:
        last = found[limit - 1][0]
        cursor = _due_cursor(last) if by_due else str(last.id)
    return InboxPage(rows, cursor)


def _row(inquiry: Inquiry, assignee: str | None, now: datetime) -> InboxRow:
    return InboxRow(
        id=inquiry.id,
        question=inquiry.question[:80],
        channel=inquiry.channel,
        category=inquiry.category,
        priority=inquiry.priority,
        status=inquiry.status,
        assignee=assignee,
        due_at=inquiry.due_at,
        overdue=inquiry.status == INQUIRY_OPEN
        and inquiry.answered_at is None
        and inquiry.due_at is not None
        and inquiry.due_at < now,
        escalated=inquiry.escalated,
        answered=inquiry.answered_at is not None,
        created_at=inquiry.created_at,
    )


# --- one inquiry --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    kind: str
    actor: str
    body: str | None
    msg_type: str | None
    media_id: str | None
    delivery: str | None
    delivered_at: datetime | None
    staff_name: str | None  # an assignment's or escalation's target
    at: datetime


@dataclass(frozen=True)
class InquiryView:
    inquiry: Inquiry
    assignee: str | None
    events: list[EventView]
    overdue: bool
    has_requester: bool  # sealed requester details to reveal (audited)


def view(session: Session, inquiry_id: int, *, now: datetime | None = None) -> InquiryView:
    """An inquiry with its transcript and every step, in order; a reply carries its delivery state."""
    inquiry = _get(session, inquiry_id)
    names = dict(session.execute(select(StaffAccount.id, StaffAccount.display_name)).all())
    events = [
        EventView(
            id=e.id,
            kind=e.kind,
            actor=e.actor,
            body=e.body,
            msg_type=e.msg_type,
            media_id=e.media_id,
            delivery=e.delivery,
            delivered_at=e.delivered_at,
            staff_name=names.get(e.staff_account_id) if e.staff_account_id else None,
            at=e.at,
        )
        for e in session.scalars(
            select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry_id).order_by(InquiryEvent.id)
        )
    ]
    now = now or utcnow()
    return InquiryView(
        inquiry=inquiry,
        assignee=names.get(inquiry.assignee_id) if inquiry.assignee_id else None,
        events=events,
        overdue=_row(inquiry, None, now).overdue,
        has_requester=inquiry.requester_sealed is not None,
    )


def media_event(session: Session, inquiry_id: int, event_id: int, *, actor: str) -> InquiryEvent:
    """A user's image or voice message of this inquiry, to fetch through the gateway (audited: it may show a
    person). ``NotFound`` for another inquiry's event or a text message."""
    event = session.get(InquiryEvent, event_id)
    if event is None or event.inquiry_id != inquiry_id or event.kind != MESSAGE or not event.media_id:
        raise NotFound(f"no media event {event_id} in inquiry {inquiry_id}")
    audit.record(session, actor=actor, action="inquiry.media_view", inquiry_id=inquiry_id, event_id=event_id)
    return event


def askers(session: Session, mp_openid: str, unionid: str | None) -> list[str]:
    """The openids whose inquiries a mini-program user reads as their own: their mini-program openid and, when
    WeChat gave the session a unionid, the official-account openid of the follower with that unionid (the same
    person: what they asked in the chat, and its answers). Identity comes only from the server-side session."""
    openids = [mp_openid]
    if unionid:
        openids += session.scalars(
            select(Follower.openid).where(Follower.unionid == unionid, Follower.openid != mp_openid)
        )
    return openids


def _openids(openid: str | Sequence[str]) -> list[str]:
    return [openid] if isinstance(openid, str) else list(openid)


def of_user(
    session: Session, openid: str | Sequence[str], *, after_id: int | None = None, limit: int = 20
) -> tuple[list[Inquiry], bool]:
    """The inquiries a user asked (newest first, ``after_id`` for the next page) and whether more follow;
    ``openid`` is one openid or the user's :func:`askers`. Listing marks nothing shown (see :func:`own`)."""
    query = select(Inquiry).where(Inquiry.openid.in_(_openids(openid)))
    if after_id is not None:
        query = query.where(Inquiry.id < after_id)
    found = list(session.scalars(query.order_by(Inquiry.id.desc()).limit(limit + 1)))
    return found[:limit], len(found) > limit


def transcripts(session: Session, inquiry_ids: list[int]) -> dict[int, list[InquiryEvent]]:
    """What the askers may see of these inquiries (their messages and the replies), in order, in one query."""
    found: dict[int, list[InquiryEvent]] = {i: [] for i in inquiry_ids}
    if inquiry_ids:
        for event in session.scalars(
            select(InquiryEvent)
            .where(InquiryEvent.inquiry_id.in_(inquiry_ids), InquiryEvent.kind.in_((MESSAGE, REPLY)))
            .order_by(InquiryEvent.id)
        ):
            found[event.inquiry_id].append(event)
    return found


def own(session: Session, openid: str | Sequence[str], inquiry_id: int) -> tuple[Inquiry, list[InquiryEvent]]:
    """One of the user's own inquiries (``openid``: one openid or the user's :func:`askers`) with what the user may
    see of it (their messages and the replies); another user's is ``NotFound``, exactly as one that does not exist.
    Reads only: :func:`read_own` is the mini-program's reading, which also marks a held answer shown."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None or inquiry.openid not in _openids(openid):
        raise NotFound(f"no inquiry {inquiry_id} of this user")
    events = session.scalars(
        select(InquiryEvent)
        .where(InquiryEvent.inquiry_id == inquiry_id, InquiryEvent.kind.in_((MESSAGE, REPLY)))
        .order_by(InquiryEvent.id)
    ).all()
    return inquiry, list(events)


def read_own(
    sessions: Callable[..., AbstractContextManager[Session]], mp_openid: str, unionid: str | None, inquiry_id: int
) -> tuple[Inquiry, list[InquiryEvent]]:
    """The mini-program user reads one of their own inquiries (:func:`own` over their :func:`askers`). An answer
    held for them (sent while their chat window was closed, ``Inquiry.answer_waiting``) is on their screen now, so it
    is marked ``shown`` through ``delivery.shown_in_app`` (the bot's own marking) and the bot does not repeat it at
    their next message.
    ``sessions`` is ``Database.session``: the common case (nothing held) is one read-only unit of work; the marking
    is a second, writing unit whose first statement is the claim (SQLite cannot turn a reading transaction into a
    writing one once another writer has committed). Reading twice, or after the bot showed it, changes nothing."""
    with sessions() as session:
        openids = askers(session, mp_openid, unionid)
        inquiry, events = own(session, openids, inquiry_id)
        if not inquiry.answer_waiting:
            return inquiry, events
    with sessions(write=True) as session:
        delivery.shown_in_app(session, inquiry_id)
        return own(session, openids, inquiry_id)


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthRow:
    month: str  # YYYY-MM, Beijing time
    category: str
    total: int
    within_sla: int  # answered at or before the due time

    @property
    def share(self) -> float | None:
        return self.within_sla / self.total if self.total else None


def report(session: Session, *, since: date, until: date) -> list[MonthRow]:
    """Inquiries per Beijing month (``since`` to ``until``, whole months) and category, with how many got their
    first answer within the SLA (``answered_at <= due_at``)."""
    start = _month_start(since)
    end = _month_start(_next_month(until))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        month = func.to_char(func.timezone("Asia/Shanghai", Inquiry.created_at), "YYYY-MM")
    else:
        month = func.strftime("%Y-%m", Inquiry.created_at, "+8 hours")
    in_sla = func.count(case((and_(Inquiry.answered_at.is_not(None), Inquiry.answered_at <= Inquiry.due_at), 1)))
    rows = session.execute(
        select(month.label("month"), Inquiry.category, func.count(), in_sla)
        .where(Inquiry.created_at >= start, Inquiry.created_at < end)
        .group_by(month, Inquiry.category)
        .order_by(month, Inquiry.category)
    ).all()
    return [MonthRow(str(m), str(c), int(n), int(w)) for m, c, n, w in rows]


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _month_start(day: date) -> datetime:
    """00:00 Beijing time on the first of ``day``'s month, in UTC."""
    return day_bounds(date(day.year, day.month, 1))[0]


def months(since: date, until: date) -> list[str]:
    """Every month from ``since`` to ``until`` as YYYY-MM (the report's axis, quiet months included)."""
    out, cursor = [], date(since.year, since.month, 1)
    while cursor <= until:
        out.append(f"{cursor.year:04d}-{cursor.month:02d}")
        cursor = _next_month(cursor)
    return out


def claim_stage(session: Session, inquiry_id: int, stage: int) -> bool:
    """Move an inquiry's reminder stage up to ``stage`` unless a concurrent pass did (the reminders' at-most-once)."""
    result = session.execute(
        update(Inquiry)
        .where(Inquiry.id == inquiry_id, Inquiry.reminder_stage < stage, Inquiry.status == INQUIRY_OPEN)
        .values(reminder_stage=stage)
    )
    return bool(getattr(result, "rowcount", 0))
