"""Rules every conversation shares: 取消 (cancel) ends any of them, and an expired one tells the user how to restart."""

from __future__ import annotations

from bot.context import Context
from bot.filters import conversation_timed_out, in_conversation, keyword
from bot.replies import Reply
from bot.router import Router
from core import texts

CANCEL_WORDS = ("取消", "cancel", "退出")

router = Router("conversations")


@router.on(keyword(*CANCEL_WORDS) & in_conversation())
def cancel(ctx: Context) -> Reply:
    ctx.end()
    return Reply(texts.CANCELLED)


@router.on(conversation_timed_out())
def timed_out(ctx: Context) -> Reply:
    return Reply(texts.TIMED_OUT.get(ctx.timed_out or "", texts.TIMED_OUT_DEFAULT))


@router.on(keyword(*CANCEL_WORDS))
def nothing_to_cancel(ctx: Context) -> Reply:
    return Reply(texts.NOTHING_TO_CANCEL)
