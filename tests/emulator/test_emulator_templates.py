"""Template messages (official account) and subscribe messages (mini-program)."""

from __future__ import annotations

from typing import Any

from emulator.testing import RunningEmulator, openid

DATA = {"thing1": {"value": "Alumni card approved"}}


def send_template(emulator: RunningEmulator, token: str, to: str, **extra: Any) -> dict[str, Any]:
    body = {"touser": to, "template_id": "TPL_CARD", "data": DATA, **extra}
    return emulator.post("/cgi-bin/message/template/send", body, access_token=token)


def test_template_requires_a_follower(emulator: RunningEmulator) -> None:
    emulator.add_followers(openid(1), subscribe=False)
    token = emulator.token()
    assert send_template(emulator, token, openid(1))["errcode"] == 43004
    emulator.add_followers(openid(2))
    assert send_template(emulator, token, openid(2))["errcode"] == 0
    assert emulator.post("/cgi-bin/message/template/send", {"touser": openid(2)}, access_token=token)["errcode"] == (
        40037
    )


def test_client_msg_id_dedupes_for_ten_minutes(emulator: RunningEmulator) -> None:
    user, other = openid(1), openid(2)
    emulator.add_followers(user, other)
    token = emulator.token()
    first = send_template(emulator, token, user, client_msg_id="broadcast-7-user-1")
    again = send_template(emulator, token, user, client_msg_id="broadcast-7-user-1")
    assert first["errcode"] == again["errcode"] == 0
    assert again["msgid"] == first["msgid"]
    assert len(emulator.deliveries(user, "template")) == 1
    # The key is openid + client_msg_id: another user with the same id is a different message.
    assert send_template(emulator, token, other, client_msg_id="broadcast-7-user-1")["msgid"] != first["msgid"]

    emulator.advance(600)
    late = send_template(emulator, token, user, client_msg_id="broadcast-7-user-1")
    assert late["msgid"] != first["msgid"]
    assert len(emulator.deliveries(user, "template")) == 2


def test_template_daily_quota_45009(emulator: RunningEmulator) -> None:
    emulator.configure(template_per_day=2)
    emulator.add_followers(openid(1))
    token = emulator.token()
    assert [send_template(emulator, token, openid(1))["errcode"] for _ in range(3)] == [0, 0, 45009]
    assert len(emulator.deliveries(openid(1), "template")) == 2
    emulator.advance(24 * 3600)
    assert send_template(emulator, emulator.token(), openid(1))["errcode"] == 0


def test_subscribe_message_consumes_one_consent_per_send(emulator: RunningEmulator) -> None:
    user = "oMini000000000000000000000001"
    token = emulator.token("mp")
    body = {"touser": user, "template_id": "SUB_EVENT", "page": "pages/event/index", "data": DATA}
    assert emulator.post("/cgi-bin/message/subscribe/send", body, access_token=token)["errcode"] == 43101

    granted = emulator.control("POST", "/consents", {"openid": user, "template_id": "SUB_EVENT", "count": 2})
    assert granted["remaining"] == 2
    results = [emulator.post("/cgi-bin/message/subscribe/send", body, access_token=token) for _ in range(3)]
    assert [r["errcode"] for r in results] == [0, 0, 43101]
    sent = emulator.deliveries(user, "subscribe")
    assert [d["message"]["template_id"] for d in sent] == ["SUB_EVENT", "SUB_EVENT"]
    # A consent is per template: another template has none.
    other = {**body, "template_id": "SUB_OTHER"}
    assert emulator.post("/cgi-bin/message/subscribe/send", other, access_token=token)["errcode"] == 43101
