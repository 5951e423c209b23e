"""The console's chat simulator: a staff member talks to the bot as their own test follower.

Owns the rules of a simulated conversation:

- **who the test follower is**: :func:`test_openid`, one per staff account (``test.staff-<account id>``). WeChat
  issues openids of 28 characters from ``[A-Za-z0-9_-]``; a dot is never among them, so a test follower can never be
  taken for, or message, a real person (at WeChat a customer-service message to it fails with 40003).
- **what may be sent**: a text of at most :data:`MAX_TEXT` characters, a follow, an unfollow, a click on one of the
  configured menu's click keys, a scan of a parametric QR code with a scene. Every push is built here, with a fresh
  timestamp, nonce and ``MsgId``: nothing from the form reaches its signature, timestamp, ids or sender, so the page
  cannot be used to forge or replay a push.
- **one exchange**: the push is built, signed and encrypted with the account's AES key by ``emulator.follower``
  (the code ``make chat`` uses), handed to the caller's ``Transport`` (the console passes the app's own WSGI
  callable), and the passive reply is signature-checked and decrypted.
- **later messages**: what the bot sends afterwards by customer-service message goes to WeChat. When WeChat is the
  local emulator (:func:`emulator_url`), they are read back from its message log for the test follower; otherwise the
  page says where they went.
- **the transcript**: kept in Redis for a day (``core.redis_keys.staff_chat``), so that the page shows the whole
  conversation with or without JavaScript. Nothing is audited: the test follower's messages are no one's personal
  data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Literal

import redis
import requests

from core import redis_keys, texts
from core.errors import ValidationFailed
from core.settings import Settings, WeChatSettings
from emulator import follower
from emulator.follower import EmulatorLink, Fields, TestFollower, Transport
from emulator.wire import Account
from services import followers
from services.wechat_menu import click_keys

T = texts.CONSOLE
TEST_OPENID_PREFIX = followers.TEST_OPENID_PREFIX + "staff-"  # the dashboard leaves test followers out
MAX_TEXT = 1000  # characters of one simulated text message
TRANSCRIPT_KEPT = 200  # entries; older ones fall off
SCENE = re.compile(r"[A-Za-z0-9_:.-]{1,64}")  # a string scene, e.g. class:12
WECHAT_API_BASE_URL: str = WeChatSettings.model_fields["api_base_url"].default
EVENTS = ("subscribe", "unsubscribe", "scan")

Who = Literal["you", "bot", "later", "note"]


@dataclass(frozen=True)
class Entry:
    """One line of the transcript: what the staff member sent, the bot's passive reply, a later (customer-service)
    message, or a note (no reply, a refusal). ``later_id`` is the emulator's id of a later message."""

    who: Who
    text: str
    at: float = field(default_factory=time.time)
    later_id: int = 0
    problem: bool = False


@dataclass(frozen=True)
class Conversation:
    """What the page shows: the test follower, the transcript, and where later messages can be read."""

    openid: str
    entries: list[Entry]
    emulator: str | None


def test_openid(account_id: int) -> str:
    """The staff member's test follower (see the module docstring for why it cannot be a real person's)."""
    return f"{TEST_OPENID_PREFIX}{account_id}"


def emulator_url(settings: Settings) -> str | None:
    """Where the local WeChat emulator answers, when WeChat is one: outside production, a ``wechat.api_base_url``
    other than WeChat's own is the emulator (``make run``, the tests). Production always talks to WeChat."""
    base = settings.wechat.api_base_url
    if settings.environment == "production" or base == WECHAT_API_BASE_URL:
        return None
    return base


# --- the transcript ---------------------------------------------------------------------------------------------


def transcript(client: redis.Redis, account_id: int) -> list[Entry]:
    raw = client.lrange(redis_keys.staff_chat(account_id), 0, -1)
    return [Entry(**json.loads(item)) for item in raw]


def _append(client: redis.Redis, account_id: int, entries: list[Entry]) -> None:
    if not entries:
        return
    key = redis_keys.staff_chat(account_id)
    pipe = client.pipeline()
    pipe.rpush(key, *(json.dumps(asdict(e), ensure_ascii=False) for e in entries))
    pipe.ltrim(key, -TRANSCRIPT_KEPT, -1)
    pipe.expire(key, redis_keys.CHAT_TRANSCRIPT_TTL)
    pipe.execute()


def clear(client: redis.Redis, account_id: int) -> None:
    client.delete(redis_keys.staff_chat(account_id))


def conversation(client: redis.Redis, settings: Settings, account_id: int) -> Conversation:
    return Conversation(test_openid(account_id), transcript(client, account_id), emulator_url(settings))


# --- one exchange -----------------------------------------------------------------------------------------------


def _push(
    chat: TestFollower, settings: Settings, *, content: str, event: str, key: str, scene: str
) -> tuple[Fields, str]:
    """The push the form asks for and how the transcript shows it; ``ValidationFailed`` for anything else."""
    openid = chat.openid
    if key:
        if key not in {k.key for k in click_keys(settings.menu)}:
            raise ValidationFailed("not a click key of the menu", user_message=T["chat_bad_event"])
        return follower.click(openid, key), T["chat_sent_click"].format(key=key)
    if event == "scan":
        if not SCENE.fullmatch(scene):
            raise ValidationFailed("bad scene", user_message=T["chat_bad_scene"])
        return follower.scan(openid, scene), T["chat_sent_scan"].format(scene=scene)
    if event in ("subscribe", "unsubscribe"):
        fields = follower.subscribe(openid) if event == "subscribe" else follower.unsubscribe(openid)
        return fields, T[f"chat_sent_{event}"]
    if event:
        raise ValidationFailed("unknown event", user_message=T["chat_bad_event"])
    content = content.strip()
    if not content:
        raise ValidationFailed("empty message", user_message=T["chat_empty"])
    if len(content) > MAX_TEXT:
        raise ValidationFailed("message too long", user_message=T["chat_too_long"].format(max=MAX_TEXT))
    return chat.say(content), content


@contextmanager
def _emulator_link(settings: Settings, openid: str) -> Iterator[EmulatorLink | None]:
    url = emulator_url(settings)
    if url is None:
        yield None
        return
    with requests.Session() as http:
        yield EmulatorLink(http, url, openid)


def _later(link: EmulatorLink, entries: list[Entry]) -> list[Entry]:
    """The later messages the emulator holds that the transcript does not show yet."""
    seen = max((e.later_id for e in entries), default=0)
    found = [Entry("later", m.text, later_id=m.id) for m in link.messages_after(seen)]
    if link.problems:
        found.append(Entry("note", T["chat_emulator_down"].format(url=link.url), problem=True))
    return found


def exchange(
    client: redis.Redis,
    settings: Settings,
    account_id: int,
    transport: Transport,
    *,
    content: str = "",
    event: str = "",
    key: str = "",
    scene: str = "",
) -> list[Entry]:
    """Send one push as the staff member's test follower and return the new transcript entries: what was sent,
    the bot's answer, and any later message already at the emulator. ``ValidationFailed`` (400) for a push the
    simulator does not send; ``OSError``/``requests.RequestException`` if the transport cannot reach the webhook."""
    wc = settings.wechat
    chat = TestFollower(Account(wc.appid, wc.token, wc.aes_key), test_openid(account_id), wc.message_mode, transport)
    fields, shown = _push(chat, settings, content=content, event=event, key=key, scene=scene.strip())
    new = [Entry("you", shown)]
    with _emulator_link(settings, chat.openid) as link:
        if link is not None:
            link.ensure_follower()
            link.interacted(fields)  # WeChat knows of the follow and opens the customer-service window
        answer = chat.send(fields)
        if answer.problem is not None:
            new.append(
                Entry("note", T["chat_refused"].format(status=answer.status, problem=answer.problem), problem=True)
            )
        elif not answer.reply:
            new.append(Entry("note", T["chat_no_reply"]))
        else:
            new.append(Entry("bot", answer.text))
        if link is not None:
            new.extend(_later(link, transcript(client, account_id)))
    _append(client, account_id, new)
    return new


def check_later(client: redis.Redis, settings: Settings, account_id: int) -> list[Entry]:
    """Read the later messages the emulator received for the test follower since the transcript's last one, and
    add them to it; nothing when WeChat is not the emulator."""
    with _emulator_link(settings, test_openid(account_id)) as link:
        if link is None:
            return []
        new = _later(link, transcript(client, account_id))
    _append(client, account_id, new)
    return new
