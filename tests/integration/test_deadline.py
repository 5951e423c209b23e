"""The 5-second rule, end to end with the WeChat emulator playing WeChat: a slow handler's push is answered
``success`` at the deadline and its reply arrives as a customer-service message, once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.context import Context
from bot.filters import keyword
from bot.replies import Reply
from bot.router import Router
from core.runtime import Runtime
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, wait_for
from jobs import JobContext, deliver_outbox
from models import InboundMessage, OutboundMessage
from tests.conftest import AES_KEY, APPID, TOKEN

OPENID = "o_slow_alumnus_000000000001"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = RunningEmulator.start(
        EmulatorConfig(oa_appid=APPID, oa_secret="test-secret", token=TOKEN, aes_key=AES_KEY, mode="safe")
    )
    yield running
    running.stop()


def slow_router(seconds: float) -> Router:
    router = Router("slow")

    @router.on(keyword("慢"))
    def slow(ctx: Context) -> Reply:
        time.sleep(seconds)
        return Reply("慢慢来的回答")

    return router


@pytest.fixture
def slow_bot(settings_factory: Any, make_app: Any, live_server: Any, emulator: RunningEmulator) -> Runtime:
    settings = settings_factory(webhook={"reply_deadline_seconds": 0.5}, wechat={"api_base_url": emulator.url})
    app = make_app(settings, routers=[slow_router(1.5)])
    server = live_server(app)
    emulator.configure(webhook_url=f"{server.url}/wechat")
    emulator.add_followers(OPENID)
    return app.extensions["xiaoyou"]


def push_text(emulator: RunningEmulator, content: str, msg_id: int) -> dict[str, Any]:
    result: dict[str, Any] = emulator.control(
        "POST", "/push", {"openid": OPENID, "MsgType": "text", "Content": content, "MsgId": msg_id}
    )
    return result


def test_a_handler_past_the_deadline_answers_success_then_sends_the_reply(
    slow_bot: Runtime, emulator: RunningEmulator
) -> None:
    started = time.monotonic()
    result = push_text(emulator, "慢", 8001)
    assert time.monotonic() - started < 1.4  # answered before the handler finished
    assert result["reply"] in (None, {})  # `success`: nothing shown yet
    custom = wait_for(lambda: emulator.deliveries(OPENID, "custom"), timeout=10)
    assert [d["message"]["text"]["content"] for d in custom] == ["慢慢来的回答"]
    with slow_bot.db.session() as s:
        row = s.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == "msg:8001"))
        assert row is not None and row.status == "deferred"
    assert wait_for(lambda: _statuses(slow_bot) == ["sent"], timeout=5)


def test_a_retry_of_a_deferred_push_is_answered_success_and_sends_nothing_more(
    slow_bot: Runtime, emulator: RunningEmulator
) -> None:
    push_text(emulator, "慢", 8002)
    wait_for(lambda: emulator.deliveries(OPENID, "custom"), timeout=10)
    retry = push_text(emulator, "慢", 8002)
    assert retry["reply"] in (None, {})
    time.sleep(2)  # longer than the handler takes: had it run again, its message would be here
    assert len(emulator.deliveries(OPENID, "custom")) == 1


def test_a_closed_window_ends_the_message_failed_and_the_job_does_not_retry_it(
    slow_bot: Runtime, emulator: RunningEmulator
) -> None:
    emulator.configure(cs_message_window_seconds=1)  # the window closes before the 1.5 s handler is done
    push_text(emulator, "慢", 8003)
    final = wait_for(lambda: [s for s in _statuses(slow_bot) if s not in ("pending", "sending")], timeout=10)
    assert final == ["failed:45015"]
    assert deliver_outbox(JobContext(slow_bot)) == {}  # nothing is due: a permanent error is final
    assert emulator.deliveries(OPENID, "custom") == []


def _statuses(rt: Runtime) -> list[str]:
    with rt.db.session() as s:
        return list(s.scalars(select(OutboundMessage.status)))
