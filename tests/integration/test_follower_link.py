"""A follow links the follower to their unionid at once, without the nightly sync and without touching the reply:
the webhook answers the welcome and queues the follow; WeChat's user info is fetched off the reply path, with the
emulator playing WeChat over HTTP. WeChat down, slow or out of quota never costs the welcome, and nothing is left
half-written: the follow waits in the queue for the ``followers.link`` job."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from core import redis_keys, texts
from core.runtime import Runtime
from emulator.testing import RunningEmulator, wait_for
from jobs import JobContext, link_followers
from models import Follower, InboundMessage
from services import follower_links
from services.follower_links import FollowLinker
from tests.conftest import WeChatUser
from tests.gateway.conftest import calls, emulator  # noqa: F401 - the emulator fixture
from wechat.gateway import build_gateway

OPENID = "oFollowLink0000000000000001"
UNIONID = "uFollowLink0000000000000001"
BATCHGET = "/cgi-bin/user/info/batchget"


@pytest.fixture
def linked_app(settings_factory: Any, make_app: Any, emulator: RunningEmulator) -> Flask:  # noqa: F811
    app: Flask = make_app(settings_factory(wechat={"api_base_url": emulator.url, "transient_retries": 1}))
    return app


def linker(app: Flask) -> FollowLinker:
    hook = app.extensions["xiaoyou.pipeline"].on_follow
    assert isinstance(hook, FollowLinker)
    return hook


def follower(rt: Runtime, openid: str = OPENID) -> Follower | None:
    with rt.db.session() as s:
        row = s.scalar(select(Follower).where(Follower.openid == openid))
        if row is not None:
            s.expunge(row)
        return row


def queued(rt: Runtime) -> list[str]:
    members = rt.redis.zrange(redis_keys.follower_link_queue(), 0, -1)
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


def lease_passes(rt: Runtime) -> None:
    """A minute goes by: every claimed follow is due again."""
    for openid in queued(rt):
        rt.redis.zadd(redis_keys.follower_link_queue(), {openid: 0})


def test_a_follow_through_the_webhook_stores_the_unionid_without_any_sync(
    linked_app: Flask,
    live_server: Any,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    emulator.configure(webhook_url=f"{live_server(linked_app).url}/wechat")
    emulator.add_followers(OPENID, unionid=UNIONID, subscribe=False, language="en")  # WeChat knows the user
    result = emulator.control("POST", "/push", {"openid": OPENID, "MsgType": "event", "Event": "subscribe"})
    assert texts.WELCOME.splitlines()[0] in result["reply"]["Content"]
    assert wait_for(lambda: (follower(rt) or Follower()).unionid == UNIONID, timeout=10)
    assert (follower(rt) or Follower()).language == "en"  # their WeChat language came with the profile
    assert calls(emulator, "/cgi-bin/user/get") == 0  # no follower sync ran
    assert calls(emulator, BATCHGET) == 1
    assert wait_for(lambda: queued(rt) == [], timeout=5)  # linked, so nothing left for the job


def test_wechat_down_the_welcome_still_arrives_and_the_job_links_the_follow_later(
    make_app: Any,
    account: Any,
    settings_factory: Any,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    app = make_app()  # WeChat's API on a closed port
    rt: Runtime = app.extensions["xiaoyou"]
    user = WeChatUser(app.test_client(), account, OPENID)
    reply = user.event("subscribe", "qrscene_alumni_day")
    assert texts.WELCOME.splitlines()[0] in reply["Content"]
    assert linker(app).wait_idle(20)  # the attempt was made, and failed
    row = follower(rt)
    assert row is not None and row.subscribed and row.subscribe_scene == "alumni_day" and row.unionid is None
    with rt.db.session() as s:
        assert s.scalar(select(InboundMessage.status)) == "handled"
    assert queued(rt) == [OPENID]  # kept for a retry

    # WeChat is back. The scheduler's job links the follow once its lease has passed, not before.
    emulator.add_followers(OPENID, unionid=UNIONID)
    job_rt = Runtime.build(settings_factory(wechat={"api_base_url": emulator.url}))
    try:
        assert link_followers(JobContext(job_rt)) == follower_links.LinkReport()
        assert calls(emulator, BATCHGET) == 0
        lease_passes(rt)
        assert link_followers(JobContext(job_rt)) == follower_links.LinkReport(fetched=1, linked=1)
    finally:
        job_rt.close()
    assert (follower(rt) or Follower()).unionid == UNIONID
    assert queued(rt) == []


def test_a_slow_wechat_does_not_hold_the_welcome(
    linked_app: Flask,
    account: Any,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    emulator.add_followers(OPENID, unionid=UNIONID)
    emulator.control("POST", "/delays", {"path": BATCHGET, "seconds": 3, "count": 1})
    user = WeChatUser(linked_app.test_client(), account, OPENID)
    started = time.monotonic()
    reply = user.event("subscribe")
    took = time.monotonic() - started
    assert texts.WELCOME.splitlines()[0] in reply["Content"]
    assert took < 1.0, f"the welcome waited {took:.2f} s for WeChat"
    assert (follower(rt) or Follower()).unionid is None  # WeChat has not answered yet...
    assert wait_for(lambda: (follower(rt) or Follower()).unionid == UNIONID, timeout=10)  # ...and then it did


def test_quota_exhausted_at_the_follow_leaves_it_queued_and_pauses_the_users_api(
    linked_app: Flask,
    account: Any,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    emulator.add_followers(OPENID, unionid=UNIONID)
    emulator.control("POST", "/faults", {"path": BATCHGET, "errcode": 45009, "count": 1})
    user = WeChatUser(linked_app.test_client(), account, OPENID)
    assert texts.WELCOME.splitlines()[0] in user.event("subscribe")["Content"]
    assert linker(linked_app).wait_idle(10)
    assert (follower(rt) or Follower()).unionid is None
    assert queued(rt) == [OPENID]
    assert rt.redis.exists(redis_keys.wechat_paused(rt.settings.wechat.appid, "users"))  # no call until the reset
    lease_passes(rt)
    report = follower_links.drain(rt.db.session, rt.redis, build_gateway(rt.settings, rt.redis).official)
    assert report == follower_links.LinkReport(waiting=1)
    assert calls(emulator, BATCHGET) == 1  # the paused family was not called again


def test_an_openid_wechat_refuses_does_not_block_the_others(
    linked_app: Flask,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    others = [f"oFollowLink00000000000000{n:02d}" for n in range(2, 5)]
    emulator.add_followers(*others)
    emulator.add_followers(OPENID, unionid=UNIONID)
    with rt.db.session() as s:
        s.add_all(Follower(openid=o, subscribed=True) for o in [OPENID, *others])
    for openid in [*others, "oNeverIssuedByWeChat00000001", OPENID]:
        follower_links.enqueue(rt.redis, openid)
    report = follower_links.drain(rt.db.session, rt.redis, build_gateway(rt.settings, rt.redis).official)
    assert report == follower_links.LinkReport(fetched=4, linked=1, dropped=1)
    assert (follower(rt) or Follower()).unionid == UNIONID
    assert queued(rt) == []


def test_link_on_demand_for_one_openid_and_for_the_unlinked_followers(
    linked_app: Flask,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    second, second_unionid = "oFollowLink0000000000000009", "uFollowLink0000000000000009"
    emulator.add_followers(OPENID, unionid=UNIONID)
    emulator.add_followers(second, unionid=second_unionid)
    with rt.db.session() as s:
        s.add_all([Follower(openid=OPENID, subscribed=True), Follower(openid=second, subscribed=True)])
    official = build_gateway(rt.settings, rt.redis).official
    with rt.db.session() as s:
        assert follower_links.link(s, official, OPENID) == UNIONID
        assert follower_links.link(s, official, "oNeverIssuedByWeChat00000001") is None  # 40003: logged, not raised
    assert (follower(rt) or Follower()).unionid == UNIONID
    with rt.db.session() as s:
        assert follower_links.link_unlinked(s, official) == 1  # only the second one still had no unionid
    assert (follower(rt, second) or Follower()).unionid == second_unionid
    before = calls(emulator, BATCHGET)
    with rt.db.session() as s:
        assert follower_links.link_unlinked(s, official) == 0
    assert calls(emulator, BATCHGET) == before  # nobody left to link: no call


def test_a_retried_follow_is_linked_once(
    linked_app: Flask,
    account: Any,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    rt: Runtime = linked_app.extensions["xiaoyou"]
    emulator.add_followers(OPENID, unionid=UNIONID)
    user = WeChatUser(linked_app.test_client(), account, OPENID)
    fields = user.fields(MsgType="event", Event="subscribe", EventKey="")
    first, retry = user.reply(fields), user.reply(fields)
    assert first == retry
    assert linker(linked_app).wait_idle(10)
    assert (follower(rt) or Follower()).unionid == UNIONID
    assert calls(emulator, BATCHGET) == 1
