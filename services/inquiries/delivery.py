"""Delivering staff answers to inquiries, and recording how each one went.

Owns the reply step of an inquiry: :func:`reply` validates the answer, records it as a ``reply`` event (the written
record) and arranges its delivery inside the caller's transaction; the outbox sends it later, and its outcome flows
back to the event through :func:`on_outbox_outcome` (called by ``services.outbox`` in the same transaction that
records the row's final status, so a crash can never leave the two disagreeing). By the inquiry's channel:

- ``wechat`` (official-account chat): customer-service text messages through the outbox. An answer longer than one
  message (``CS_TEXT_MAX_BYTES``) is split at paragraph, line or sentence boundaries into numbered parts; the parts
  are queued one at a time (the next when the previous is sent), so they arrive in order even when one is retried.
  An answer needing more parts than a user's 48-hour allowance is refused (staff shorten it or send a link): it
  is never cut silently. Whether the user's window is open is decided at send time, by the gateway's
  customer-service tracker (it answers 45015/45047 without calling WeChat): the window can open (the user writes)
  or close while the row waits, and only the send knows. A part refused that way ends its outbox row
  ``failed:45015`` and the answer is then **held**: ``Inquiry.answer_waiting`` is set, a template message
  (``inquiries.answer_template_id``) says an answer is waiting, and :func:`held_answers` gives the unsent text to
  the bot at the user's next message. If the user reads the inquiry in the mini-program first (its detail page;
  the same person by unionid), :func:`shown_in_app` marks it ``shown`` there and the bot owes nothing: both take
  it through one claim (:func:`_claim`, a conditional ``UPDATE`` of ``answer_waiting``), so it is shown once.
- ``miniprogram``: the answer is shown in the mini-program (the API lists reply events); a subscribe message
  (``inquiries.answer_subscribe_template_id``) tells the user, when they left a consent (43101: none left, normal).
- ``phone``, ``letter``, ``email``, ``in_person``: the reply is the written answer staff give by that channel
  (``recorded``).

The event's ``delivery`` goes: ``queued`` → ``sent``; or ``held`` → ``notified_template`` / ``notice_failed:<code>``
→ ``shown``; or ``queued`` → ``notified_subscribe`` / ``in_app``; or ``failed:<errcode>`` (the user unfollowed,
blocked the account, …); or ``recorded``. ``delivered_at`` is when it reached the user (or was recorded).

Whatever the user reads is written in their language (``services.followers.language_of``): the answer's header and
part markers, and the template notice's own lines (``first``, ``remark``: free text around the template's fields).
The subscribe message's fields stay in Chinese, the language its template is registered in on the WeChat platform.

Also :func:`fetch_media`: a chat image or voice of the transcript, fetched from WeChat for staff (temporary media is
kept 3 days; after that :class:`MediaExpired`).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from core import i18n, texts
from core.clock import beijing_minutes
from core.errors import NotFound, ValidationFailed, WeChatAPIError, XiaoyouError
from core.settings import Settings
from models import Inquiry, InquiryEvent, OutboundMessage, utcnow
from models.inquiry import REPLY
from services import followers, outbox
from services.ports import MediaDownloader, Messenger, MiniProgramPort, TemplateSender

log = logging.getLogger(__name__)

# WeChat's limit for one customer-service text message: about 2,048 bytes of UTF-8, like a passive reply (45002
# "content size out of limit" above it; the emulator enforces the same).
CS_TEXT_MAX_BYTES = 2048
# An answer recorded for a phone, letter, e-mail or in-person inquiry, or shown in the mini-program.
RECORD_MAX_CHARS = 10000
KEY_PREFIX = "inquiry-reply:"
MP_PAGE = "pages/inquiries/detail"  # the mini-program page a subscribe message opens (with ?id=<inquiry>)
_KEY = re.compile(r"^inquiry-reply:(\d+):(\d+|template|subscribe)#0$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Inquiry channels answered in the official-account chat / in the mini-program; the others are recorded only.
CHAT, MINIPROGRAM = "wechat", "miniprogram"

QUEUED, SENT, HELD, NOTIFIED_TEMPLATE, NOTIFIED_SUBSCRIBE, IN_APP, SHOWN, RECORDED = (
    "queued",
    "sent",
    "held",
    "notified_template",
    "notified_subscribe",
    "in_app",
    "shown",
    "recorded",
)
FALLBACK = "fallback_template"  # a part's payload: the template message to send if the window is closed
NOTICE_FAILED = "notice_failed:"  # held, but the template message saying so failed: the answer still waits
FAILED = "failed:"
WINDOW_ERRCODES = frozenset({45015, 45047})  # the customer-service window is closed or used up
NO_CONSENT = 43101


class MediaExpired(XiaoyouError):
    """WeChat no longer has the media (temporary media lives 3 days) or never had it (40007)."""

    code = "media_expired"
    status = 410
    user_message = i18n.Text(lambda: texts.INQUIRY_MEDIA_EXPIRED)


# --- the answer's text --------------------------------------------------------------------------------------------

_BOUNDARIES = (
    re.compile(r"\n\s*\n"),  # a paragraph
    re.compile(r"\n"),  # a line
    re.compile(r"[。！？!?；;…]+[”’」』）)]*|\.(?=\s)"),  # a sentence
    re.compile(r"[，,、：:]|\s"),  # a clause or a word
)


def _fit(text: str, max_bytes: int) -> int:
    """The number of leading characters of ``text`` whose UTF-8 form fits ``max_bytes``."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return len(text)
    return len(encoded[:max_bytes].decode(errors="ignore"))


def split_text(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, each ending at the best boundary in its second
    half (paragraph, line, sentence, clause or word; a hard cut only when there is none). Nothing is dropped:
    ``"".join(pieces) == text``."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode()) > max_bytes:
        window = _fit(rest, max_bytes)
        cut = window
        for boundary in _BOUNDARIES:
            ends = [m.end() for m in boundary.finditer(rest, 0, window) if m.end() >= window // 2]
            if ends:
                cut = ends[-1]
                break
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def _clean(body: str) -> str:
    body = unicodedata.normalize("NFC", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not body:
        raise ValidationFailed("empty reply", user_message=texts.INQUIRY_REPLY_EMPTY)
    if _CONTROL.search(body):
        raise ValidationFailed("control characters in a reply", user_message=texts.INQUIRY_REPLY_BINARY)
    return body


def _marker_bytes(total: int) -> int:
    return len(texts.INQUIRY_ANSWER_PART.format(n=total, total=total).encode())


def _pieces(inquiry_id: int, body: str) -> list[str]:
    """The answer with its header, cut to fit one customer-service message each (room left for the marker)."""
    whole = texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id) + body
    if len(whole.encode()) <= CS_TEXT_MAX_BYTES:
        return [whole]
    return split_text(whole, CS_TEXT_MAX_BYTES - _marker_bytes(99))


def chat_parts(inquiry_id: int, body: str) -> list[str]:
    """The customer-service texts of an answer: the header on the first, ``(n/total)`` on each when split."""
    pieces = _pieces(inquiry_id, body)
    if len(pieces) == 1:
        return pieces
    total = len(pieces)
    return [p.rstrip() + texts.INQUIRY_ANSWER_PART.format(n=n, total=total) for n, p in enumerate(pieces, 1)]


def _user_language(session: Session, inquiry: Inquiry) -> str:
    """The language the answer is written to the user in (its header, part markers and notice lines)."""
    return followers.language_of(session, inquiry.openid) if inquiry.openid else i18n.SOURCE


def _check_length(session: Session, settings: Settings, inquiry: Inquiry, body: str) -> None:
    if inquiry.channel == CHAT:
        max_parts = settings.customer_service.messages_per_user_message
        with i18n.use(_user_language(session, inquiry)):  # split as it will be sent; the refusal is for staff
            parts = len(chat_parts(inquiry.id, body))
        if parts > max_parts:
            part_chars = (CS_TEXT_MAX_BYTES - _marker_bytes(99)) // 3  # Chinese characters are 3 bytes in UTF-8
            raise ValidationFailed(
                f"reply needs {parts} customer-service messages, at most {max_parts}",
                user_message=texts.INQUIRY_REPLY_TOO_LONG.format(
                    part_chars=part_chars, parts=parts, max_parts=max_parts, max_chars=part_chars * max_parts
                ),
            )
    elif len(body) > RECORD_MAX_CHARS:
        raise ValidationFailed(
            f"reply over {RECORD_MAX_CHARS} characters",
            user_message=texts.INQUIRY_REPLY_TOO_LONG_RECORD.format(max_chars=RECORD_MAX_CHARS),
        )


# --- replying -----------------------------------------------------------------------------------------------------


def _key(event_id: int, what: int | str) -> str:
    return f"{KEY_PREFIX}{event_id}:{what}"


def _queue_part(
    session: Session, inquiry: Inquiry, event: InquiryEvent, n: int, fallback: dict[str, Any] | None
) -> bool:
    """Queue part ``n`` (0-based) of the answer; False when there is no such part. The row carries its fallback
    (the template message to queue if the window is closed), so whoever sends it needs no settings."""
    if inquiry.openid is None:
        return False
    with i18n.use(_user_language(session, inquiry)):
        parts = chat_parts(inquiry.id, event.body or "")
    if n >= len(parts):
        return False
    payload: dict[str, Any] = {"msgtype": "text", "content": parts[n]}
    if fallback is not None:
        payload[FALLBACK] = fallback
    outbox.enqueue(session, _key(event.id, n), inquiry.openid, [payload])
    return True


def _subscribe_payload(settings: Settings, inquiry: Inquiry, now: datetime) -> dict[str, Any]:
    return {
        "template_id": settings.inquiries.answer_subscribe_template_id,
        "page": f"{MP_PAGE}?id={inquiry.id}",
        "data": {
            "thing1": {"value": texts.INQUIRY_ANSWER_NOTICE_TITLE[:20]},
            "thing2": {"value": _excerpt(inquiry.question, 20)},
            "time3": {"value": beijing_minutes(now)},
            "thing4": {"value": texts.INQUIRY_ANSWER_NOTICE_HINT_MP[:20]},
        },
    }


def _template_payload(settings: Settings, inquiry: Inquiry, key: str, now: datetime) -> dict[str, Any]:
    return {
        "template_id": settings.inquiries.answer_template_id,
        "client_msg_id": key,
        "data": {
            "first": {"value": texts.INQUIRY_ANSWER_NOTICE_TITLE},
            "keyword1": {"value": _excerpt(inquiry.question, 20)},
            "keyword2": {"value": beijing_minutes(now)},
            "remark": {"value": texts.INQUIRY_ANSWER_NOTICE_HINT},
        },
    }


def _excerpt(text: str, chars: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


def reply(
    session: Session, settings: Settings, inquiry_id: int, body: str, *, actor: str, now: datetime | None = None
) -> InquiryEvent:
    """Record a staff answer as a ``reply`` event and arrange its delivery (outbox rows, in the caller's
    transaction). Sets ``answered_at`` the first time. Raises ``ValidationFailed`` for an empty answer, control
    characters, or one too long to send (never cut); ``NotFound`` for no such inquiry."""
    now = now or utcnow()
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound(f"inquiry {inquiry_id}")
    body = _clean(body)
    _check_length(session, settings, inquiry, body)
    event = InquiryEvent(inquiry_id=inquiry.id, kind=REPLY, actor=actor, body=body, at=now)
    session.add(event)
    if inquiry.answered_at is None:
        inquiry.answered_at = now
    session.flush()
    if inquiry.channel == CHAT and inquiry.openid:
        event.delivery = QUEUED
        fallback = None
        if settings.inquiries.answer_template_id:
            with i18n.use(_user_language(session, inquiry)):
                fallback = _template_payload(settings, inquiry, _key(event.id, "template"), now)
        _queue_part(session, inquiry, event, 0, fallback)
    elif inquiry.channel == MINIPROGRAM and inquiry.openid:
        if settings.inquiries.answer_subscribe_template_id:
            event.delivery = QUEUED
            payload = _subscribe_payload(settings, inquiry, now)
            outbox.enqueue(session, _key(event.id, "subscribe"), inquiry.openid, [payload], channel=outbox.SUBSCRIBE)
        else:
            event.delivery = IN_APP
    else:
        event.delivery, event.delivered_at = RECORDED, now
    session.flush()
    return event


# --- the outbox's outcome -------------------------------------------------------------------------------------------


def _errcode(status: str) -> int | None:
    code = status.removeprefix(FAILED)
    return int(code) if status.startswith(FAILED) and code.lstrip("-").isdigit() else None


def _template_outcome(event: InquiryEvent, status: str) -> None:
    if event.delivery == HELD:  # else already shown at a message the user sent meanwhile
        event.delivery = NOTIFIED_TEMPLATE if status == "sent" else NOTICE_FAILED + status.removeprefix(FAILED)


def _subscribe_outcome(event: InquiryEvent, status: str, now: datetime) -> None:
    if event.delivery != QUEUED:
        return
    if status == "sent":
        event.delivery, event.delivered_at = NOTIFIED_SUBSCRIBE, now
    elif _errcode(status) == NO_CONSENT:
        event.delivery = IN_APP  # no consent left: normal, the mini-program shows the answer
    else:
        event.delivery = status


def _part_outcome(
    session: Session, inquiry: Inquiry, event: InquiryEvent, n: int, *, payload: dict[str, Any], status: str
) -> None:
    if event.delivery != QUEUED:
        return
    if status == "sent":
        if not _queue_part(session, inquiry, event, n + 1, payload.get(FALLBACK)):
            event.delivery, event.delivered_at = SENT, utcnow()
    elif _errcode(status) in WINDOW_ERRCODES:
        event.delivery = HELD
        inquiry.answer_waiting = True
        notice = payload.get(FALLBACK)
        if notice is not None and inquiry.openid:
            outbox.enqueue(session, _key(event.id, "template"), inquiry.openid, [notice], channel=outbox.TEMPLATE)
    else:
        event.delivery = status  # failed:<errcode>: the user unfollowed, blocked us, …: staff see it


def on_outbox_outcome(session: Session, key: str, payload: dict[str, Any], status: str) -> None:
    """Called by the outbox, in the transaction that records a row's final status (``sent`` or ``failed:<code>``),
    for rows keyed ``inquiry-reply:…``: moves the reply event on (and queues the next part, or the fallback)."""
    match = _KEY.match(key)
    # The inquiry's lock before its event's, as held_answers and shown_in_app take them: the other order could
    # deadlock with a push (or a mini-program read) showing the held answer while a second reply is being held.
    # An event's inquiry and kind never change, so the unlocked read that finds them is safe.
    found = session.get(InquiryEvent, int(match.group(1))) if match else None
    inquiry = (
        session.get(Inquiry, found.inquiry_id, with_for_update=True)
        if found is not None and found.kind == REPLY
        else None
    )
    event = (
        session.get(InquiryEvent, found.id, with_for_update=True, populate_existing=True)
        if found is not None and inquiry is not None
        else None
    )
    if match is None or event is None or inquiry is None:
        log.warning("outbox key %r is not a known inquiry reply's", key)
        return
    what = match.group(2)
    if what == "template":
        _template_outcome(event, status)
    elif what == "subscribe":
        _subscribe_outcome(event, status, utcnow())
    else:
        _part_outcome(session, inquiry, event, int(what), payload=payload, status=status)


# --- held answers ---------------------------------------------------------------------------------------------------


def _waiting(delivery: str | None) -> bool:
    return delivery in (HELD, NOTIFIED_TEMPLATE) or (delivery or "").startswith(NOTICE_FAILED)


def _sent_parts(session: Session, event_id: int) -> int:
    pattern = f"{KEY_PREFIX}{event_id}:%"
    return int(
        session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.idempotency_key.like(pattern),
                OutboundMessage.channel == outbox.CUSTOM,
                OutboundMessage.status == "sent",
            )
        )
        or 0
    )


# Built once, run on the connection: this probe runs on every text push, and building the ORM select each time cost
# about 120 us of CPU against about 25 us for this (bench/RESULTS.md, issue 17).
_INQUIRIES = cast(Table, Inquiry.__table__)
_HELD_PROBE = (
    select(_INQUIRIES.c.id)
    .where(_INQUIRIES.c.openid == bindparam("openid"), _INQUIRIES.c.answer_waiting.is_(True))
    .limit(1)
)


def has_held(session: Session, openid: str) -> bool:
    """Whether an answer waits for this user: one probe of the ``ix_inquiries_answer_waiting`` partial index (it
    holds only the waiting rows), cheap enough for every push."""
    return session.connection().execute(_HELD_PROBE, {"openid": openid}).first() is not None


def _claim(session: Session, *where: ColumnElement[bool]) -> list[int]:
    """Take the waiting answers of the inquiries matching ``where`` for this transaction: clear their
    ``answer_waiting`` with one conditional ``UPDATE`` and return the ids it changed, oldest first.

    The ``UPDATE`` is the claim, so two readers at once (the bot at the user's next message, the mini-program's
    detail page) never both deliver. PostgreSQL: it locks the rows; the second waits, re-checks ``answer_waiting``
    after the first commits and changes nothing. SQLite has no row locks: one transaction writes at a time, and a
    write that is its transaction's first statement (the mini-program's read, see :func:`shown_in_app`) or comes
    from a push (which holds the write lock from its first statement) always sees the latest commit. Both paths take
    the inquiry rows before their events (:func:`_show`), so they cannot deadlock each other."""
    claimed = session.scalars(
        update(Inquiry)
        .where(Inquiry.answer_waiting.is_(True), *where)
        .values(answer_waiting=False)
        .returning(Inquiry.id)
    )
    return sorted(claimed)


def _show(session: Session, inquiry_ids: list[int], now: datetime) -> list[str]:
    """Mark the waiting answers of the claimed inquiries ``shown`` (``delivered_at`` = ``now``) and return their
    texts, oldest first (each with its inquiry's number; a part already sent is not repeated). The one place a held
    answer becomes shown, whoever showed it."""
    if not inquiry_ids:
        return []
    events = session.scalars(
        select(InquiryEvent)
        .where(InquiryEvent.inquiry_id.in_(inquiry_ids), InquiryEvent.kind == REPLY)
        .order_by(InquiryEvent.id)
        .with_for_update()
    )
    shown: list[str] = []
    for event in events:
        if not _waiting(event.delivery):
            continue
        sent = _sent_parts(session, event.id)
        body = event.body or "" if sent == 0 else "".join(_pieces(event.inquiry_id, event.body or "")[sent:])
        shown.append(texts.INQUIRY_HELD_ANSWER.format(number=event.inquiry_id, body=body.strip()))
        event.delivery, event.delivered_at = SHOWN, now
    session.flush()
    return shown


def held_answers(session: Session, openid: str, *, now: datetime | None = None) -> list[str]:
    """The answers held for this official-account user (their window was closed), oldest first, as texts to show
    them now (each with its inquiry's number; a part already sent is not repeated); marks them ``shown``. The bot
    calls this on the user's next message: a cheap indexed lookup when nothing waits. An answer the user has read in
    the mini-program meanwhile (:func:`shown_in_app`) is shown already and not repeated."""
    return _show(session, _claim(session, Inquiry.openid == openid), now or utcnow())


def shown_in_app(session: Session, inquiry_id: int, *, now: datetime | None = None) -> int:
    """The user read this inquiry in the mini-program: its held answers are ``shown`` there, exactly as if the bot
    had shown them (same state, same claim: :func:`held_answers` will not repeat them). Returns how many answers it
    marked: 0 when none was held (never held, or shown already: idempotent). The caller has checked the inquiry is
    the user's. On SQLite call it as the transaction's first statement (a transaction that has read cannot take the
    write lock once another writer has committed)."""
    return len(_show(session, _claim(session, Inquiry.id == inquiry_id), now or utcnow()))


# --- sending now ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Senders:
    """The WeChat ports delivery needs: the official account (customer-service and template messages) and the
    mini-program (subscribe messages). ``wechat.gateway.Gateway`` gives both."""

    official: Messenger
    templates: TemplateSender
    miniprogram: MiniProgramPort


def send_now(sessions: outbox.SessionFactory, senders: Senders, settings: Settings, event_id: int) -> str | None:
    """Deliver a reply's queued outbox rows at once (the console calls this after its transaction committed, so the
    staff member sees the outcome); whatever cannot go now is left to the outbox job. Returns the event's delivery."""
    seen: set[int] = set()
    while True:
        with sessions() as session:
            ids = [
                i
                for i in session.scalars(
                    select(OutboundMessage.id)
                    .where(
                        OutboundMessage.idempotency_key.like(f"{KEY_PREFIX}{event_id}:%"),
                        OutboundMessage.status == "pending",
                        OutboundMessage.next_attempt_at <= utcnow(),
                    )
                    .order_by(OutboundMessage.id)
                )
                if i not in seen
            ]
        if not ids:
            break
        for row_id in ids:
            seen.add(row_id)
            outbox.deliver(
                sessions,
                senders.official,
                row_id,
                settings.outbox.max_attempts,
                settings.outbox.retry_interval_seconds,
                templates=senders.templates,
                subscriber=senders.miniprogram,
            )
    with sessions() as session:
        event = session.get(InquiryEvent, event_id)
        return event.delivery if event else None


# --- media for staff ------------------------------------------------------------------------------------------------


def fetch_media(session: Session, gateway: MediaDownloader, inquiry_id: int, event_id: int) -> tuple[bytes, str]:
    """The image or voice of a chat message in an inquiry's transcript, from WeChat: ``(content, content_type)``.
    Raises ``NotFound`` (no such event in this inquiry, or it has no media) or :class:`MediaExpired` (WeChat keeps
    temporary media 3 days)."""
    event = session.get(InquiryEvent, event_id)
    if event is None or event.inquiry_id != inquiry_id:
        raise NotFound(f"event {event_id} of inquiry {inquiry_id}")
    if not event.media_id:
        raise NotFound(f"event {event_id} has no media", user_message=texts.INQUIRY_MEDIA_NONE)
    try:
        return gateway.download_media(event.media_id)
    except WeChatAPIError as exc:
        if exc.errcode == 40007:
            raise MediaExpired(f"media of event {event_id} is gone (40007)") from exc
        raise


def reply_payloads(session: Session, event_id: int) -> Sequence[dict[str, Any]]:
    """The outbox payloads queued for a reply so far, in order (for staff and tests)."""
    rows = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.idempotency_key.like(f"{KEY_PREFIX}{event_id}:%"))
        .order_by(OutboundMessage.id)
    )
    return [json.loads(r.payload_json) | {"_status": r.status, "_channel": r.channel} for r in rows]
