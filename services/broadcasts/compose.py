"""Composing a broadcast: the draft (title, segment, channels in fallback order, content, timing), its precise
validation, the WeChat payload each channel sends, the preview of exactly what a recipient sees, and the test send
to the staff member's own WeChat.

Content (``Broadcast.content_json``) is one body and the template blocks its channels need:

- ``kind``: ``text`` (``text``), ``news`` (``article``: title, digest, cover image URL and/or the WeChat material
  ``media_id``, link) or ``template`` (no body: only template and subscribe channels);
- ``template``: an official-account template message (``template_id``, ``fields`` name → value, optional ``url``),
  required when the channels include ``template``;
- ``subscribe``: a mini-program subscribe message (``template_id``, ``fields``, optional ``page``), required when the
  channels include ``subscribe``.

A mass send of an article needs its WeChat material id (mass ``mpnews`` carries only a ``media_id``); a
customer-service news message shows the cover from its URL. :func:`content_payload` is what the sender writes into
each recipient's outbox row (``services.broadcasts.delivery`` calls it): the mass payload is what
``OfficialAccount.mass_send`` / ``mass_preview`` take, the custom one what ``send_customer_message`` takes, the
template and subscribe ones what ``services.outbox`` sends. Only a draft can be edited; every save and test send is
audited.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.clock import BEIJING, beijing_minutes
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed, WeChatAPIError
from core.settings import Settings
from models import AuditEntry, StaffAccount
from models.base import utcnow
from models.broadcast import CHANNELS, CUSTOM, DRAFT, MASS, SUBSCRIBE, TEMPLATE, Broadcast, Segment
from services.databank import audit

E = texts.BROADCAST_ERRORS


def errcode_text(errcode: int | str) -> str:
    """WeChat's errcode in words, in the reader's language (for the test send and the delivery report)."""
    try:
        return str(texts.BROADCAST_ERRCODES.get(int(errcode), texts.BROADCAST_ERRCODE_OTHER))
    except ValueError:
        return str(texts.BROADCAST_ERRCODE_NETWORK if errcode == "network" else texts.BROADCAST_ERRCODE_OTHER)


KINDS = ("text", "news", "template")
TITLE_MAX = 120  # Broadcast.title
TEXT_MAX_BYTES = 2048  # a customer-service text (the fallback of a mass text) holds at most 2,048 bytes of UTF-8
ARTICLE_TITLE_MAX = 64  # WeChat's article title
ARTICLE_DIGEST_MAX = 120  # WeChat's article digest (摘要)
URL_MAX = 500
MEDIA_ID_MAX = 64
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")  # a template keyword: thing1, time2, first, remark
FIELD_VALUE_MAX = 200
FIELDS_MAX = 20
PAGE_MAX = 200
URL = re.compile(r"^https?://[^\s/]+\.[^\s]*$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LATEST = timedelta(days=90)  # a broadcast is scheduled at most this far ahead


@dataclass
class DraftInput:
    """What staff typed (the console's form or the CLI's options), as strings: :func:`save_draft` checks all of it."""

    title: str = ""
    segment_id: str = ""  # "" = every follower
    channels: list[str] = field(default_factory=list)  # fallback order
    kind: str = "text"
    text: str = ""
    article_title: str = ""
    article_digest: str = ""
    article_cover_url: str = ""
    article_media_id: str = ""
    article_url: str = ""
    template_id: str = ""
    template_fields: str = ""  # one "name: value" a line
    template_url: str = ""
    subscribe_template_id: str = ""
    subscribe_fields: str = ""
    subscribe_page: str = ""
    scheduled_at: str = ""  # "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM", Beijing time; "" = as soon as allowed
    ignore_quiet_hours: bool = False

    @classmethod
    def of(cls, broadcast: Broadcast) -> DraftInput:
        """The form's values of a saved draft (to edit it)."""
        content = json.loads(broadcast.content_json)
        article, tpl, sub = content.get("article", {}), content.get("template", {}), content.get("subscribe", {})
        return cls(
            title=broadcast.title,
            segment_id=str(broadcast.segment_id or ""),
            channels=broadcast.channels.split(","),
            kind=content["kind"],
            text=content.get("text", ""),
            article_title=article.get("title", ""),
            article_digest=article.get("digest", ""),
            article_cover_url=article.get("cover_url", ""),
            article_media_id=article.get("media_id", ""),
            article_url=article.get("url", ""),
            template_id=tpl.get("template_id", ""),
            template_fields=_fields_text(tpl.get("fields", {})),
            template_url=tpl.get("url", ""),
            subscribe_template_id=sub.get("template_id", ""),
            subscribe_fields=_fields_text(sub.get("fields", {})),
            subscribe_page=sub.get("page", ""),
            scheduled_at=beijing_minutes(broadcast.scheduled_at) if broadcast.scheduled_at else "",
            ignore_quiet_hours=broadcast.ignore_quiet_hours,
        )


def _fields_text(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in fields.items())


class _Problems:
    def __init__(self) -> None:
        self.found: list[FieldProblem] = []

    def add(self, name: str, problem: str, **values: Any) -> None:
        self.found.append(FieldProblem(name, problem, E[problem].format(**values)))

    def raise_any(self) -> None:
        if self.found:
            message = texts.CLAUSE_SEPARATOR.join(p.message for p in self.found)
            raise ValidationFailed(
                "broadcast draft refused: " + ", ".join(f"{p.field}:{p.problem}" for p in self.found),
                user_message=message,
                fields=self.found,
            )


def _text(problems: _Problems, name: str, value: str, *, required: bool, max_chars: int) -> str:
    value = value.strip()
    label = texts.BROADCAST_FIELD_NAMES[name]
    if not value:
        if required:
            problems.add(name, "required", field=label)
        return ""
    if CONTROL.search(value):
        problems.add(name, "bad_characters", field=label)
    elif len(value) > max_chars:
        problems.add(name, "too_long", field=label, max_chars=max_chars, length=len(value))
    return value


def _url(problems: _Problems, name: str, value: str, *, required: bool) -> str:
    value = _text(problems, name, value, required=required, max_chars=URL_MAX)
    if value and not URL.match(value):
        problems.add(name, "bad_url", field=texts.BROADCAST_FIELD_NAMES[name])
    return value


def parse_fields(problems: _Problems, name: str, value: str, *, required: bool) -> dict[str, str]:
    """``name: value`` lines (a colon, full-width or not) into a template's data, each line checked."""
    label = texts.BROADCAST_FIELD_NAMES[name]
    fields: dict[str, str] = {}
    lines = [line for line in value.replace("：", ":").splitlines() if line.strip()]
    if not lines:
        if required:
            problems.add(name, "required", field=label)
        return fields
    for number, line in enumerate(lines, start=1):
        key, colon, text = line.partition(":")
        key, text = key.strip(), text.strip()
        if not colon or not FIELD_NAME.match(key):
            problems.add(name, "bad_field_line", field=label, line=number)
        elif key in fields:
            problems.add(name, "duplicate_field", field=label, line=number, key=key)
        elif not text or len(text) > FIELD_VALUE_MAX or CONTROL.search(text):
            problems.add(name, "bad_field_value", field=label, line=number, key=key, max_chars=FIELD_VALUE_MAX)
        else:
            fields[key] = text
    if len(lines) > FIELDS_MAX:
        problems.add(name, "too_many_fields", field=label, max_fields=FIELDS_MAX, count=len(lines))
    return fields


def _when(problems: _Problems, value: str, now: datetime) -> datetime | None:
    value = value.strip().replace("T", " ")
    if not value:
        return None
    try:
        moment = datetime.strptime(value[:16], "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING).astimezone(UTC)
    except ValueError:
        problems.add("scheduled_at", "bad_time", value=value[:30])
        return None
    if len(value) > 16 and value[16:] not in (":00",):
        problems.add("scheduled_at", "bad_time", value=value[:30])
    elif moment < now - timedelta(minutes=1):
        problems.add("scheduled_at", "time_past")
    elif moment > now + LATEST:
        problems.add("scheduled_at", "time_too_late", days=LATEST.days)
    return moment


def _channels(problems: _Problems, values: list[str]) -> list[str]:
    chosen = [v.strip() for v in values if v.strip()]
    if not chosen:
        problems.add("channels", "no_channel")
    for value in chosen:
        if value not in CHANNELS:
            problems.add("channels", "bad_channel", value=value[:20], choices=texts.LIST_SEPARATOR.join(CHANNELS))
    if len(set(chosen)) != len(chosen):
        problems.add("channels", "duplicate_channel")
    return [c for c in dict.fromkeys(chosen) if c in CHANNELS]


def _body(problems: _Problems, draft: DraftInput, channels: list[str], content: dict[str, Any]) -> None:
    if draft.kind not in KINDS:
        problems.add("kind", "bad_kind", value=draft.kind[:20])
    elif draft.kind == "text":
        body = _text(problems, "text", draft.text, required=True, max_chars=TEXT_MAX_BYTES)
        if len(body.encode()) > TEXT_MAX_BYTES:
            problems.add("text", "text_too_long", max_bytes=TEXT_MAX_BYTES, length=len(body.encode()))
        content["text"] = body
    elif draft.kind == "news":
        article = {
            "title": _text(problems, "article_title", draft.article_title, required=True, max_chars=ARTICLE_TITLE_MAX),
            "digest": _text(
                problems, "article_digest", draft.article_digest, required=False, max_chars=ARTICLE_DIGEST_MAX
            ),
            "cover_url": _url(problems, "article_cover_url", draft.article_cover_url, required=False),
            "media_id": _text(
                problems, "article_media_id", draft.article_media_id, required=MASS in channels, max_chars=MEDIA_ID_MAX
            ),
            "url": _url(problems, "article_url", draft.article_url, required=True),
        }
        if article["media_id"] and not TEMPLATE_ID.match(article["media_id"]):
            problems.add("article_media_id", "bad_media_id")
        if CUSTOM in channels and not article["cover_url"]:
            problems.add("article_cover_url", "cover_needed")
        content["article"] = article
    elif draft.kind == "template":
        for channel in (MASS, CUSTOM):
            if channel in channels:
                problems.add("channels", "needs_body", channel=texts.BROADCAST_CHANNEL_NAMES[channel])


def _templates(problems: _Problems, draft: DraftInput, channels: list[str], content: dict[str, Any]) -> None:
    if TEMPLATE in channels or draft.template_id.strip():
        template_id = _text(problems, "template_id", draft.template_id, required=True, max_chars=64)
        if template_id and not TEMPLATE_ID.match(template_id):
            problems.add("template_id", "bad_template_id")
        block: dict[str, Any] = {
            "template_id": template_id,
            "fields": parse_fields(problems, "template_fields", draft.template_fields, required=True),
        }
        if url := _url(problems, "template_url", draft.template_url, required=False):
            block["url"] = url
        content["template"] = block
    if SUBSCRIBE in channels or draft.subscribe_template_id.strip():
        template_id = _text(problems, "subscribe_template_id", draft.subscribe_template_id, required=True, max_chars=64)
        if template_id and not TEMPLATE_ID.match(template_id):
            problems.add("subscribe_template_id", "bad_template_id")
        block = {
            "template_id": template_id,
            "fields": parse_fields(problems, "subscribe_fields", draft.subscribe_fields, required=True),
        }
        page = _text(problems, "subscribe_page", draft.subscribe_page, required=False, max_chars=PAGE_MAX)
        if page:
            if page.startswith(("http://", "https://")) or " " in page:
                problems.add("subscribe_page", "bad_page")
            block["page"] = page
        content["subscribe"] = block


def _content(problems: _Problems, draft: DraftInput, channels: list[str]) -> dict[str, Any]:
    content: dict[str, Any] = {"kind": draft.kind}
    _body(problems, draft, channels, content)
    _templates(problems, draft, channels, content)
    return content


def validate(session: Session, draft: DraftInput, *, now: datetime | None = None) -> dict[str, Any]:
    """Every field checked (all problems at once, ``ValidationFailed.fields``); the columns of a broadcast."""
    now = now or utcnow()
    problems = _Problems()
    title = _text(problems, "title", draft.title, required=True, max_chars=TITLE_MAX)
    segment_id: int | None = None
    if draft.segment_id.strip():
        raw = draft.segment_id.strip()
        segment = session.get(Segment, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
        if segment is None or segment.archived_at is not None:
            problems.add("segment_id", "unknown_segment", value=raw[:20])
        else:
            segment_id = segment.id
    channels = _channels(problems, draft.channels)
    content = _content(problems, draft, channels)
    scheduled_at = _when(problems, draft.scheduled_at, now)
    problems.raise_any()
    return {
        "title": title,
        "segment_id": segment_id,
        "channels": ",".join(channels),
        "content_json": json.dumps(content, ensure_ascii=False, sort_keys=True),
        "scheduled_at": scheduled_at,
        "ignore_quiet_hours": bool(draft.ignore_quiet_hours),
    }


def get(session: Session, broadcast_id: int, *, for_update: bool = False) -> Broadcast:
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    found = session.scalar(query.with_for_update() if for_update else query)
    if found is None:
        raise NotFound(f"no broadcast {broadcast_id}", user_message=E["not_found"].format(id=broadcast_id))
    return found


def save_draft(
    session: Session, draft: DraftInput, *, actor: str, broadcast_id: int | None = None, now: datetime | None = None
) -> Broadcast:
    """Create a draft, or change one (only while it is a draft). Audited ``broadcast.draft_saved``."""
    columns = validate(session, draft, now=now)
    if broadcast_id is None:
        broadcast = Broadcast(status=DRAFT, created_by=actor[:64], **columns)
        session.add(broadcast)
    else:
        broadcast = get(session, broadcast_id, for_update=True)
        if broadcast.status != DRAFT:
            raise Conflict(f"broadcast {broadcast_id} is {broadcast.status}", user_message=E["not_draft"])
        for name, value in columns.items():
            setattr(broadcast, name, value)
        broadcast.plan_json = None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="broadcast.draft_saved",
        broadcast_id=broadcast.id,
        title=broadcast.title,
        channels=broadcast.channels,
        segment_id=broadcast.segment_id,
        created=broadcast_id is None,
    )
    return broadcast


# --- payloads and the preview -----------------------------------------------------------------------------------


def content_of(broadcast: Broadcast) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(broadcast.content_json)
    return content


def channels_of(broadcast: Broadcast) -> list[str]:
    return [c for c in broadcast.channels.split(",") if c]


def _data(fields: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"value": value} for name, value in fields.items()}


def content_payload(broadcast: Broadcast, channel: str) -> dict[str, Any]:
    """The WeChat payload of ``channel`` for this broadcast: mass ``{"msgtype": "text"|"mpnews", ...}`` (as
    ``mass_send`` takes it), template ``{"template_id", "data", "url"?}``, subscribe ``{"template_id", "data",
    "page"?}``, custom ``{"msgtype": "text", "content"}`` or ``{"msgtype": "news", "articles": [...]}`` (as
    ``send_customer_message`` takes it). ``ValidationFailed`` for a channel the content cannot go through."""
    content = content_of(broadcast)
    kind = content["kind"]
    if channel == MASS and kind == "text":
        return {"msgtype": "text", "text": {"content": content["text"]}}
    if channel == MASS and kind == "news" and content["article"].get("media_id"):
        return {"msgtype": "mpnews", "mpnews": {"media_id": content["article"]["media_id"]}}
    if channel == CUSTOM and kind == "text":
        return {"msgtype": "text", "content": content["text"]}
    if channel == CUSTOM and kind == "news":
        article = content["article"]
        return {
            "msgtype": "news",
            "articles": [
                {
                    "title": article["title"],
                    "description": article["digest"],
                    "url": article["url"],
                    "image": article["cover_url"],
                }
            ],
        }
    if channel == TEMPLATE and "template" in content:
        block = content["template"]
        payload = {"template_id": block["template_id"], "data": _data(block["fields"])}
        return payload | ({"url": block["url"]} if block.get("url") else {})
    if channel == SUBSCRIBE and "subscribe" in content:
        block = content["subscribe"]
        payload = {"template_id": block["template_id"], "data": _data(block["fields"])}
        return payload | ({"page": block["page"]} if block.get("page") else {})
    raise ValidationFailed(
        f"broadcast {broadcast.id}: {kind} content cannot go by {channel}",
        user_message=E["channel_unsupported"].format(channel=texts.BROADCAST_CHANNEL_NAMES.get(channel, channel)),
    )


@dataclass(frozen=True)
class ChannelPreview:
    """What a recipient reached through ``channel`` sees: a text bubble, an article card, or a template card."""

    channel: str
    shape: str  # text | article | card
    title: str = ""
    body: str = ""
    image: str = ""  # a cover URL (an article by media_id: its cover is WeChat's)
    link: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    note: str = ""  # what the sender adds or WeChat changes (a mass article is WeChat's stored one)


def preview(broadcast: Broadcast) -> list[ChannelPreview]:
    """Per channel of the broadcast, in its fallback order, exactly what a recipient sees (from the payloads)."""
    shown = []
    for channel in channels_of(broadcast):
        payload = content_payload(broadcast, channel)
        if channel in (TEMPLATE, SUBSCRIBE):
            fields = tuple((name, value["value"]) for name, value in payload["data"].items())
            link = payload.get("url") or payload.get("page") or ""
            template = payload["template_id"]
            shown.append(
                ChannelPreview(
                    channel, "card", title=template, fields=fields, link=link, note=E["preview_template_note"]
                )
            )
        elif payload["msgtype"] == "text":
            body = payload["text"]["content"] if channel == MASS else payload["content"]
            shown.append(ChannelPreview(channel, "text", body=body))
        elif payload["msgtype"] == "news":
            article = payload["articles"][0]
            shown.append(
                ChannelPreview(
                    channel,
                    "article",
                    title=article["title"],
                    body=article["description"],
                    image=article["image"],
                    link=article["url"],
                )
            )
        else:  # mpnews: the article stored at WeChat under media_id, shown with our title, digest and cover
            article = content_of(broadcast)["article"]
            shown.append(
                ChannelPreview(
                    channel,
                    "article",
                    title=article["title"],
                    body=article["digest"],
                    image=article["cover_url"],
                    link=article["url"],
                    note=E["preview_mpnews_note"].format(media_id=payload["mpnews"]["media_id"]),
                )
            )
    return shown


# --- the test send ----------------------------------------------------------------------------------------------


def _test_sends_today(session: Session, broadcast_id: int, now: datetime) -> int:
    day = now.astimezone(BEIJING).date()
    start = datetime.combine(day, datetime.min.time(), BEIJING).astimezone(UTC)
    rows = session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "broadcast.test_sent", AuditEntry.at >= start)
    )
    return sum(1 for detail in rows if detail.get("broadcast_id") == broadcast_id)


def test_send(
    session: Session,
    settings: Settings,
    official: Any,
    broadcast_id: int,
    staff_account_id: int,
    *,
    actor: str,
    channel: str | None = None,
    now: datetime | None = None,
) -> str:
    """Send the broadcast to the staff member's own linked WeChat (``StaffAccount.openid``): a mass preview for the
    mass channel, a template message, or a customer-service message (inside their 48-hour window). ``channel``:
    the broadcast's first channel that can reach an official-account openid unless given. Returns the channel.
    Audited ``broadcast.test_sent``; at most ``broadcasts.test_sends_per_day`` a day per broadcast."""
    now = now or utcnow()
    broadcast = get(session, broadcast_id)
    account = session.get(StaffAccount, staff_account_id)
    if account is None or not account.openid:
        raise Conflict("staff WeChat not linked", user_message=E["test_not_linked"])
    usable = [c for c in channels_of(broadcast) if c != SUBSCRIBE]
    if channel is None:
        if not usable:
            raise Conflict("subscribe-only broadcast", user_message=E["test_subscribe_only"])
        channel = usable[0]
    elif channel not in usable:
        raise ValidationFailed(
            f"test channel {channel}",
            user_message=E["test_bad_channel"].format(channel=texts.BROADCAST_CHANNEL_NAMES.get(channel, channel)),
        )
    limit = settings.broadcasts.test_sends_per_day
    if _test_sends_today(session, broadcast.id, now) >= limit:
        raise Conflict("too many test sends", user_message=E["test_too_many"].format(limit=limit))
    payload = content_payload(broadcast, channel)
    try:
        if channel == MASS:
            official.mass_preview(payload, account.openid)
        elif channel == TEMPLATE:
            official.send_template(
                account.openid,
                payload["template_id"],
                payload["data"],
                client_msg_id=f"bc-test-{broadcast.id}-{int(now.timestamp())}",
                url=payload.get("url"),
            )
        else:
            official.send_customer_message(account.openid, payload)
    except WeChatAPIError as exc:
        raise Conflict(
            f"test send failed: {exc.errcode}",
            user_message=E["test_failed"].format(errcode=exc.errcode, reason=errcode_text(exc.errcode)),
        ) from exc
    audit.record(session, actor=actor, action="broadcast.test_sent", broadcast_id=broadcast.id, channel=channel)
    return channel
