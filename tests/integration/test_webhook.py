"""The webhook end to end on the real app, database and Redis: signed, encrypted XML in; checked, decrypted XML out."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bot.dedupe import PENDING
from bot.state import RedisStateStore
from core import redis_keys, texts
from core.db import Database
from core.runtime import Runtime
from emulator.testing import wait_for
from emulator.wire import Account, sha1_signature
from models import Follower, InboundMessage, Inquiry, OutboundMessage
from tests.conftest import TOKEN, WeChatUser


def count(rt: Runtime, model: type[Any]) -> int:
    with rt.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def rt(app: Any) -> Runtime:
    return app.extensions["xiaoyou"]


# --- the URL check -------------------------------------------------------------------------------------------------


def test_url_check_echoes_echostr_only_for_a_valid_signature(client: FlaskClient) -> None:
    ts, nonce = str(int(time.time())), "42"
    query = {"signature": sha1_signature(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "abc123"}
    ok = client.get("/wechat", query_string=query)
    assert (ok.status_code, ok.data) == (200, b"abc123")
    bad = client.get("/wechat", query_string={**query, "signature": "f" * 40})
    assert bad.status_code == 403 and b"abc123" not in bad.data


# --- conversations -------------------------------------------------------------------------------------------------


def test_subscribe_with_a_scene_welcomes_and_records_the_follower(user: WeChatUser, rt: Runtime) -> None:
    reply = user.event("subscribe", "qrscene_class:2008:cs")
    assert reply["MsgType"] == "text" and reply["ToUserName"] == user.openid
    assert texts.WELCOME.splitlines()[0] in reply["Content"]
    with rt.db.session() as s:
        f = s.scalar(select(Follower).where(Follower.openid == user.openid))
        assert f is not None and f.subscribed and f.subscribe_scene == "class:2008:cs"
        assert f.subscribed_at is not None and f.last_interaction_at is not None


def test_unsubscribe_keeps_the_history(user: WeChatUser, rt: Runtime) -> None:
    now = int(time.time())
    user.event("subscribe", CreateTime=now - 2)
    assert user.event("unsubscribe", CreateTime=now - 1) == {}  # answered `success`: nobody can read a reply
    with rt.db.session() as s:
        f = s.scalar(select(Follower).where(Follower.openid == user.openid))
        assert f is not None and not f.subscribed and f.unsubscribed_at is not None and f.subscribed_at is not None
    user.event("subscribe", CreateTime=now)  # events are identified by the second they happened in
    with rt.db.session() as s:
        assert s.scalar(select(Follower.subscribed).where(Follower.openid == user.openid)) is True


def test_help_by_word_and_by_menu(user: WeChatUser) -> None:
    assert user.say("帮助") == texts.HELP
    assert user.say("HELP") == texts.HELP
    assert user.event("CLICK", "HELP")["Content"] == texts.HELP


def test_location_message_and_report_are_stored(user: WeChatUser, rt: Runtime) -> None:
    fields = user.fields(
        MsgType="location", Location_X="31.2304", Location_Y="121.4737", Scale=15, Label="上海", MsgId=9001
    )
    assert user.reply(fields)["Content"] == texts.ASSOCIATION_NONE.format(place="上海")  # none in this test
    assert user.event("LOCATION", Latitude="39.9042", Longitude="116.4074", Precision="30") == {}
    with rt.db.session() as s:
        f = s.scalar(select(Follower).where(Follower.openid == user.openid))
        assert f is not None and (f.last_latitude, f.last_longitude) == (39.9042, 116.4074)


def test_fallback_for_what_is_no_question_and_unknown_message_types(user: WeChatUser, rt: Runtime) -> None:
    # Free text and images go to the help desk (tests/inquiries/test_bot_desk.py); a lone character is no question.
    assert user.say("嗯") == texts.FALLBACK
    odd = user.fields(MsgType="hologram", MsgId=77, Content="?")
    assert user.reply(odd)["Content"] == texts.FALLBACK
    assert user.reply(user.fields(MsgType="video", MediaId="v1", ThumbMediaId="t1", MsgId=78))["Content"] == (
        texts.FALLBACK
    )
    assert count(rt, Inquiry) == 0


def test_unknown_events_are_answered_with_success_not_an_error(user: WeChatUser) -> None:
    response = user.push(user.fields(MsgType="event", Event="brand_new_event_2027", EventKey="x"))
    assert (response.status_code, response.data) == (200, b"success")


def test_ask_conversation_files_one_inquiry(user: WeChatUser, rt: Runtime) -> None:
    assert "请直接输入" in user.say("提问")
    assert user.say("我") == texts.ASK_TOO_SHORT.format(min_chars=2)  # stays in the step
    answer = user.say("请问 2026 年校庆活动在哪天？")
    assert answer.startswith("已收到您的问题")
    with rt.db.session() as s:
        [inquiry] = s.scalars(select(Inquiry)).all()
    assert inquiry.question == "请问 2026 年校庆活动在哪天？"
    # The conversation is over; what the user adds soon after joins the same inquiry (docs/flows/desk.md).
    assert user.say("是上午还是下午？") == texts.DESK_FOLLOW_UP_JOINED.format(number=inquiry.id)
    assert count(rt, Inquiry) == 1


def test_a_question_over_the_limit_is_filed_with_its_first_characters_and_the_user_is_told(
    user: WeChatUser, rt: Runtime
) -> None:
    from services.inquiries import desk as inquiries

    user.say("提问")
    kept = "请问" + "校" * (inquiries.MAX_CHARS - 6) + "最后四字"  # exactly MAX_CHARS characters
    dropped = "这一段超出了上限"
    answer = user.say(kept + dropped)
    with rt.db.session() as s:
        filed = s.scalars(select(Inquiry)).all()
        assert [i.question for i in filed] == [kept]  # filed, not refused: the user need not retype it
        number = filed[0].id
    assert answer == texts.ASK_RECEIVED_TRUNCATED.format(
        number=number, max_chars=inquiries.MAX_CHARS, tail="校校校校校校最后四字", dropped=len(dropped)
    )
    # One text, one inquiry: the conversation is over, and the rest joins the same inquiry as a follow-up.
    assert user.say(dropped) == texts.DESK_FOLLOW_UP_JOINED.format(number=number)


def test_a_question_of_exactly_the_limit_is_filed_whole(user: WeChatUser, rt: Runtime) -> None:
    from services.inquiries import desk as inquiries

    user.say("提问")
    question = "问" * inquiries.MAX_CHARS
    answer = user.say(f"  {question}\n")  # surrounding blanks are not counted
    with rt.db.session() as s:
        inquiry = s.scalars(select(Inquiry)).one()
    assert inquiry.question == question
    assert answer == texts.ASK_RECEIVED.format(number=inquiry.id)


def test_ask_conversation_asks_again_for_non_text(user: WeChatUser) -> None:
    user.say("提问")
    image = user.fields(MsgType="image", PicUrl="http://x/y.jpg", MediaId="m1", MsgId=5)
    assert user.reply(image)["Content"] == texts.ASK_NOT_TEXT


def test_cancel_works_inside_a_conversation_and_outside(user: WeChatUser, rt: Runtime) -> None:
    user.say("提问")
    assert user.say("取消") == texts.CANCELLED
    assert user.say("嗯") == texts.FALLBACK  # not taken for the question
    assert user.say("取消") == texts.NOTHING_TO_CANCEL
    assert count(rt, Inquiry) == 0


def test_a_timed_out_conversation_tells_the_user_how_to_restart(
    settings_factory: Any, make_app: Any, account: Account, redis_url: str
) -> None:
    app = make_app(settings_factory(conversation={"timeout_seconds": 10}))
    user = WeChatUser(app.test_client(), account, "o_slow_user")
    user.say("提问")
    store = RedisStateStore(redis.Redis.from_url(redis_url, decode_responses=True))
    current = store.get("o_slow_user")
    assert current is not None and current.step == "waiting_question"
    store.set("o_slow_user", dataclasses.replace(current, expires_at=time.time() - 1))  # ten minutes pass
    assert user.say("我的问题是……") == texts.TIMED_OUT["ask"]
    assert user.say("嗯") == texts.FALLBACK  # the conversation is gone: not taken for the question


# --- duplicates ---------------------------------------------------------------------------------------------------


def test_a_retry_gets_the_same_reply_and_acts_once(user: WeChatUser, rt: Runtime) -> None:
    user.say("提问")
    fields = user.fields(MsgType="text", Content="校友卡怎么办理？", MsgId=123456)
    first = user.reply(fields)
    retry = user.reply(fields)
    assert first["Content"] == retry["Content"] and first["Content"].startswith("已收到")
    assert count(rt, Inquiry) == 1
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).where(InboundMessage.dedupe_key == "msg:123456")) == 1


def test_a_retry_after_redis_lost_the_claim_is_stopped_by_the_database(user: WeChatUser, rt: Runtime) -> None:
    user.say("提问")
    fields = user.fields(MsgType="text", Content="同一个问题", MsgId=555)
    first = user.reply(fields)
    rt.redis.flushdb()  # the claim and the conversation state are gone
    retry = user.reply(fields)
    assert retry["Content"] == first["Content"]
    assert count(rt, Inquiry) == 1


# --- the per-user lock ----------------------------------------------------------------------------------------------


def test_a_push_waits_for_its_users_lock_and_reads_the_state_the_holder_left(
    user: WeChatUser, rt: Runtime, account: Account
) -> None:
    user.say("提问")  # now waiting for the question
    store = RedisStateStore(rt.redis)
    store.acquire(user.openid, "another-push")
    replies: list[str] = []
    fields = user.fields(MsgType="text", Content="校友会哪天开？", MsgId=6001)
    pushing = threading.Thread(target=lambda: replies.append(user.reply(fields)["Content"]))
    pushing.start()
    assert wait_for(lambda: rt.redis.get(redis_keys.push("msg:6001")) == PENDING)  # claimed, waiting for the lock
    store.clear(user.openid)  # the holder ends the conversation...
    store.release(user.openid, "another-push")  # ...and leaves
    pushing.join(10)
    # The state was read after the lock, not before: no 提问 answer; the help desk took the text instead.
    with rt.db.session() as s:
        [inquiry] = s.scalars(select(Inquiry)).all()
    assert replies == [texts.DESK_FILED.format(number=inquiry.id, minutes=30)]


def test_a_lock_that_stays_taken_answers_busy_and_gives_the_claim_back(
    settings_factory: Any, make_app: Any, account: Account
) -> None:
    app = make_app(settings_factory(conversation={"lock_wait_seconds": 0.2, "lock_timeout_seconds": 30}))
    rt: Runtime = app.extensions["xiaoyou"]
    user = WeChatUser(app.test_client(), account, "o_stuck_user")
    store = RedisStateStore(rt.redis)
    store.acquire(user.openid, "a-stuck-push")
    fields = user.fields(MsgType="text", Content="帮助", MsgId=6002)
    assert user.reply(fields)["Content"] == texts.BUSY
    assert rt.redis.get(redis_keys.push("msg:6002")) is None  # a retry may try again
    assert count(rt, InboundMessage) == 0
    store.release(user.openid, "a-stuck-push")
    assert user.reply(fields)["Content"] == texts.HELP  # WeChat's retry


# --- failures inside -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["bug", "database error"])
def test_a_crashing_handler_gets_an_apology_and_leaves_no_half_write(
    make_app: Any, account: Account, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    from sqlalchemy import text

    from bot.filters import keyword
    from bot.router import Router
    from services.inquiries import desk as inquiries

    boom = Router("boom")

    @boom.on(keyword("boom"))
    def explode(ctx: Any) -> None:
        inquiries.submit(ctx.session, ctx.openid, "half-written question", ctx.push.dedupe_key)
        if failure == "database error":  # on PostgreSQL this aborts the whole transaction, not just the statement
            ctx.session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        raise RuntimeError("handler bug")

    app = make_app(routers=[boom])
    user = WeChatUser(app.test_client(), account, "o_crash_user")
    response = user.push(user.fields(MsgType="text", Content="boom", MsgId=31337))
    assert response.status_code == 200
    assert account.read_reply(response.data)["Content"] == texts.APOLOGY
    rt: Runtime = app.extensions["xiaoyou"]
    assert count(rt, Inquiry) == 0
    with rt.db.session() as s:
        row = s.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == "msg:31337"))
        assert row is not None and row.status == "failed" and row.handler == "boom.explode"
        # The handler's writes are gone; the push's own (the log row above, the follower touch) were written again.
        follower = s.scalar(select(Follower).where(Follower.openid == "o_crash_user"))
        assert follower is not None and follower.last_interaction_at is not None
    logged = [r for r in caplog.records if r.getMessage().startswith("handler boom.explode failed")]
    assert logged and logged[0].request_id != "-"  # type: ignore[attr-defined]
    retry = user.push(user.fields(MsgType="text", Content="boom", MsgId=31337))
    assert account.read_reply(retry.data)["Content"] == texts.APOLOGY  # the retry gets the same answer, no new crash


def test_long_replies_are_never_sent_passively(make_app: Any, account: Account) -> None:
    from bot.filters import keyword
    from bot.replies import Reply
    from bot.router import Router

    long_router = Router("long")

    @long_router.on(keyword("long"))
    def long_answer(ctx: Any) -> Reply:
        return Reply("校友" * 1500)  # 9,000 bytes

    app = make_app(routers=[long_router])
    user = WeChatUser(app.test_client(), account, "o_long_user")
    response = user.push(user.fields(MsgType="text", Content="long", MsgId=4242))
    assert (response.status_code, response.data) == (200, b"success")
    rt: Runtime = app.extensions["xiaoyou"]
    with rt.db.session() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all()
        assert len(rows) == 5  # 9,000 bytes in pieces of at most 2,048
        assert all(r.idempotency_key.startswith("msg:4242#") for r in rows)


# --- bad input: precise status, nothing stored ---------------------------------------------------------------------


def nothing_stored(rt: Runtime) -> bool:
    return count(rt, InboundMessage) == 0 and count(rt, Follower) == 0 and not rt.redis.keys("xy:push:*")


def test_forged_signature(user: WeChatUser, rt: Runtime) -> None:
    r = user.push(user.fields(MsgType="text", Content="hi", MsgId=1), signature="0" * 40)
    assert r.status_code == 403 and r.data.startswith(b"bad_signature")
    assert nothing_stored(rt)


def test_forged_msg_signature(user: WeChatUser, rt: Runtime) -> None:
    r = user.push(user.fields(MsgType="text", Content="hi", MsgId=1), msg_signature="0" * 40)
    assert r.status_code == 403 and r.data.startswith(b"bad_signature: msg_signature")
    assert nothing_stored(rt)


def test_stale_timestamp(user: WeChatUser, rt: Runtime, account: Account) -> None:
    old = account.build_push(user.fields(MsgType="text", Content="hi", MsgId=1), timestamp=int(time.time()) - 3600)
    r = user.client.post("/wechat", query_string=old.query, data=old.body)
    assert r.status_code == 403 and r.data.startswith(b"stale_timestamp")
    assert nothing_stored(rt)


def test_appid_mismatch(user: WeChatUser, rt: Runtime, account: Account) -> None:
    other = Account("wx_not_ours", account.token, account.aes_key)
    push = other.build_push(user.fields(MsgType="text", Content="hi", MsgId=1))
    r = user.client.post("/wechat", query_string=push.query, data=push.body)
    assert r.status_code == 403 and r.data.startswith(b"appid_mismatch")
    assert nothing_stored(rt)


def test_plaintext_push_in_safe_mode(user: WeChatUser, rt: Runtime) -> None:
    user.mode = "plaintext"
    r = user.push(user.fields(MsgType="text", Content="hi", MsgId=1))
    assert r.status_code == 403 and r.data.startswith(b"encryption_required")
    assert nothing_stored(rt)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><MsgType>text</MsgType>",
        b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>',
        b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<xml><Encrypt>&b;</Encrypt></xml>",
        b"\xff\xfe\x00garbage",
    ],
    ids=["truncated", "xxe", "billion_laughs", "binary"],
)
def test_malformed_xml(client: FlaskClient, rt: Runtime, body: bytes) -> None:
    ts, nonce = str(int(time.time())), "5"
    query = {
        "signature": sha1_signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": "whatever",
    }
    r = client.post("/wechat", query_string=query, data=body)
    assert r.status_code == 400 and r.data.startswith(b"malformed_xml")
    assert b"root:" not in r.data and b"aaaaaaaaaa" not in r.data
    assert nothing_stored(rt)


def test_body_over_the_cap(user: WeChatUser, rt: Runtime) -> None:
    r = user.push(user.fields(MsgType="text", Content="长" * 30000, MsgId=1))
    assert r.status_code == 413 and r.data.startswith(b"body_too_large")
    assert nothing_stored(rt)


def test_a_valid_push_gets_an_apology_not_an_error_page_when_redis_is_down(
    settings_factory: Any, make_app: Any, account: Account
) -> None:
    app = make_app(settings_factory(redis={"url": "redis://127.0.0.1:9/0"}))
    user = WeChatUser(app.test_client(), account, "o_redis_down")
    response = user.push(user.fields(MsgType="text", Content="帮助", MsgId=99))
    assert response.status_code == 200
    assert account.read_reply(response.data)["Content"] == texts.APOLOGY


def _kill_pooled_connections(rt: Runtime) -> None:
    """What a database restart does to the pool: every idle connection in it is dead (PostgreSQL: the server ends
    their backends; SQLite has no server, so they are closed under the pool's feet)."""
    idle = [record.dbapi_connection for record in rt.db.engine.pool._pool.queue]  # type: ignore[attr-defined]
    assert idle
    if rt.db.engine.dialect.name != "postgresql":
        for dbapi_connection in idle:
            dbapi_connection.close()
        return
    admin = Database(rt.settings.database_url)
    with admin.engine.connect() as conn:
        for dbapi_connection in idle:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(dbapi_connection.info.backend_pid)})")
    admin.dispose()


def test_after_a_database_restart_one_push_gets_an_apology_and_the_next_is_answered(
    user: WeChatUser, rt: Runtime
) -> None:
    assert user.say("帮助") == texts.HELP  # the pool now holds a connection
    _kill_pooled_connections(rt)
    assert user.say("帮助") == texts.APOLOGY  # no ping at checkout: the dead connection is found by the push
    assert user.say("帮助") == texts.HELP  # the pool was invalidated: a fresh connection
    assert user.say("帮助") == texts.HELP


def test_a_valid_push_gets_an_apology_when_the_database_is_down(
    settings_factory: Any, make_app: Any, account: Account, tmp_path: Any
) -> None:
    missing = tmp_path / "no-such-dir" / "x.db"  # SQLite cannot open it: every statement fails
    app = make_app(settings_factory(database={"url": f"sqlite:///{missing}"}))
    user = WeChatUser(app.test_client(), account, "o_db_down")
    response = user.push(user.fields(MsgType="text", Content="帮助", MsgId=98))
    assert response.status_code == 200
    assert account.read_reply(response.data)["Content"] == texts.APOLOGY
