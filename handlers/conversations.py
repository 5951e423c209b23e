"""Rules every conversation shares: 取消 (cancel) ends any of them, and an expired one tells the user how to restart.

The timeout notice answers what a person sends the bot (a message, a menu click). Other events (a follow, an
unfollow, a QR scan, a location report) go on to their own handlers: the expired conversation has already been
ended, and a follow or a scan must still be recorded and answered as such.
"""

from __future__ import annotations

from bot.context import Context
from bot.filters import conversation_timed_out, event, in_conversation, keyword, msg_type
from bot.replies import Reply
from bot.router import Router
from core import texts

CANCEL_WORDS = ("取消", "cancel", "退出")

router = Router("conversations")


@router.on(keyword(*CANCEL_WORDS) & in_conversation())
def cancel(ctx: Context) -> Reply:
    ctx.end()
    return Reply(texts.CANCELLED)


@router.on(conversation_timed_out() & (~msg_type("event") | event("click")))
def timed_out(ctx: Context) -> Reply:
    return Reply(texts.TIMED_OUT.get(ctx.timed_out or "", texts.TIMED_OUT_DEFAULT))


@router.on(keyword(*CANCEL_WORDS))
def nothing_to_cancel(ctx: Context) -> Reply:
    return Reply(texts.NOTHING_TO_CANCEL)
