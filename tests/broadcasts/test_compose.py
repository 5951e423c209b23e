"""Composing a broadcast: every refused field named at once, drafts saved and edited only as drafts (audited), the
payload of each channel accepted by the WeChat emulator exactly as the sender will send it, the preview, and the
test send to a staff member's linked WeChat (a mass preview, a template message, refusals)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, ValidationFailed
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import AuditEntry, StaffAccount
from models.broadcast import SCHEDULED, Broadcast, Segment
from services.broadcasts import compose
from services.broadcasts.compose import DraftInput
from wechat.gateway import Gateway

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 Beijing time
STAFF_OPENID = "o_staff_broadcaster_01"


def text_draft(**changes: Any) -> DraftInput:
    values: dict[str, Any] = {"title": "校庆通知", "channels": ["mass", "custom"], "kind": "text", "text": "校庆快乐！"}
    return DraftInput(**(values | changes))


def news_draft(**changes: Any) -> DraftInput:
    values: dict[str, Any] = {
        "title": "校友杂志第 12 期",
        "channels": ["mass", "template", "subscribe", "custom"],
        "kind": "news",
        "article_title": "校友杂志 2026 冬",
        "article_digest": "本期：百年校庆特辑",
        "article_cover_url": "https://example.edu.cn/cover.jpg",
        "article_media_id": "MEDIA_abc-123",
        "article_url": "https://example.edu.cn/magazine/12",
        "template_id": "TPL_news_1",
        "template_fields": "thing1: 校友杂志 2026 冬\ntime2：2026-12-07",
        "template_url": "https://example.edu.cn/magazine/12",
        "subscribe_template_id": "SUB_news_1",
        "subscribe_fields": "thing1: 校友杂志 2026 冬",
        "subscribe_page": "pages/news/index?id=12",
    }
    return DraftInput(**(values | changes))


def problems(exc: pytest.ExceptionInfo[ValidationFailed]) -> set[tuple[str | None, str]]:
    return {(p.field, p.problem) for p in exc.value.fields}


def test_every_refused_field_is_named_at_once_with_its_message(session: Session) -> None:
    draft = news_draft(
        title="",
        article_url="ftp://x",
        article_media_id="",
        template_fields="thing1 校友\n1bad: x\nthing1: y",
        subscribe_page="https://not-a-page",
        scheduled_at="2026-13-01 09:00",
    )
    with pytest.raises(ValidationFailed) as refused:
        compose.validate(session, draft, now=NOW)
    assert problems(refused) == {
        ("title", "required"),
        ("article_url", "bad_url"),
        ("article_media_id", "required"),  # a mass send of an article needs its material id
        ("template_fields", "bad_field_line"),
        ("subscribe_page", "bad_page"),
        ("scheduled_at", "bad_time"),
    }
    lines = [p.message for p in refused.value.fields if p.field == "template_fields"]
    expected = "模板字段第 {n} 行应写成「字段名: 内容」，字段名以字母开头（如 thing1: 校庆晚会）"
    assert lines == [expected.format(n=n) for n in (1, 2)]
    assert "标题不能为空" in refused.value.user_message
    assert session.scalar(select(Broadcast.id)) is None  # nothing written


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        (text_draft(channels=[]), {("channels", "no_channel")}),
        (text_draft(channels=["mass", "sms"]), {("channels", "bad_channel")}),
        (text_draft(channels=["mass", "mass"]), {("channels", "duplicate_channel")}),
        (text_draft(text="字" * 683), {("text", "text_too_long")}),  # 2,049 bytes of UTF-8
        (text_draft(text="a\x07b"), {("text", "bad_characters")}),
        (text_draft(kind="video"), {("kind", "bad_kind")}),
        (
            DraftInput(title="t", channels=["mass", "template"], kind="template", template_id="T", template_fields="a"),
            {("channels", "needs_body"), ("template_fields", "bad_field_line")},
        ),
        (text_draft(channels=["template"]), {("template_id", "required"), ("template_fields", "required")}),
        (text_draft(segment_id="999"), {("segment_id", "unknown_segment")}),
        (text_draft(scheduled_at="2026-12-07 11:00"), {("scheduled_at", "time_past")}),
        (text_draft(scheduled_at="2027-06-01 09:00"), {("scheduled_at", "time_too_late")}),
        (news_draft(channels=["custom"], article_cover_url=""), {("article_cover_url", "cover_needed")}),
    ],
)
def test_a_rule_broken_names_its_field(session: Session, draft: DraftInput, expected: set[tuple[str, str]]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        compose.validate(session, draft, now=NOW)
    assert problems(refused) == expected


def test_a_time_is_beijing_time_and_a_2048_byte_text_is_accepted(session: Session) -> None:
    columns = compose.validate(session, text_draft(text="字" * 682, scheduled_at="2026-12-08T09:30"), now=NOW)
    assert columns["scheduled_at"] == datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    assert columns["channels"] == "mass,custom"


def test_a_draft_is_saved_edited_while_a_draft_and_audited(session: Session) -> None:
    segment = Segment(name="2015 届", filters_json="{}", created_by="t", updated_by="t")
    session.add(segment)
    session.flush()
    made = compose.save_draft(session, text_draft(segment_id=str(segment.id)), actor="staff:ann", now=NOW)
    assert (made.status, made.segment_id, made.created_by) == ("draft", segment.id, "staff:ann")
    edited = compose.save_draft(
        session, text_draft(channels=["custom", "mass"], text="改过"), actor="staff:bob", broadcast_id=made.id, now=NOW
    )
    assert edited.id == made.id and edited.channels == "custom,mass" and edited.segment_id is None
    assert DraftInput.of(edited).text == "改过" and DraftInput.of(edited).channels == ["custom", "mass"]
    made.status = SCHEDULED
    with pytest.raises(Conflict) as refused:
        compose.save_draft(session, text_draft(), actor="staff:bob", broadcast_id=made.id, now=NOW)
    assert refused.value.user_message == "只有草稿可以修改"
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "broadcast.draft_saved")).all()
    assert [(e.actor, e.detail["created"]) for e in entries] == [("staff:ann", True), ("staff:bob", False)]


def test_the_payloads_of_every_channel(session: Session) -> None:
    b = compose.save_draft(session, news_draft(), actor="staff:ann", now=NOW)
    assert compose.content_payload(b, "mass") == {"msgtype": "mpnews", "mpnews": {"media_id": "MEDIA_abc-123"}}
    assert compose.content_payload(b, "custom") == {
        "msgtype": "news",
        "articles": [
            {
                "title": "校友杂志 2026 冬",
                "description": "本期：百年校庆特辑",
                "url": "https://example.edu.cn/magazine/12",
                "image": "https://example.edu.cn/cover.jpg",
            }
        ],
    }
    assert compose.content_payload(b, "template") == {
        "template_id": "TPL_news_1",
        "data": {"thing1": {"value": "校友杂志 2026 冬"}, "time2": {"value": "2026-12-07"}},
        "url": "https://example.edu.cn/magazine/12",
    }
    assert compose.content_payload(b, "subscribe") == {
        "template_id": "SUB_news_1",
        "data": {"thing1": {"value": "校友杂志 2026 冬"}},
        "page": "pages/news/index?id=12",
    }
    t = compose.save_draft(session, text_draft(), actor="staff:ann", now=NOW)
    assert compose.content_payload(t, "mass") == {"msgtype": "text", "text": {"content": "校庆快乐！"}}
    assert compose.content_payload(t, "custom") == {"msgtype": "text", "content": "校庆快乐！"}
    with pytest.raises(ValidationFailed) as refused:
        compose.content_payload(t, "template")
    assert refused.value.user_message == "这条内容不能通过模板消息发送"


def test_the_payloads_are_what_wechat_accepts_and_delivers(
    session: Session, gateway: Gateway, emulator: RunningEmulator
) -> None:
    """Each payload through the gateway call the sender uses; the emulator records what the user received."""
    emulator.add_followers("o_reader")
    emulator.interact("o_reader", "message")
    gateway.official.record_interaction("o_reader", "message")
    emulator.control("POST", "/consents", {"openid": "mp_reader", "template_id": "SUB_news_1"})
    b = compose.save_draft(session, news_draft(), actor="staff:ann", now=NOW)
    t = compose.save_draft(session, text_draft(), actor="staff:ann", now=NOW)
    gateway.official.send_customer_message("o_reader", compose.content_payload(b, "custom"))
    tpl = compose.content_payload(b, "template")
    gateway.official.send_template("o_reader", tpl["template_id"], tpl["data"], client_msg_id="row-1", url=tpl["url"])
    sub = compose.content_payload(b, "subscribe")
    gateway.miniprogram.send_subscribe_message("mp_reader", sub["template_id"], sub["data"], sub["page"])
    gateway.official.mass_send(compose.content_payload(t, "mass"), clientmsgid="bc-t", openids=["o_reader", "o_x"])
    got = {d["channel"]: d["message"] for d in emulator.deliveries()}
    assert got["custom"]["news"]["articles"][0]["picurl"] == "https://example.edu.cn/cover.jpg"
    assert got["template"]["data"]["time2"] == {"value": "2026-12-07"}
    assert got["subscribe"]["page"] == "pages/news/index?id=12"
    assert got["mass"] == {"msgtype": "text", "text": {"content": "校庆快乐！"}}


def test_the_preview_shows_each_channel_in_fallback_order(session: Session) -> None:
    b = compose.save_draft(session, news_draft(channels=["custom", "mass", "template"]), actor="a", now=NOW)
    shown = compose.preview(b)
    assert [(p.channel, p.shape) for p in shown] == [("custom", "article"), ("mass", "article"), ("template", "card")]
    assert shown[0].image == "https://example.edu.cn/cover.jpg" and shown[0].body == "本期：百年校庆特辑"
    assert "MEDIA_abc-123" in shown[1].note
    assert shown[2].fields == (("thing1", "校友杂志 2026 冬"), ("time2", "2026-12-07"))
    t = compose.save_draft(session, text_draft(), actor="a", now=NOW)
    assert [(p.shape, p.body) for p in compose.preview(t)] == [("text", "校庆快乐！"), ("text", "校庆快乐！")]


def staff_account(session: Session, openid: str | None) -> StaffAccount:
    account = StaffAccount(username="ann", display_name="Ann", password_hash="x", created_by="t", openid=openid)
    session.add(account)
    session.flush()
    return account


def test_a_test_send_reaches_the_staff_members_own_wechat(
    session: Session, db_settings: Settings, gateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.add_followers(STAFF_OPENID)
    me = staff_account(session, STAFF_OPENID)
    t = compose.save_draft(session, text_draft(), actor="staff:ann", now=NOW)
    assert compose.test_send(session, db_settings, gateway.official, t.id, me.id, actor="staff:ann") == "mass"
    b = compose.save_draft(session, news_draft(), actor="staff:ann", now=NOW)
    official = gateway.official
    assert compose.test_send(session, db_settings, official, b.id, me.id, actor="a", channel="template") == "template"
    got = [(d["channel"], d["message"]) for d in emulator.deliveries(openid=STAFF_OPENID)]
    assert got[0] == ("preview", {"msgtype": "text", "text": {"content": "校庆快乐！"}})
    assert got[1][0] == "template" and got[1][1]["template_id"] == "TPL_news_1"
    sent = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "broadcast.test_sent")).all()
    assert [d["channel"] for d in sent] == ["mass", "template"]

    # The customer-service window is closed for the staff member: WeChat's refusal, in words.
    with pytest.raises(Conflict) as closed:
        compose.test_send(session, db_settings, gateway.official, t.id, me.id, actor="staff:ann", channel="custom")
    assert closed.value.user_message == "测试发送失败（微信错误码 45015：不在 48 小时客服消息窗口内）"
    with pytest.raises(ValidationFailed):
        compose.test_send(session, db_settings, gateway.official, b.id, me.id, actor="a", channel="subscribe")


def test_a_test_send_needs_a_linked_wechat_and_stops_at_the_daily_limit(
    session: Session, gateway_settings: Any, gateway: Gateway, emulator: RunningEmulator
) -> None:
    settings = gateway_settings(broadcasts={"test_sends_per_day": 2})
    nobody = staff_account(session, None)
    t = compose.save_draft(session, text_draft(), actor="staff:ann", now=NOW)
    with pytest.raises(Conflict) as unlinked:
        compose.test_send(session, settings, gateway.official, t.id, nobody.id, actor="staff:ann")
    assert "绑定" in unlinked.value.user_message
    nobody.openid = STAFF_OPENID
    emulator.add_followers(STAFF_OPENID)
    for _ in range(2):
        compose.test_send(session, settings, gateway.official, t.id, nobody.id, actor="staff:ann")
    with pytest.raises(Conflict) as limited:
        compose.test_send(session, settings, gateway.official, t.id, nobody.id, actor="staff:ann")
    assert limited.value.user_message == "这条广播今天已测试发送 2 次，请明天再试"
    assert len(emulator.deliveries(openid=STAFF_OPENID, channel="preview")) == 2
    sub = compose.save_draft(session, news_draft(channels=["subscribe"]), actor="a", now=NOW + timedelta(seconds=1))
    with pytest.raises(Conflict) as subscribe_only:
        compose.test_send(session, settings, gateway.official, sub.id, nobody.id, actor="a")
    assert "订阅消息只能发给小程序用户" in subscribe_only.value.user_message
