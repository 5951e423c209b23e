"""Customer-service messages: followers only, inside the window a user opened, within its message count."""

from __future__ import annotations

from typing import Any

from emulator.testing import RunningEmulator, openid


def send_text(emulator: RunningEmulator, token: str, to: str, text: str = "hi") -> dict[str, Any]:
    body = {"touser": to, "msgtype": "text", "text": {"content": text}}
    return emulator.post("/cgi-bin/message/custom/send", body, access_token=token)


def test_non_follower_gets_43004_and_unknown_openid_40003(emulator: RunningEmulator) -> None:
    user = openid(1)
    emulator.add_followers(user, subscribe=False)
    token = emulator.token()
    assert send_text(emulator, token, user)["errcode"] == 43004
    assert send_text(emulator, token, openid(2))["errcode"] == 40003


def test_no_interaction_or_window_passed_gives_45015(emulator: RunningEmulator) -> None:
    user = openid(1)
    emulator.add_followers(user)
    token = emulator.token()
    assert send_text(emulator, token, user)["errcode"] == 45015

    emulator.interact(user, "message")
    emulator.advance(48 * 3600 - 1)
    token = emulator.token()  # the first one expired long ago
    assert send_text(emulator, token, user)["errcode"] == 0
    emulator.advance(1)
    assert send_text(emulator, token, user)["errcode"] == 45015
    assert len(emulator.deliveries(user, "custom")) == 1


def test_five_messages_per_user_message_then_45047(emulator: RunningEmulator) -> None:
    user = openid(1)
    emulator.add_followers(user)
    token = emulator.token()
    emulator.interact(user, "message")
    assert [send_text(emulator, token, user, f"m{i}")["errcode"] for i in range(6)] == [0] * 5 + [45047]
    assert [d["message"]["text"]["content"] for d in emulator.deliveries(user, "custom")] == [f"m{i}" for i in range(5)]

    emulator.interact(user, "message")  # a new user message refreshes the allowance
    assert send_text(emulator, token, user)["errcode"] == 0


def test_three_messages_within_a_minute_of_a_click(emulator: RunningEmulator) -> None:
    user = openid(1)
    emulator.add_followers(user)
    token = emulator.token()
    emulator.interact(user, "click")
    assert [send_text(emulator, token, user)["errcode"] for _ in range(4)] == [0, 0, 0, 45047]

    emulator.interact(user, "subscribe")
    assert send_text(emulator, token, user)["errcode"] == 0
    emulator.advance(60)  # the event window is one minute; there was no user message
    assert send_text(emulator, token, user)["errcode"] == 45015


def test_message_shapes(emulator: RunningEmulator) -> None:
    user = openid(1)
    emulator.add_followers(user)
    token = emulator.token()
    emulator.interact(user, "message")
    url = "/cgi-bin/message/custom/send"
    article = {"title": "t", "description": "d", "url": "https://example.org", "picurl": "https://example.org/p"}
    news = {"touser": user, "msgtype": "news", "news": {"articles": [article]}}
    assert emulator.post(url, news, access_token=token)["errcode"] == 0
    two = {"touser": user, "msgtype": "news", "news": {"articles": [article, article]}}
    assert emulator.post(url, two, access_token=token)["errcode"] == 45008
    page = {"title": "card", "appid": "wx_emulator_mp", "pagepath": "pages/card/index", "thumb_media_id": "m"}
    mini = {"touser": user, "msgtype": "miniprogrampage", "miniprogrampage": page}
    assert emulator.post(url, mini, access_token=token)["errcode"] == 0
    image = {"touser": user, "msgtype": "image", "image": {"media_id": "m"}}
    assert emulator.post(url, image, access_token=token)["errcode"] == 0
    assert emulator.post(url, {"touser": user, "msgtype": "telepathy"}, access_token=token)["errcode"] == 40008
    assert [d["msgtype"] for d in emulator.deliveries(user, "custom")] == ["news", "miniprogrampage", "image"]
