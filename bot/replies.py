"""What a handler answers, and how it becomes a passive reply or customer-service messages.

A reply is plain data (serialisable, so a retried push can get the same one back). Passive replies have WeChat's
size limit; anything longer goes out as customer-service messages, split on character boundaries.

A reply may also carry follow-ups (``then``): customer-service messages to send after it, to the sender or to
someone else (an image the passive reply cannot hold, a notice to a class liaison). The pipeline queues them in the
outbox in the push's own transaction and sends them once it has committed; they are not part of what a retry of the
push is answered with (they are queued once, under keys derived from the push, or under their own ``key``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from wechatpy.messages import BaseMessage
from wechatpy.replies import ArticlesReply, BaseReply, TextReply


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    image: str = ""


@dataclass(frozen=True)
class FollowUp:
    """A customer-service message payload (as ``Messenger.send_customer_message`` takes it) to send after the reply,
    to ``openid`` (None: the user who sent the push). ``key``: the outbox idempotency key, for a message that must go
    once whichever push causes it (by default each push queues its own)."""

    payload: dict[str, Any]
    openid: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Reply:
    """A text reply, or a news card with articles (WeChat shows at most 8; we send at most 1 passively), and the
    customer-service messages that follow it (``then``)."""

    text: str = ""
    articles: tuple[Article, ...] = field(default_factory=tuple)
    then: tuple[FollowUp, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        """The passive part only: follow-ups are queued once, when the push is handled, never again for a retry."""
        return json.dumps({"text": self.text, "articles": [asdict(a) for a in self.articles]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Reply:
        data = json.loads(raw)
        return cls(text=data.get("text", ""), articles=tuple(Article(**a) for a in data.get("articles", ())))

    def render(self, message: BaseMessage) -> str:
        """The passive reply XML (unencrypted) addressed back to the sender of ``message``."""
        reply: BaseReply
        if self.articles:
            reply = ArticlesReply(message=message)
            for article in self.articles:
                reply.add_article(asdict(article))
        else:
            reply = TextReply(message=message, content=self.text)
        return str(reply.render())

    def customer_messages(self, max_bytes: int) -> list[dict[str, Any]]:
        """The same content as customer-service message payloads, text cut into pieces of at most ``max_bytes``."""
        if self.articles:
            return [{"msgtype": "news", "articles": [asdict(a) for a in self.articles]}]
        return [{"msgtype": "text", "content": piece} for piece in split_utf8(self.text, max_bytes)]


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Cut ``text`` into pieces whose UTF-8 form fits ``max_bytes``, preferring line breaks, never splitting a char."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len((current + line).encode()) <= max_bytes:
            current += line
            continue
        if current:
            pieces.append(current)
        rest = line
        while len(rest.encode()) > max_bytes:
            cut = max_bytes
            while len(rest[:cut].encode()) > max_bytes:
                cut -= 1
            pieces.append(rest[:cut])
            rest = rest[cut:]
        current = rest
    if current or not pieces:
        pieces.append(current)
    return pieces


def fits_passively(reply: Reply, max_bytes: int) -> bool:
    return bool(reply.articles) or len(reply.text.encode()) <= max_bytes
