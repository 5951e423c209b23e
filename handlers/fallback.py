"""The last route: any message nobody else took gets a helpful answer; events nobody handles stay silent.

Events (menu views, job-finished reports, unknown new events) are not something the user typed, so answering them
would be noise; a *message* is never left unanswered.
"""

from __future__ import annotations

from bot.context import Context
from bot.filters import anything, msg_type
from bot.replies import Reply
from bot.router import Router
from core import texts

router = Router("fallback")


@router.on(msg_type("event"))
def unhandled_event(ctx: Context) -> None:
    return None


@router.on(anything)
def fallback(ctx: Context) -> Reply:
    return Reply(texts.FALLBACK)
