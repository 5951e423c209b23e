"""Named multi-step conversations as state machines (after python-telegram-bot's ``ConversationHandler``).

A conversation has entry points, steps (each a list of filter → handler routes), and fallbacks for anything a step
does not expect. It compiles to an ordinary :class:`Router`: step routes first (they only match users in that
step), then fallbacks (users anywhere in the conversation, messages only: events pass through to their own
handlers), then entry points. Cancel (取消) and timeouts are global and live in ``handlers/conversations.py``.
Each conversation has a Mermaid diagram in ``docs/flows/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.filters import Filter, in_conversation, msg_type
from bot.router import Handler, Router

Routes = Sequence[tuple[Filter, Handler]]


class Conversation:
    def __init__(self, name: str, *, entry_points: Routes, steps: Mapping[str, Routes], fallbacks: Routes = ()) -> None:
        self.name = name
        self.entry_points = entry_points
        self.steps = steps
        self.fallbacks = fallbacks

    def router(self) -> Router:
        router = Router(self.name)
        for step, routes in self.steps.items():
            for flt, handler in routes:
                router.add(in_conversation(self.name, step) & flt, handler, f"{step}.{handler.__name__}")
        for flt, handler in self.fallbacks:
            router.add(in_conversation(self.name) & ~msg_type("event") & flt, handler, f"fallback.{handler.__name__}")
        for flt, handler in self.entry_points:
            router.add(flt, handler, f"entry.{handler.__name__}")
        return router
