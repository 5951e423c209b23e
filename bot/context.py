"""What a handler is given: the push, a database session, the settings, and its conversation state.

Handlers change conversation state only through :class:`Context` (``start``/``goto``/``end``); the pipeline writes
the result back while it still holds the per-user lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy.orm import Session
from wechatpy.messages import BaseMessage

from bot.protocol import Push
from bot.state import ConversationState
from core.settings import Settings
from services.ports import MediaUploader


@dataclass
class Context:
    push: Push
    session: Session
    settings: Settings
    state: ConversationState | None = None
    # The name of a conversation that had expired when this push arrived (the user is told how to restart).
    timed_out: str | None = None
    # WeChat's temporary-media upload (an image to send as a follow-up); None where no gateway is wired.
    media: Callable[[], MediaUploader] | None = None
    # The process's Redis (the knowledge-base matcher watches its version there); None in tests that route alone.
    redis: redis.Redis | None = None
    language: str = "zh_CN"  # what the user reads (core.i18n), chosen by the pipeline before routing
    # The keywords some route answers from anywhere (bot.router.Dispatcher.keywords; bot.filters.routed_keyword).
    keywords: frozenset[str] = frozenset()
    state_changed: bool = field(default=False, init=False)

    @property
    def message(self) -> BaseMessage:
        return self.push.message

    @property
    def openid(self) -> str:
        return self.push.openid

    @property
    def text(self) -> str:
        """The text of a text message, stripped; '' for anything else."""
        return str(getattr(self.message, "content", "") or "").strip() if self.push.msg_type == "text" else ""

    def goto(self, conversation: str, step: str, **data: Any) -> None:
        """Enter ``step`` of ``conversation`` (keeping earlier data), with a fresh timeout."""
        merged = dict(self.state.data) if self.state and self.state.conversation == conversation else {}
        merged.update(data)
        expires = time.time() + self.settings.conversation.timeout_seconds
        self.state = ConversationState(conversation, step, merged, expires)
        self.state_changed = True

    def end(self) -> None:
        self.state = None
        self.state_changed = True
