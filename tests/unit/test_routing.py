"""Filters, routers, the dispatcher's order and the conversation machine, without a database."""

from __future__ import annotations

import time
from typing import Any

import pytest

import handlers
from bot import filters as F
from bot.context import Context
from bot.conversation import Conversation
from bot.protocol import PushCodec
from bot.replies import Reply
from bot.router import Dispatcher, Router
from bot.state import ConversationState
from core.settings import Settings, WeChatSettings
from emulator.wire import Account
from tests.conftest import AES_KEY, APPID, TOKEN

CODEC = PushCodec(WeChatSettings(appid=APPID, token=TOKEN, aes_key=AES_KEY, max_clock_skew_seconds=0), 65536)
SETTINGS = Settings(environment="test")


def ctx(state: ConversationState | None = None, **fields: Any) -> Context:
    base = {"ToUserName": "gh", "FromUserName": "o_u", "CreateTime": int(time.time())}
    push = Account(APPID, TOKEN, AES_KEY).build_push({**base, **fields})
    return Context(push=CODEC.open(push.query, push.body), session=None, settings=SETTINGS, state=state)  # type: ignore[arg-type]


def text(content: str, state: ConversationState | None = None) -> Context:
    return ctx(state, MsgType="text", Content=content, MsgId=1)


def in_state(conversation: str, step: str) -> ConversationState:
    return ConversationState(conversation, step, {}, time.time() + 60)


def test_basic_filters() -> None:
    assert F.msg_type("text")(text("hi"))
    assert not F.msg_type("image")(text("hi"))
    assert F.keyword("帮助", "Help")(text("  help "))
    assert not F.keyword("帮助")(text("帮助我"))
    assert F.regex(r"^\d{4}级$")(text("2008级"))
    assert F.event("subscribe")(ctx(MsgType="event", Event="subscribe"))
    assert F.menu_key("HELP")(ctx(MsgType="event", Event="CLICK", EventKey="HELP"))
    assert not F.menu_key("HELP")(ctx(MsgType="event", Event="CLICK", EventKey="CARD"))
    assert not F.menu_key("HELP")(text("HELP"))


def test_qr_scene_matches_follows_and_scans_with_the_prefix_removed() -> None:
    follow = ctx(MsgType="event", Event="subscribe", EventKey="qrscene_class:2008:cs")
    scan = ctx(MsgType="event", Event="SCAN", EventKey="class:2010:math")
    assert F.qr_scene("class:")(follow)
    assert F.qr_scene("class:2010")(scan)
    assert not F.qr_scene("event:")(scan)
    assert not F.qr_scene("class:")(ctx(MsgType="event", Event="subscribe"))


def test_filters_compose() -> None:
    hello = text("hello")
    assert (F.msg_type("text") & F.keyword("hello"))(hello)
    assert not (F.msg_type("text") & F.keyword("bye"))(hello)
    assert (F.keyword("bye") | F.keyword("hello"))(hello)
    assert (~F.keyword("bye"))(hello)
    assert not (~F.msg_type("text"))(hello)
    assert "&" in (F.msg_type("text") & F.keyword("x")).name


def test_state_filters() -> None:
    asking = text("x", in_state("ask", "waiting_question"))
    assert F.in_conversation()(asking)
    assert F.in_conversation("ask")(asking)
    assert F.in_conversation("ask", "waiting_question")(asking)
    assert not F.in_conversation("ask", "other")(asking)
    assert not F.in_conversation()(text("x"))


def test_first_match_wins_across_routers_in_order() -> None:
    seen: list[str] = []

    def make(name: str) -> Any:
        def handler(c: Context) -> Reply:
            seen.append(name)
            return Reply(name)

        handler.__name__ = name
        return handler

    first, second = Router("first"), Router("second")
    first.add(F.keyword("a"), make("first_a"))
    second.add(F.keyword("a"), make("second_a"))
    second.add(F.anything, make("second_any"))
    dispatcher = Dispatcher([first, second])
    assert dispatcher.resolve(text("a")).name == "first.first_a"  # type: ignore[union-attr]
    assert dispatcher.resolve(text("b")).name == "second.second_any"  # type: ignore[union-attr]
    assert Dispatcher([second, first]).resolve(text("a")).name == "second.second_a"  # type: ignore[union-attr]
    assert Dispatcher([first]).resolve(text("b")) is None
    with pytest.raises(ValueError, match="unique"):
        Dispatcher([first, first])


def test_conversation_routes_steps_before_entry_and_lets_events_through() -> None:
    def start(c: Context) -> Reply:
        return Reply("start")

    def answer(c: Context) -> Reply:
        return Reply("answer")

    def only_text(c: Context) -> Reply:
        return Reply("only text")

    conv = Conversation(
        "demo",
        entry_points=[(F.keyword("go"), start)],
        steps={"waiting": [(F.msg_type("text"), answer)]},
        fallbacks=[(F.anything, only_text)],
    )
    router = conv.router()
    waiting = in_state("demo", "waiting")
    assert router.match(text("go")).handler is start  # type: ignore[union-attr]
    assert router.match(text("go", waiting)).handler is answer  # type: ignore[union-attr]
    assert router.match(ctx(waiting, MsgType="image", PicUrl="x", MediaId="m", MsgId=2)).handler is only_text  # type: ignore[union-attr]
    assert router.match(ctx(waiting, MsgType="event", Event="subscribe")) is None
    assert router.match(text("hello")) is None


def test_the_real_order_puts_cancel_first_and_fallback_last() -> None:
    dispatcher = Dispatcher(handlers.ROUTERS)
    asking = in_state("ask", "waiting_question")
    assert dispatcher.resolve(text("取消", asking)).name == "conversations.cancel"  # type: ignore[union-attr]
    assert dispatcher.resolve(text("取消")).name == "conversations.nothing_to_cancel"  # type: ignore[union-attr]
    # Inside the conversation a keyword is the question, not a command.
    assert dispatcher.resolve(text("帮助", asking)).name == "ask.waiting_question.receive_question"  # type: ignore[union-attr]
    assert dispatcher.resolve(text("帮助")).name == "help.show_help"  # type: ignore[union-attr]
    assert dispatcher.resolve(text("提问", asking)).name == "ask.entry.start"  # type: ignore[union-attr]
    # Free text nothing claimed goes to the help desk (the knowledge base, else the office); the rest to the fallback.
    assert dispatcher.resolve(text("随便说说")).name == "faq.entry.free_text"  # type: ignore[union-attr]
    assert dispatcher.resolve(ctx(MsgType="video", MediaId="v", MsgId=2)).name == "fallback.fallback"  # type: ignore[union-attr]
    unknown_event = ctx(MsgType="event", Event="some_new_event")
    assert dispatcher.resolve(unknown_event).name == "fallback.unhandled_event"  # type: ignore[union-attr]
    assert handlers.ROUTERS[-1].name == "fallback"
    assert handlers.ROUTERS[0].name == "conversations"
