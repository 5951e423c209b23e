"""The keywords an awaited outreach answer steps aside for: each filter knows the texts it matches whatever else holds
(``keyword``'s words, kept through ``|``, dropped by ``&`` and ``~``), and the dispatcher gathers them from every route
of the official account, so the outreach entry needs no list of its own."""

from __future__ import annotations

import handlers
from bot.filters import in_conversation, keyword, menu_key
from bot.router import Dispatcher


def test_a_filter_keeps_only_the_words_it_matches_whatever_else_holds() -> None:
    assert keyword(" Help ", "帮助").words == frozenset({"help", "帮助"})
    assert (keyword("help") | menu_key("HELP")).words == frozenset({"help"})
    assert (keyword("是") & in_conversation("classes")).words == frozenset()  # a step's word: only in that step
    assert (~keyword("help")).words == frozenset()


def test_the_dispatcher_gathers_the_keywords_of_every_conversation() -> None:
    keywords = Dispatcher(handlers.ROUTERS).keywords
    for word in ("帮助", "help", "校友卡", "alumni card", "活动", "events", "提问", "加入班级群", "取消"):
        assert word in keywords
    assert "london, uk" not in keywords and "伦敦" not in keywords
