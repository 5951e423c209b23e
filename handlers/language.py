"""Switching language: "English" or "中文" (and a few other spellings) sets the language the bot answers this user in.

The choice is kept on the follower (``services.followers.choose_language``) and wins over WeChat's language of the
user from the next push on; the confirmation is already in the chosen language.
"""

from __future__ import annotations

from bot.context import Context
from bot.filters import keyword
from bot.replies import Reply
from bot.router import Router
from core import i18n, texts
from services import followers

router = Router("language")

ENGLISH = keyword("English", "英文", "英语", "in English")
CHINESE = keyword("中文", "汉语", "Chinese", "简体中文")


def _switch(ctx: Context, language: str) -> Reply:
    followers.choose_language(ctx.session, ctx.openid, language)
    ctx.language = language
    with i18n.use(language):
        return Reply(texts.LANGUAGE_SWITCHED)


@router.on(ENGLISH)
def english(ctx: Context) -> Reply:
    return _switch(ctx, "en")


@router.on(CHINESE)
def chinese(ctx: Context) -> Reply:
    return _switch(ctx, i18n.SOURCE)
