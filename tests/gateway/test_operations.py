"""Every gateway operation against the emulator, and the limits in front of them."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from core.errors import (
    CustomerServiceQuotaUsed,
    CustomerServiceWindowClosed,
    InvalidLoginCode,
    InvalidOpenId,
    NoSubscribeConsent,
    NotSubscribed,
    ValidationFailed,
    WeChatAPIError,
    WeChatQuotaExhausted,
    WeChatRateLimited,
    WeChatUnavailable,
)
from emulator.testing import RunningEmulator
from services import wechat_menu
from tests.gateway.conftest import calls
from wechat.errors import map_error
from wechat.gateway import Gateway, build_gateway

ALICE = "o_alice_0000000000000000000001"
BOB = "o_bob_00000000000000000000002"


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (45009, WeChatQuotaExhausted),
        (45011, WeChatRateLimited),
        (45015, CustomerServiceWindowClosed),
        (45047, CustomerServiceQuotaUsed),
        (43004, NotSubscribed),
        (43101, NoSubscribeConsent),
        (40029, InvalidLoginCode),
        (40163, InvalidLoginCode),
        (40003, InvalidOpenId),
        (40013, WeChatAPIError),  # not mapped: the generic error
    ],
)
def test_errcode_mapping(errcode: int, error: type[WeChatAPIError]) -> None:
    mapped = map_error(errcode, "msg")
    assert type(mapped) is error and mapped.errcode == errcode


# --- customer-service messages --------------------------------------------------------------------------------


def test_customer_service_messages_of_every_kind(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    emulator.interact(ALICE, "message")
    gateway.official.record_interaction(ALICE, "message")
    media_id = gateway.official.upload_media("image", "card.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")
    official = gateway.official
    official.send_customer_message(ALICE, {"msgtype": "text", "content": "你好"})
    official.send_customer_message(ALICE, {"msgtype": "news", "articles": [{"title": "校庆", "url": "https://x.cn"}]})
    official.send_customer_message(ALICE, {"msgtype": "image", "media_id": media_id})
    official.send_customer_message(
        ALICE,
        {
            "msgtype": "miniprogrampage",
            "title": "校友卡",
            "appid": "wx_mp",
            "pagepath": "pages/card/index",
            "thumb_media_id": media_id,
        },
    )
    kinds = [d["message"]["msgtype"] for d in emulator.deliveries(ALICE, "custom")]
    assert kinds == ["text", "news", "image", "miniprogrampage"]


def test_no_call_is_made_outside_the_window(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    with pytest.raises(CustomerServiceWindowClosed):
        gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": "x"})
    assert calls(emulator, "/cgi-bin/message/custom/send") == 0


def test_five_messages_after_a_user_message_and_no_sixth_call(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    emulator.interact(ALICE, "message")
    gateway.official.record_interaction(ALICE, "message")
    for n in range(5):
        gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": f"{n}"})
    with pytest.raises(CustomerServiceQuotaUsed):
        gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": "6"})
    assert calls(emulator, "/cgi-bin/message/custom/send") == 5
    gateway.official.record_interaction(ALICE, "message")  # the user writes again: a new allowance
    emulator.interact(ALICE, "message")
    gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": "again"})


def test_three_messages_after_a_menu_click(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    emulator.interact(ALICE, "click")
    gateway.official.record_interaction(ALICE, "event")
    for n in range(3):
        gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": f"{n}"})
    with pytest.raises(CustomerServiceQuotaUsed):
        gateway.official.send_customer_message(ALICE, {"msgtype": "text", "content": "4"})
    assert calls(emulator, "/cgi-bin/message/custom/send") == 3


# --- template, subscribe and mass messages ---------------------------------------------------------------------


def test_template_message_with_client_msg_id_is_sent_once(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    data = {"thing1": {"value": "校庆晚会"}}
    first = gateway.official.send_template(ALICE, "TPL_EVENT", data, client_msg_id="event-42:alice")
    again = gateway.official.send_template(ALICE, "TPL_EVENT", data, client_msg_id="event-42:alice")
    assert first == again
    assert len(emulator.deliveries(ALICE, "template")) == 1


def test_template_to_someone_who_unfollowed(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(BOB)
    emulator.configure(webhook_url="http://127.0.0.1:9/wechat")  # the emulator tells nobody; it only records
    emulator.control("POST", "/push", {"openid": BOB, "MsgType": "event", "Event": "unsubscribe"})
    with pytest.raises(NotSubscribed):
        gateway.official.send_template(BOB, "TPL", {}, client_msg_id="x")


def test_daily_quota_45009_pauses_the_family_until_reset(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    emulator.configure(template_per_day=1)
    gateway.official.send_template(ALICE, "TPL", {}, client_msg_id="a")
    with pytest.raises(WeChatQuotaExhausted):
        gateway.official.send_template(ALICE, "TPL", {}, client_msg_id="b")
    with pytest.raises(WeChatQuotaExhausted, match="paused"):
        gateway.official.send_template(ALICE, "TPL", {}, client_msg_id="c")
    assert calls(emulator, "/cgi-bin/message/template/send") == 2  # the third never left
    ttl = gateway.official.limits.redis.ttl(f"xy:wechat:paused:{gateway.official.client.appid}:template")
    assert 0 < int(ttl) <= 86401


def test_our_daily_budget_stops_before_wechat_would(
    gateway_settings: Any, cache: redis.Redis, emulator: RunningEmulator
) -> None:
    emulator.add_followers(ALICE)
    gateway = build_gateway(gateway_settings(wechat_limits={"template": {"per_minute": 0, "per_day": 2}}), cache)
    for n in range(2):
        gateway.official.send_template(ALICE, "TPL", {}, client_msg_id=f"{n}")
    with pytest.raises(WeChatQuotaExhausted):
        gateway.official.send_template(ALICE, "TPL", {}, client_msg_id="3")
    assert calls(emulator, "/cgi-bin/message/template/send") == 2
    assert gateway.official.limits.used_today("template") == 2


def test_the_token_bucket_limits_calls_per_minute(
    gateway_settings: Any, cache: redis.Redis, emulator: RunningEmulator
) -> None:
    gateway = build_gateway(gateway_settings(wechat_limits={"wxacode": {"per_minute": 2, "per_day": 0}}), cache)
    gateway.miniprogram.wxacode("card-1")
    gateway.miniprogram.wxacode("card-2")
    with pytest.raises(WeChatRateLimited):
        gateway.miniprogram.wxacode("card-3")
    assert calls(emulator, "/wxa/getwxacodeunlimit") == 2


def test_subscribe_message_consumes_consent(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.control("POST", "/consents", {"openid": ALICE, "template_id": "TPL_CARD", "count": 1})
    gateway.miniprogram.send_subscribe_message(ALICE, "TPL_CARD", {"thing1": {"value": "已通过"}}, page="pages/card")
    with pytest.raises(NoSubscribeConsent):
        gateway.miniprogram.send_subscribe_message(ALICE, "TPL_CARD", {"thing1": {"value": "again"}})


def test_mass_send_by_tag_all_and_openids_with_clientmsgid_and_preview(
    gateway: Gateway, emulator: RunningEmulator
) -> None:
    emulator.add_followers(ALICE, BOB)
    tag = gateway.official.create_tag("2008级")
    gateway.official.tag_users(tag, [ALICE])
    text = {"msgtype": "text", "text": {"content": "返校日通知"}}
    by_tag = gateway.official.mass_send(text, clientmsgid="bc-1", tag_id=tag)
    with pytest.raises(WeChatRateLimited):  # 45066: the same clientmsgid again within a minute
        gateway.official.mass_send(text, clientmsgid="bc-1", tag_id=tag)
    emulator.advance(61)
    repeat = gateway.official.mass_send(text, clientmsgid="bc-1", tag_id=tag)  # 45065: already sent, same msg_id
    assert repeat.msg_id == by_tag.msg_id
    gateway.official.mass_send({"msgtype": "text", "text": {"content": "全体"}}, clientmsgid="bc-2", to_all=True)
    gateway.official.mass_send(
        {"msgtype": "text", "text": {"content": "名单"}}, clientmsgid="bc-3", openids=[ALICE, BOB]
    )
    gateway.official.mass_preview({"msgtype": "text", "text": {"content": "预览"}}, ALICE)
    assert [d["message"]["text"]["content"] for d in emulator.deliveries(ALICE, "mass")] == [
        "返校日通知",
        "全体",
        "名单",
    ]
    assert len(emulator.deliveries(ALICE, "preview")) == 1
    with pytest.raises(ValidationFailed):
        gateway.official.mass_send(text, clientmsgid="bc-4")


# --- users, tags, menu, QR codes -------------------------------------------------------------------------------


def test_tagging_goes_in_batches_of_fifty(gateway: Gateway, emulator: RunningEmulator) -> None:
    openids = [f"o_tag_{n:024d}" for n in range(120)]
    emulator.add_followers(*openids)
    tag = gateway.official.create_tag("上海校友会")
    assert gateway.official.tag_users(tag, openids) == 3
    assert calls(emulator, "/cgi-bin/tags/members/batchtagging") == 3


def test_user_list_pages_and_batch_info(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 250, "prefix": "oPage"}})
    emulator.configure(user_list_page=100)
    pages = list(gateway.official.iter_follower_pages())
    assert [len(p.openids) for p in pages] == [100, 100, 50]
    assert pages[0].total == 250
    infos = gateway.official.follower_infos(pages[0].openids)
    assert len(infos) == 100 and all(i.subscribed for i in infos)
    with pytest.raises(ValidationFailed):
        gateway.official.follower_infos(pages[0].openids + pages[1].openids[:1])


def test_qr_codes_temporary_and_permanent(gateway: Gateway) -> None:
    temp = gateway.official.create_qrcode("event:homecoming-2026", expire_seconds=3600)
    assert temp.ticket and temp.expire_seconds == 3600
    permanent = gateway.official.create_qrcode("branch:shanghai", permanent=True)
    assert permanent.expire_seconds is None
    with pytest.raises(ValidationFailed):
        gateway.official.create_qrcode("x" * 65)


def test_menu_push_round_trip(gateway: Gateway, settings: Any) -> None:
    gateway.official.push_menu(wechat_menu.menu_json(settings.menu))  # config.yaml's menu, as the console pushes it
    current = gateway.official.current_menu()
    assert [b["name"] for b in current["menu"]["button"]] == ["校友卡", "班级群", "更多"]
    assert [b["key"] for b in current["menu"]["button"][2]["sub_button"]] == ["ASK", "HELP"]


# --- mini-program ---------------------------------------------------------------------------------------------


def test_code_to_session_is_single_use(gateway: Gateway, emulator: RunningEmulator) -> None:
    code = emulator.login_code("o_mp_user_1", unionid="u_1")
    session = gateway.miniprogram.code_to_session(code)
    assert (session.openid, session.unionid) == ("o_mp_user_1", "u_1")
    assert session.session_key not in repr(session)
    with pytest.raises(InvalidLoginCode) as used:
        gateway.miniprogram.code_to_session(code)
    assert used.value.errcode == 40163
    with pytest.raises(InvalidLoginCode) as bogus:
        gateway.miniprogram.code_to_session("not-a-code")
    assert bogus.value.errcode == 40029
    assert calls(emulator, "/cgi-bin/token") == 0  # code2session needs no access token


def test_phone_number_by_code(gateway: Gateway, emulator: RunningEmulator) -> None:
    code = emulator.control("POST", "/phone_codes", {"phone": "13800138000"})["code"]
    phone = gateway.miniprogram.phone_number(code)
    assert (phone.phone, phone.country_code) == ("13800138000", "86")
    with pytest.raises(InvalidLoginCode):
        gateway.miniprogram.phone_number(code)


def test_content_safety(gateway: Gateway) -> None:
    assert gateway.miniprogram.check_text("欢迎回家", "o_mp_user_1").suggest == "pass"
    assert gateway.miniprogram.check_text("代开发票找我", "o_mp_user_1").suggest == "risky"


def test_mini_program_code_scene_is_short_and_opaque(gateway: Gateway) -> None:
    png = gateway.miniprogram.wxacode("c=Ab3dE9", page="pages/card/index")
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValidationFailed):
        gateway.miniprogram.wxacode("x" * 33)
    with pytest.raises(ValidationFailed):
        gateway.miniprogram.wxacode("姓名")


# --- the network ----------------------------------------------------------------------------------------------


def test_an_unreachable_wechat_is_retried_then_reported(settings_factory: Any, cache: redis.Redis) -> None:
    gateway = build_gateway(
        settings_factory(wechat={"api_base_url": "http://127.0.0.1:9", "transient_retries": 2}), cache
    )
    with pytest.raises(WeChatUnavailable):
        gateway.official.follower_page()


def test_system_busy_is_retried_a_bounded_number_of_times(gateway: Gateway, emulator: RunningEmulator) -> None:
    emulator.control("POST", "/users", {"generate": {"count": 3, "prefix": "oBusy"}})
    emulator.control("POST", "/faults", {"path": "/cgi-bin/user/get", "errcode": -1, "count": 1})
    assert len(gateway.official.follower_page().openids) == 3  # one -1, then success
    assert calls(emulator, "/cgi-bin/user/get") == 2
    emulator.control("POST", "/faults", {"path": "/cgi-bin/user/get", "errcode": -1, "count": 5})
    with pytest.raises(WeChatAPIError) as info:
        gateway.official.follower_page()
    assert info.value.errcode == -1
    assert calls(emulator, "/cgi-bin/user/get") == 2 + 2  # transient_retries is 1 in these tests: two tries
