"""A reply's follow-ups (``Reply.then``), end to end with the emulator playing WeChat: customer-service messages
queued in the outbox with the push, sent once it has committed, to the sender or to someone else; never queued
twice for a retry; after the reply's own pieces when the reply itself goes by message; once whatever pushes ask for
it when the follow-up has its own key."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from bot.context import Context
from bot.filters import keyword
from bot.replies import FollowUp, Reply
from bot.router import Router
from core.runtime import Runtime
from emulator.testing import RunningEmulator, wait_for
from models import InboundMessage, OutboundMessage
from tests.gateway.conftest import emulator  # noqa: F401 - the emulator fixture

SENDER = "oFollowUpSender000000000001"
OTHER = "oFollowUpOther0000000000001"


def follow_up_router(delay: float = 0.0) -> Router:
    router = Router("follow_ups")

    @router.on(keyword("then"))
    def with_follow_ups(ctx: Context) -> Reply:
        time.sleep(delay)
        return Reply(
            "先到的回复",
            then=(
                FollowUp({"msgtype": "text", "content": "随后的消息"}),
                FollowUp({"msgtype": "text", "content": f"给别人的通知：{ctx.openid[-4:]}"}, openid=OTHER),
            ),
        )

    @router.on(keyword("once"))
    def with_a_keyed_follow_up(ctx: Context) -> Reply:
        return Reply("好的", then=(FollowUp({"msgtype": "text", "content": "只发一次"}, openid=OTHER, key="once:1"),))

    return router


@pytest.fixture
def bot(
    settings_factory: Any,
    make_app: Any,
    live_server: Any,
    emulator: RunningEmulator,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Runtime:
    delay = getattr(request, "param", 0.0)
    settings = settings_factory(
        webhook={"reply_deadline_seconds": 0.5}, wechat={"api_base_url": emulator.url, "transient_retries": 1}
    )
    app = make_app(settings, routers=[follow_up_router(delay)])
    emulator.configure(webhook_url=f"{live_server(app).url}/wechat")
    emulator.add_followers(SENDER, OTHER)
    runtime: Runtime = app.extensions["xiaoyou"]
    return runtime


def push(emulator: RunningEmulator, content: str, msg_id: int, openid: str = SENDER) -> Any:  # noqa: F811
    body = {"openid": openid, "MsgType": "text", "Content": content, "MsgId": msg_id}
    return emulator.control("POST", "/push", body)["reply"]


def texts_to(emulator: RunningEmulator, openid: str) -> list[str]:  # noqa: F811
    return [d["message"]["text"]["content"] for d in emulator.deliveries(openid, "custom")]


def rows(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.db.session() as s:
        found = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
        return [(r.idempotency_key, r.openid, r.status) for r in found]


def test_follow_ups_are_queued_with_the_push_and_sent_after_the_passive_reply(
    bot: Runtime,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    # The other user wrote to the account earlier (answered `success`): their customer-service window is open.
    assert not push(emulator, "你好", 7000, openid=OTHER)
    assert push(emulator, "then", 7001)["Content"] == "先到的回复"
    assert wait_for(lambda: texts_to(emulator, SENDER), timeout=10) == ["随后的消息"]
    assert wait_for(lambda: texts_to(emulator, OTHER), timeout=10) == ["给别人的通知：0001"]
    assert wait_for(lambda: [r[2] for r in rows(bot)] == ["sent", "sent"], timeout=5)
    assert [(key, openid) for key, openid, _ in rows(bot)] == [
        ("then0:msg:7001#0", SENDER),
        ("then1:msg:7001#0", OTHER),
    ]
    # WeChat's retry gets the same passive reply and queues nothing more.
    assert push(emulator, "then", 7001)["Content"] == "先到的回复"
    assert len(rows(bot)) == 2 and texts_to(emulator, SENDER) == ["随后的消息"]


@pytest.mark.parametrize("bot", [1.0], indirect=True)
def test_a_late_reply_goes_first_and_its_follow_ups_after_it(bot: Runtime, emulator: RunningEmulator) -> None:  # noqa: F811
    assert not push(emulator, "then", 7002)  # past the deadline: `success`, the reply goes by message
    assert wait_for(lambda: len(texts_to(emulator, SENDER)) == 2, timeout=10)
    assert texts_to(emulator, SENDER) == ["先到的回复", "随后的消息"]
    keys = [key for key, openid, _ in rows(bot) if openid == SENDER]
    assert keys == ["msg:7002#0", "then0:msg:7002#0"]
    with bot.db.session() as s:
        row = s.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == "msg:7002"))
        assert row is not None and row.status == "deferred"


def test_a_follow_up_with_its_own_key_is_queued_once_whatever_pushes_ask_for_it(
    bot: Runtime,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    assert not push(emulator, "你好", 7100, openid=OTHER)
    assert push(emulator, "once", 7101)["Content"] == "好的"
    assert push(emulator, "once", 7102)["Content"] == "好的"  # another push, the same follow-up
    assert wait_for(lambda: [r[2] for r in rows(bot)] == ["sent"], timeout=10)
    assert [(key, openid) for key, openid, _ in rows(bot)] == [("once:1#0", OTHER)]
    assert texts_to(emulator, OTHER) == ["只发一次"]
