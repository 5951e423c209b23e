"""帮助 / help: what the bot can do. A greeting gets the same answer: 你好 is not a question for the office."""

from __future__ import annotations

from bot.context import Context
from bot.filters import keyword, menu_key
from bot.replies import Reply
from bot.router import Router
from core import texts

router = Router("help")


@router.on(keyword("帮助", "help", "?", "？", "菜单", "你好", "您好", "在吗", "hi", "hello") | menu_key("HELP"))
def show_help(ctx: Context) -> Reply:
    return Reply(texts.HELP)
