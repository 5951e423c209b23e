"""A test follower on WeChat's side: what WeChat pushes when a follower types or taps, and what it makes of the reply.

``make chat`` (``cli/chat.py``) and the console's chat simulator (``services/chat_simulator.py``) both talk to the
webhook through this module, so "what a follower's message looks like on the wire" is written once:

- the push's fields (a text message, or an event: follow, unfollow, a menu click, a scan, a location), with a
  ``MsgId`` that never repeats and the current ``CreateTime``;
- :class:`TestFollower`: each push is built, signed and (in safe or compatible mode) encrypted with the account's
  AES key by :class:`emulator.wire.Account`, handed to a :data:`Transport` (an HTTP POST for ``make chat``, the
  app's own WSGI callable for the console), and the passive reply is signature-checked and decrypted;
- :class:`EmulatorLink`: keeps the local emulator told of what the follower did (its subscription and its
  customer-service window, so the bot's later messages are accepted there) and reads those later messages back.

It holds no business rule of Xiaoyou's and talks to nothing but the webhook it is given and the emulator's controls.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from emulator.wire import Account, Mode

log = logging.getLogger(__name__)

Fields = dict[str, str | int | float]
# What carries one push to the webhook: (query, body) → (HTTP status, response body). Raises ``OSError`` or
# ``requests.RequestException`` when the webhook cannot be reached.
Transport = Callable[[dict[str, str], bytes], tuple[int, bytes]]

TO_USER = "gh_xiaoyou"  # the account's original id, as WeChat puts it in ToUserName
# Which events open which customer-service window at WeChat (emulator/control.py EVENT_INTERACTIONS agrees).
EVENT_INTERACTIONS = {"subscribe": "subscribe", "SCAN": "scan", "CLICK": "click"}


def http_transport(http: requests.Session, url: str, timeout: float = 6.0) -> Transport:
    """Deliver pushes by HTTP POST to ``url``, as WeChat does."""

    def post(query: dict[str, str], body: bytes) -> tuple[int, bytes]:
        response = http.post(url, params=query, data=body, timeout=timeout)
        return response.status_code, response.content

    return post


class MessageIds:
    """``MsgId``s as WeChat issues them: 64-bit, never repeating (a repeat would be a retry, and deduplicated)."""

    def __init__(self) -> None:
        # Start from the clock and a random offset, so two chats started in the same millisecond do not collide.
        self._next = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))

    def __call__(self) -> int:
        return next(self._next)


def _base(openid: str, to_user: str) -> Fields:
    return {"ToUserName": to_user, "FromUserName": openid, "CreateTime": int(time.time())}


def text(openid: str, content: str, msg_id: int, to_user: str = TO_USER) -> Fields:
    return {**_base(openid, to_user), "MsgType": "text", "Content": content, "MsgId": msg_id}


def location(openid: str, lat: str, lng: str, msg_id: int, to_user: str = TO_USER) -> Fields:
    base = _base(openid, to_user)
    return {
        **base,
        "MsgType": "location",
        "Location_X": lat,
        "Location_Y": lng,
        "Scale": 15,
        "Label": "",
        "MsgId": msg_id,
    }


def subscribe(openid: str, scene: str = "", to_user: str = TO_USER) -> Fields:
    """A follow; through a parametric QR code, ``EventKey`` is ``qrscene_`` + the scene (and a ticket comes along)."""
    fields: Fields = {**_base(openid, to_user), "MsgType": "event", "Event": "subscribe", "EventKey": ""}
    if scene:
        fields.update(EventKey=f"qrscene_{scene}", Ticket=_ticket())
    return fields


def unsubscribe(openid: str, to_user: str = TO_USER) -> Fields:
    return {**_base(openid, to_user), "MsgType": "event", "Event": "unsubscribe"}


def click(openid: str, key: str, to_user: str = TO_USER) -> Fields:
    return {**_base(openid, to_user), "MsgType": "event", "Event": "CLICK", "EventKey": key}


def scan(openid: str, scene: str, to_user: str = TO_USER) -> Fields:
    """A follower scans a parametric QR code: ``SCAN`` with the bare scene as ``EventKey``."""
    return {**_base(openid, to_user), "MsgType": "event", "Event": "SCAN", "EventKey": scene, "Ticket": _ticket()}


def _ticket() -> str:
    return "gQ" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Answer:
    """What the webhook answered one push.

    ``reply`` holds the opened passive reply's fields (``{}``: it answered ``success`` or nothing); ``problem`` says
    what was wrong when the answer is not something WeChat accepts (an HTTP error, a reply that does not verify)."""

    status: int
    reply: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def text(self) -> str:
        """The reply as a follower sees it: a text's content, else its kind and fields."""
        if self.reply.get("MsgType") == "text":
            return self.reply.get("Content", "")
        shown = {k: v for k, v in self.reply.items() if k not in ("ToUserName", "FromUserName", "CreateTime")}
        return f"[{self.reply.get('MsgType', '?')}] {shown}"


class TestFollower:
    """One follower's WeChat: signs, encrypts and delivers each push, and opens each passive reply."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, account: Account, openid: str, mode: Mode, transport: Transport) -> None:
        self.account, self.openid, self.mode, self.transport = account, openid, mode, transport
        self.msg_ids = MessageIds()

    def say(self, content: str) -> Fields:
        return text(self.openid, content, self.msg_ids())

    def send(self, fields: Mapping[str, object]) -> Answer:
        """Deliver one push; raises what the transport raises when the webhook cannot be reached."""
        push = self.account.build_push(fields, mode=self.mode)
        status, body = self.transport(push.query, push.body)
        if status != 200:
            return Answer(status, problem=body.decode(errors="replace").strip()[:500])
        try:
            return Answer(status, self.account.read_reply(body, encrypted=self.mode != "plaintext"))
        except (ValueError, SyntaxError) as exc:  # defusedxml's ParseError is a SyntaxError
            return Answer(status, problem=f"the reply is not valid for WeChat: {exc}")


@dataclass(frozen=True)
class LaterMessage:
    """A customer-service message the emulator accepted for the follower (``id`` orders them)."""

    id: int
    text: str


class EmulatorLink:
    """Keeps the local WeChat emulator informed of what a test follower does, so that the messages the bot sends
    later (customer-service messages) are accepted there, and reads them back.

    Every failure to reach the emulator is noted in ``problems`` (the caller says so) and never raised: the chat
    itself goes to the webhook and works without the emulator."""

    def __init__(self, http: requests.Session, url: str, openid: str, timeout: float = 3.0) -> None:
        self.http, self.url, self.openid, self.timeout = http, url.rstrip("/"), openid, timeout
        self.problems: list[str] = []

    def ensure_follower(self) -> None:
        """A new user follows; one who unfollowed earlier stays unfollowed (only a subscribe follows again)."""
        try:
            known = self.http.get(f"{self.url}/_emulator/users/{self.openid}", timeout=self.timeout)
        except requests.RequestException as exc:
            self._failed(exc)
            return
        if known.status_code != 200:
            self._post("/_emulator/users", {"users": [{"openid": self.openid}]})

    def _failed(self, exc: Exception) -> None:
        self.problems.append(f"emulator at {self.url} not reachable ({type(exc).__name__})")

    def _post(self, path: str, body: dict[str, Any]) -> None:
        try:
            self.http.post(self.url + path, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            self._failed(exc)

    def interacted(self, fields: Mapping[str, object]) -> None:
        """Tell the emulator what the push about to be delivered does to the follower at WeChat."""
        event = str(fields.get("Event")) if fields.get("MsgType") == "event" else ""
        if event in ("subscribe", "unsubscribe"):
            # WeChat's follower list must agree with the bot, or the next follower sync undoes the (un)follow.
            body = {"subscribed": event == "subscribe", "EventKey": str(fields.get("EventKey", ""))}
            self._post(f"/_emulator/users/{self.openid}/subscription", body)
        kind = EVENT_INTERACTIONS.get(event) if event else "message"
        if kind is not None:
            self._post(f"/_emulator/users/{self.openid}/interact", {"kind": kind})

    def messages_after(self, last_id: int) -> list[LaterMessage]:
        """The customer-service messages the emulator accepted for the follower, newer than ``last_id``."""
        try:
            found = self.http.get(
                f"{self.url}/_emulator/deliveries",
                params={"openid": self.openid, "channel": "custom"},
                timeout=self.timeout,
            ).json()["deliveries"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            self._failed(exc)
            return []
        messages = []
        for item in found:
            if int(item.get("id", 0)) > last_id:
                messages.append(LaterMessage(int(item["id"]), describe(item.get("message", {}))))
        return messages


def describe(message: Any) -> str:
    """A customer-service message as one line: a text's content, else its kind and (shortened) media id."""
    if not isinstance(message, dict):
        return str(message)
    kind = message.get("msgtype")
    body = message.get(kind) if isinstance(kind, str) else None
    if kind == "text" and isinstance(body, dict):
        return str(body.get("content", ""))
    media = body.get("media_id") if isinstance(body, dict) else None
    return f"[{kind} {media[:10]}…]" if isinstance(media, str) and media else f"[{kind}]"
