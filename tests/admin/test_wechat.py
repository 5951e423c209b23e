"""The console's official-account pages against a live WeChat emulator: the menu as configured (buttons, sub-buttons,
their type, key and url), pushed to WeChat (the emulator holds it; audited), WeChat's refusal and an unreachable
WeChat as messages on the page; the chat simulator (the help reply, the welcome, what a slow handler sends later by
customer-service message, what the form cannot forge or replay, bad input). Every route against every role is in
test_access.py; the browser test of the simulator is in test_wechat_browser.py."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bot.context import Context
from bot.filters import keyword
from bot.replies import Reply
from bot.router import Router
from core import texts
from core.settings import Settings
from emulator.testing import RunningEmulator, wait_for
from handlers import ROUTERS
from models import AuditEntry, Follower, InboundMessage
from services import chat_simulator
from tests.admin.conftest import csrf_token, post, sign_in, text
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS
from tests.gateway import conftest as gateway_fixtures

emulator = gateway_fixtures.emulator

MENU = {
    "button": [
        {"type": "click", "name": "校友卡", "key": "CARD"},
        {
            "name": "服务",
            "sub_button": [
                {"type": "click", "name": "帮助", "key": "HELP"},
                {"type": "view", "name": "官网", "url": "https://alumni.example.edu/"},
            ],
        },
    ]
}
ADMIN_LIMITS = {"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10}


def settings_with(settings_factory: Any, emulator_url: str, **overrides: Any) -> Settings:
    wechat = {"api_base_url": emulator_url, "transient_retries": 0, **overrides.pop("wechat", {})}
    settings: Settings = settings_factory(
        wechat=wechat,
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        admin=ADMIN_LIMITS,
        **{"menu": MENU, **overrides},
    )
    return settings


@pytest.fixture
def console_settings(settings_factory: Any, emulator: RunningEmulator) -> Settings:
    """The console wired to the emulator, with a menu of a button, a group of two and a link."""
    return settings_with(settings_factory, emulator.url)


def audit_actions(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    with app.extensions["xiaoyou"].db.session() as session:
        return [(e.actor, e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def emulator_menu(emulator: RunningEmulator) -> Any:
    return emulator.get("/cgi-bin/menu/get", access_token=emulator.token())


def test_the_navigation_offers_each_page_to_the_roles_that_hold_it(signed_in: Any) -> None:
    expected = {
        "admin": (True, True),
        "officer": (True, True),
        "broadcaster": (True, False),
        "viewer": (False, False),
    }
    for role, (menu, chat) in expected.items():
        client, _ = signed_in(role)
        home = text(client.get("/admin/"))
        assert ('href="/admin/wechat/menu"' in home, 'href="/admin/wechat/chat"' in home) == (menu, chat), role
    admin, _ = signed_in("admin")
    for url in ("/admin/wechat/menu", "/admin/wechat/chat"):
        page = text(admin.get(url))
        assert "<script>" not in page and " on" + "click=" not in page and "style=" not in page


# --- the menu ---------------------------------------------------------------------------------------------------


def test_the_menu_page_shows_buttons_and_sub_buttons_with_their_type_key_and_url(signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    page = text(officer.get("/admin/wechat/menu"))
    rows = re.findall(r'<tr class="menu-(top|sub)">(.*?)</tr>', page, re.S)
    cells = [(kind, re.sub(r"<[^>]+>|\s+", " ", row).split()) for kind, row in rows]
    assert cells == [
        ("top", ["校友卡", "点击（发送事件）", "键值", "CARD"]),
        ("top", ["服务", "子菜单"]),
        ("sub", ["└", "帮助", "点击（发送事件）", "键值", "HELP"]),
        ("sub", ["└", "官网", "打开网页", "链接", "https://alumni.example.edu/"]),
    ]
    assert "推送给微信的 JSON" in page
    assert "/admin/wechat/menu/push" not in page and "推送菜单需要管理员角色" in page  # an officer only looks
    broadcaster, _ = signed_in("broadcaster")
    assert broadcaster.get("/admin/wechat/menu").status_code == 200
    viewer, _ = signed_in("viewer")
    assert viewer.get("/admin/wechat/menu").status_code == 403


def test_an_admin_pushes_the_menu_and_the_emulator_holds_it_audited(
    console_app: Flask, signed_in: Any, emulator: RunningEmulator
) -> None:
    admin, me = signed_in("admin")
    assert emulator_menu(emulator)["errcode"] == 46003  # no menu yet
    pushed = post(admin, "/admin/wechat/menu/push", page="/admin/wechat/menu")
    assert pushed.status_code == 302
    assert "菜单已推送到微信：校友卡、服务" in text(admin.get(pushed.headers["Location"]))
    assert emulator_menu(emulator)["menu"] == MENU
    entries = [e for e in audit_actions(console_app) if e[1] == "wechat.menu_pushed"]
    assert entries == [(f"staff:{me.username}", "wechat.menu_pushed", {"buttons": 2, "click_keys": ["CARD", "HELP"]})]
    officer, _ = signed_in("officer")
    assert post(officer, "/admin/wechat/menu/push", page="/admin/wechat/menu").status_code == 403


def test_a_menu_wechat_refuses_is_a_message_with_its_errcode_not_an_error_page(
    settings_factory: Any, make_app: Any, make_member: Any, emulator: RunningEmulator
) -> None:
    # The settings accept a click key of any length; WeChat takes at most 128 bytes and answers 40019.
    long_key = {"button": [{"type": "click", "name": "长键", "key": "K" * 200}]}
    app = make_app(settings_with(settings_factory, emulator.url, menu=long_key))
    client = app.test_client()
    sign_in(app, client, make_member("admin"))
    refused = post(client, "/admin/wechat/menu/push", page="/admin/wechat/menu")
    assert refused.status_code == 502
    page = text(refused)
    assert "微信拒绝了这个菜单（错误码 40019" in page and "菜单不符合微信的格式要求" in page
    assert 'id="menu-table"' in page  # the menu page, with the message on it
    assert emulator_menu(emulator)["errcode"] == 46003  # nothing changed at WeChat
    assert not [e for e in audit_actions(app) if e[1] == "wechat.menu_pushed"]

    # An account without the menu API (an unverified subscription account): 48001, said so.
    emulator.control("POST", "/faults", {"path": "/cgi-bin/menu/create", "errcode": 48001, "count": 1})
    client2 = app.test_client()
    sign_in(app, client2, make_member("admin"))
    unauthorised = post(client2, "/admin/wechat/menu/push", page="/admin/wechat/menu")
    assert unauthorised.status_code == 502
    assert "错误码 48001" in text(unauthorised) and "没有自定义菜单接口的权限" in text(unauthorised)


def test_an_unreachable_wechat_is_said_so_on_the_page(settings_factory: Any, make_app: Any, make_member: Any) -> None:
    down = RunningEmulator.start()
    down.stop()  # a closed port: nothing answers there
    app = make_app(settings_with(settings_factory, down.url))
    client = app.test_client()
    sign_in(app, client, make_member("admin"))
    response = post(client, "/admin/wechat/menu/push", page="/admin/wechat/menu")
    assert response.status_code == 503
    assert f"无法连接微信服务器（{down.url}），菜单没有推送" in text(response)
    assert not [e for e in audit_actions(app) if e[1] == "wechat.menu_pushed"]


def test_an_empty_menu_is_not_pushed(settings_factory: Any, make_app: Any, make_member: Any) -> None:
    app = make_app(settings_with(settings_factory, "http://127.0.0.1:9", menu={"button": []}))
    client = app.test_client()
    sign_in(app, client, make_member("admin"))
    assert "配置文件中没有菜单按钮。" in text(client.get("/admin/wechat/menu"))
    response = post(client, "/admin/wechat/menu/push", page="/admin/wechat/menu")
    assert response.status_code == 409 and "menu.button 为空" in text(response)


def test_the_cli_pushes_through_the_same_service_and_is_audited(
    emulator: RunningEmulator, settings: Settings, tmp_path: Any
) -> None:
    from core.db import Database
    from tests.gateway.test_cli import cli

    result = cli(emulator, settings, tmp_path, "wechat", "push-menu", "--actor", "cli:ops")
    assert result.returncode == 0, result.stderr
    assert "menu pushed: 校友卡, 班级群, 更多" in result.stdout
    db = Database(settings.database_url)
    with db.session() as session:
        actions = [(e.actor, e.action) for e in session.scalars(select(AuditEntry))]
    db.dispose()
    assert actions == [("cli:ops", "wechat.menu_pushed")]


# --- the chat simulator -----------------------------------------------------------------------------------------


def transcript(client: Any) -> list[tuple[str, str]]:
    """(who, text) of every line of the conversation on the page."""
    page = text(client.get("/admin/wechat/chat"))
    line = r'<li class="chat-(\w+)[^"]*">(?:<span class="chat-who">[^<]*</span>)?<span class="chat-text">(.*?)</span>'
    return [(who, html.unescape(body)) for who, body in re.findall(line, page, re.S)]


def say(client: Any, **form: str) -> Any:
    return post(client, "/admin/wechat/chat", form, page="/admin/wechat/chat")


def test_help_gets_the_bots_help_reply_through_the_signed_encrypted_webhook(console_app: Flask, signed_in: Any) -> None:
    officer, me = signed_in("officer")
    assert "还没有对话" in text(officer.get("/admin/wechat/chat"))
    sent = say(officer, content="帮助")
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/admin/wechat/chat")
    assert transcript(officer) == [("you", "帮助"), ("bot", texts.HELP)]
    openid = chat_simulator.test_openid(me.id)
    with console_app.extensions["xiaoyou"].db.session() as session:
        logged = session.scalars(select(InboundMessage)).all()
    assert [(m.openid, m.msg_type, m.handler) for m in logged] == [(openid, "text", "help.show_help")]


def test_a_subscribe_event_gets_the_welcome_and_the_menu_keys_are_buttons(
    console_app: Flask, signed_in: Any, emulator: RunningEmulator
) -> None:
    admin, me = signed_in("admin")
    page = text(admin.get("/admin/wechat/chat"))
    assert 'name="key" value="CARD"' in page and 'name="key" value="HELP"' in page
    assert 'name="event" value="subscribe"' in page and 'name="event" value="scan"' in page
    assert say(admin, event="subscribe").status_code == 303
    assert transcript(admin)[-2:] == [("you", "［关注公众号］"), ("bot", texts.WELCOME)]
    openid = chat_simulator.test_openid(me.id)
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert session.scalars(select(Follower.subscribed).where(Follower.openid == openid)).one() is True
    assert emulator.control("GET", f"/users/{openid}")["subscribed"] is True  # WeChat's side agrees

    assert say(admin, key="HELP").status_code == 303  # a menu click
    assert transcript(admin)[-2:] == [("you", "［点击菜单 HELP］"), ("bot", texts.HELP)]
    assert say(admin, event="scan", scene="invite_42").status_code == 303  # no handler answers a scan
    assert transcript(admin)[-2:] == [
        ("you", "［扫描二维码，场景值 invite_42］"),
        ("note", "（没有即时回复：接口回答了 success）"),
    ]
    assert say(admin, event="unsubscribe").status_code == 303
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert session.scalars(select(Follower.subscribed).where(Follower.openid == openid)).one() is False
    assert emulator.control("GET", f"/users/{openid}")["subscribed"] is False


def test_the_form_cannot_forge_or_replay_a_push(console_app: Flask, signed_in: Any) -> None:
    officer, me = signed_in("officer")
    forged = {
        "content": "帮助",
        "signature": "0" * 40,
        "msg_signature": "0" * 40,
        "timestamp": "1",
        "nonce": "1",
        "MsgId": "4242",
        "FromUserName": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    }
    for _ in range(2):  # the same form twice: two fresh, signed pushes, never a replay of the first
        assert say(officer, **forged).status_code == 303
    assert transcript(officer) == [("you", "帮助"), ("bot", texts.HELP)] * 2
    with console_app.extensions["xiaoyou"].db.session() as session:
        logged = session.scalars(select(InboundMessage)).all()
    assert {m.openid for m in logged} == {chat_simulator.test_openid(me.id)}  # the sender is never the form's
    assert len({m.dedupe_key for m in logged}) == 2 and "msg:4242" not in {m.dedupe_key for m in logged}


def test_the_test_follower_is_per_staff_member_and_never_a_wechat_openid(signed_in: Any) -> None:
    first, a = signed_in("officer")
    second, b = signed_in("officer")
    say(first, content="帮助")
    assert transcript(second) == []  # each staff member has their own conversation
    ids = {chat_simulator.test_openid(a.id), chat_simulator.test_openid(b.id)}
    assert len(ids) == 2
    for openid in ids:
        assert openid.startswith("test.staff-")
        assert not re.fullmatch(r"[A-Za-z0-9_-]{28}", openid)  # the shape of every openid WeChat issues
        assert openid in text(first.get("/admin/wechat/chat")) or openid in text(second.get("/admin/wechat/chat"))


def test_bad_input_gets_a_400_and_sends_nothing(console_app: Flask, signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    cases = [
        ({"content": "   "}, "请输入消息内容"),
        ({"content": "长" * 1001}, "消息太长"),
        ({"key": "NOT_IN_THE_MENU"}, "未知的事件或菜单键值"),
        ({"event": "teleport"}, "未知的事件或菜单键值"),
        ({"event": "scan", "scene": "a b"}, "场景值须为"),
        ({"event": "scan", "scene": ""}, "场景值须为"),
    ]
    for form, message in cases:
        response = say(officer, **form)
        assert response.status_code == 400, form
        assert message in text(response)
    token = csrf_token(officer, "/admin/wechat/chat")
    htmx = officer.post("/admin/wechat/chat", data={"content": "", "csrf_token": token}, headers={"HX-Request": "true"})
    assert htmx.status_code == 400 and 'class="chat-note chat-problem"' in text(htmx) and "<html" not in text(htmx)
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert session.scalars(select(InboundMessage)).all() == []
    assert transcript(officer) == []


def test_with_htmx_the_answer_is_the_new_lines_only(signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    token = csrf_token(officer, "/admin/wechat/chat")
    answer = officer.post(
        "/admin/wechat/chat", data={"content": "帮助", "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200
    body = text(answer)
    assert "<html" not in body and body.count("<li ") == 2 and "我可以帮您" in body


def slow_router(seconds: float) -> Router:
    router = Router("slow")

    @router.on(keyword("慢"))
    def slow(ctx: Context) -> Reply:
        time.sleep(seconds)
        return Reply("慢慢来的回答")

    return router


def test_what_a_slow_handler_sends_later_is_read_from_the_emulator(
    settings_factory: Any, make_app: Any, make_member: Any, emulator: RunningEmulator
) -> None:
    settings = settings_with(settings_factory, emulator.url, webhook={"reply_deadline_seconds": 0.3})
    app = make_app(settings, routers=[slow_router(1.0), *ROUTERS])
    client = app.test_client()
    sign_in(app, client, make_member("officer"))
    page = text(client.get("/admin/wechat/chat"))
    assert "本地微信模拟器" in page and 'id="chat-later"' in page
    assert say(client, content="慢").status_code == 303
    assert transcript(client) == [("you", "慢"), ("note", "（没有即时回复：接口回答了 success）")]

    def later() -> list[tuple[str, str]]:
        assert post(client, "/admin/wechat/chat/later", page="/admin/wechat/chat").status_code == 303
        return [line for line in transcript(client) if line[0] == "later"]

    assert wait_for(later, timeout=10) == [("later", "慢慢来的回答")]
    assert later() == [("later", "慢慢来的回答")]  # shown once, however often one looks

    assert post(client, "/admin/wechat/chat/clear", page="/admin/wechat/chat").status_code == 303
    assert transcript(client) == []


def test_when_wechat_is_not_the_emulator_the_page_says_where_later_messages_went(
    settings_factory: Any, make_app: Any, make_member: Any
) -> None:
    settings = settings_with(settings_factory, "https://api.weixin.qq.com")
    assert chat_simulator.emulator_url(settings) is None
    app = make_app(settings)
    client = app.test_client()
    sign_in(app, client, make_member("officer"))
    page = text(client.get("/admin/wechat/chat"))  # a GET calls nobody
    assert "会发往微信" in page and 'id="chat-later"' not in page


def test_an_unreachable_emulator_is_a_note_and_the_chat_goes_on(
    settings_factory: Any, make_app: Any, make_member: Any
) -> None:
    down = RunningEmulator.start()
    down.stop()
    app = make_app(settings_with(settings_factory, down.url))
    client = app.test_client()
    sign_in(app, client, make_member("officer"))
    assert say(client, content="帮助").status_code == 303
    lines = transcript(client)
    assert lines[:2] == [("you", "帮助"), ("bot", texts.HELP)]
    assert lines[2][0] == "note" and f"无法连接微信模拟器（{down.url}）" in lines[2][1]
