"""Duplicates under load, over real HTTP: WeChat's retries arrive concurrently and must act exactly once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from bot.context import Context
from bot.filters import event
from bot.replies import Reply
from bot.router import Router
from emulator.wire import Account

EVENTS = 500
USERS = 50  # ten events per user, so the per-user lock is contended too


class SideEffects:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[str] = []

    def router(self) -> Router:
        router = Router("counting")

        @router.on(event("click"))
        def count_click(ctx: Context) -> Reply:
            with self.lock:
                self.seen.append(ctx.push.dedupe_key)
            return Reply(f"ack {ctx.message.key}")

        return router


@pytest.fixture
def counting_server(settings_factory: Any, make_app: Any, live_server: Any) -> tuple[str, SideEffects, Any]:
    effects = SideEffects()
    # The longest deadline WeChat allows: on a busy CI machine, fewer replies go out by message instead.
    app = make_app(settings_factory(webhook={"reply_deadline_seconds": 4.5}), routers=[effects.router()])
    server = live_server(app)
    return f"{server.url}/wechat", effects, app


def pushes(account: Account) -> list[Any]:
    base = int(time.time())
    return [
        account.build_push(
            {
                "ToUserName": "gh",
                "FromUserName": f"o_load_{n % USERS:03d}",
                "CreateTime": base - n // USERS,
                "MsgType": "event",
                "Event": "CLICK",
                "EventKey": f"K{n}",
            }
        )
        for n in range(EVENTS)
    ]


def deliver(url: str, batch: list[Any], copies: int, account: Account) -> list[str]:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
    session.mount("http://", adapter)

    def post(push: Any) -> str:
        response = session.post(url, params=push.query, data=push.body, timeout=10)
        assert response.status_code == 200, response.text
        return account.read_reply(response.content).get("Content", "")

    with ThreadPoolExecutor(max_workers=24) as pool:
        return list(pool.map(post, [push for push in batch for _ in range(copies)]))


def assert_own_replies(replies: list[str], copies: int) -> None:
    """Each delivery got its own event's reply, or `success` when it was still queued at the deadline (its reply
    then travels by customer-service message); never another event's reply, and never an apology."""
    for n in range(EVENTS):
        assert set(replies[copies * n : copies * (n + 1)]) <= {f"ack K{n}", ""}
    assert replies.count("") < len(replies) // 2  # a slow machine may defer some; not the run


def test_each_event_delivered_three_times_concurrently_acts_once(
    counting_server: tuple[str, SideEffects, Any], account: Account
) -> None:
    url, effects, _app = counting_server
    batch = pushes(account)
    replies = deliver(url, batch, 3, account)
    assert len(effects.seen) == EVENTS
    assert len(set(effects.seen)) == EVENTS
    assert_own_replies(replies, copies=3)


def test_exactly_once_survives_a_redis_flush_between_deliveries(
    counting_server: tuple[str, SideEffects, Any], account: Account, redis_url: str
) -> None:
    url, effects, _app = counting_server
    batch = pushes(account)
    first = deliver(url, batch, 1, account)
    redis.Redis.from_url(redis_url).flushdb()  # every claim and remembered reply is gone
    again = deliver(url, batch, 2, account)
    assert len(effects.seen) == EVENTS
    assert len(set(effects.seen)) == EVENTS
    assert_own_replies(first, copies=1)
    assert_own_replies(again, copies=2)


def test_a_chunked_body_over_the_cap_is_refused_without_a_length_header(
    app: Any, live_server: Any, account: Account
) -> None:
    server = live_server(app)
    push = account.build_push(
        {
            "ToUserName": "gh",
            "FromUserName": "o_big",
            "CreateTime": int(time.time()),
            "MsgType": "text",
            "Content": "x" * 70000,
            "MsgId": 1,
        }
    )
    chunks = (push.body[i : i + 4096] for i in range(0, len(push.body), 4096))  # a generator: sent chunked
    response = requests.post(f"{server.url}/wechat", params=push.query, data=chunks, timeout=10)
    assert response.status_code == 413
    assert response.text.startswith("body_too_large")
