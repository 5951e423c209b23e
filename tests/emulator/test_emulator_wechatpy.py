"""wechatpy's own calls work against the emulator: paths, parameters and JSON shapes match what it expects."""

from __future__ import annotations

import io

import pytest
from wechatpy.exceptions import APILimitedException, WeChatClientException

from emulator.png import read_text_chunks
from emulator.testing import EmulatorWeChatClient, RunningEmulator, openid


def test_official_account_calls(emulator: RunningEmulator, oa_client: EmulatorWeChatClient) -> None:
    users = [openid(n) for n in range(3)]
    emulator.add_followers(*users, unionid="uSame")
    followers = oa_client.user.get_followers()
    assert followers["total"] == 3 and followers["data"]["openid"] == users
    assert list(oa_client.user.iter_followers()) == users
    assert oa_client.user.get(users[0])["subscribe"] == 1
    assert [u["openid"] for u in oa_client.user.get_batch(users)] == users

    tag = oa_client.tag.create("Class of 2010")
    oa_client.tag.tag_user(tag["id"], users[:2])
    assert oa_client.tag.get_user_tag(users[0]) == [tag["id"]]
    assert oa_client.tag.get_tag_users(tag["id"])["data"]["openid"] == users[:2]
    assert [t["name"] for t in oa_client.tag.get()] == ["Class of 2010"]

    emulator.interact(users[0], "message")
    oa_client.message.send_text(users[0], "welcome back")
    oa_client.message.send_articles(users[0], [{"title": "t", "description": "d", "url": "https://x", "image": "p"}])
    sent = oa_client.message.send_template(users[0], "TPL", {"thing1": {"value": "v"}})
    assert isinstance(sent["msgid"], int)
    mass = oa_client.message.send_mass_text(users, "hello all", client_msg_id="b-1")
    assert mass["errcode"] == 0
    preview = oa_client.message.send_mass_text(users[0], "draft", preview=True)
    assert preview["errmsg"] == "preview success"

    menu = {"button": [{"type": "click", "name": "Card", "key": "CARD"}]}
    oa_client.menu.create(menu)
    assert oa_client.menu.get()["menu"] == menu
    assert oa_client.menu.get_menu_info()["is_menu_open"] == 1
    oa_client.menu.delete()

    qr = oa_client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "s"}}})
    assert qr["ticket"]
    media = oa_client.media.upload("image", ("card.png", io.BytesIO(b"img"), "image/png"))
    assert media["type"] == "image" and media["media_id"]

    assert emulator.calls()["/cgi-bin/token"] == 1  # one fetch served every call above
    assert [d["channel"] for d in emulator.deliveries(users[0])] == ["custom", "custom", "template", "mass", "preview"]


def test_wechatpy_refreshes_a_stale_token_once(emulator: RunningEmulator) -> None:
    cfg = emulator.config
    client = EmulatorWeChatClient(emulator.url, cfg.oa_appid, cfg.oa_secret, access_token="stale-from-cache")
    try:
        assert client.user.get_followers()["total"] == 0
    finally:
        client._http.close()
    calls = emulator.calls()
    assert calls["/cgi-bin/token"] == 1 and calls["/cgi-bin/user/get"] == 2


def test_quota_errors_reach_wechatpy_as_exceptions(emulator: RunningEmulator, oa_client: EmulatorWeChatClient) -> None:
    emulator.configure(template_per_day=0)
    emulator.add_followers(openid(1))
    with pytest.raises(APILimitedException) as limited:
        oa_client.message.send_template(openid(1), "TPL", {"thing1": {"value": "v"}})
    assert limited.value.errcode == 45009
    with pytest.raises(WeChatClientException) as closed:
        oa_client.message.send_text(openid(1), "no window")
    assert closed.value.errcode == 45015


def test_mini_program_calls(emulator: RunningEmulator, mp_client: EmulatorWeChatClient) -> None:
    user = "oMini000000000000000000000001"
    session = mp_client.wxa.code_to_session(emulator.login_code(user, unionid="uAlumnus1"))
    assert session["openid"] == user and session["unionid"] == "uAlumnus1"

    png = mp_client.wxa.get_wxa_code_unlimited("card=abc", page="pages/card/index")
    assert read_text_chunks(png.content)["scene"] == "card=abc"

    emulator.control("POST", "/consents", {"openid": user, "template_id": "SUB", "count": 1})
    assert mp_client.wxa.send_subscribe_message(user, "SUB", {"thing1": {"value": "v"}})["errcode"] == 0
    with pytest.raises(WeChatClientException) as refused:
        mp_client.wxa.send_subscribe_message(user, "SUB", {"thing1": {"value": "v"}})
    assert refused.value.errcode == 43101

    assert mp_client.wxa.check_text_security("hello")["errcode"] == 0
    with pytest.raises(WeChatClientException) as risky:
        mp_client.wxa.check_text_security("赌博")
    assert risky.value.errcode == 87014
