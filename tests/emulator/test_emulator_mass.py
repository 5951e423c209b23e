"""Mass send (群发): clientmsgid dedupe, 4 per user per month, API call limits, audiences, preview."""

from __future__ import annotations

from typing import Any

from emulator.testing import RunningEmulator, openid

SENDALL = "/cgi-bin/message/mass/sendall"
SEND = "/cgi-bin/message/mass/send"


def to_all(text: str, **extra: Any) -> dict[str, Any]:
    return {"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": text}, **extra}


def test_clientmsgid_dedupes_for_24_hours(emulator: RunningEmulator) -> None:
    users = [openid(n) for n in range(3)]
    emulator.add_followers(*users)
    token = emulator.token()
    first = emulator.post(SENDALL, to_all("reunion", clientmsgid="broadcast-1"), access_token=token)
    assert first["errcode"] == 0 and first["errmsg"] == "send job submission success"
    assert "msg_data_id" not in first  # only mpnews sends carry one

    assert emulator.post(SENDALL, to_all("reunion", clientmsgid="broadcast-1"), access_token=token)["errcode"] == 45066
    emulator.advance(61)
    repeat = emulator.post(SENDALL, to_all("other text", clientmsgid="broadcast-1"), access_token=token)
    assert repeat["errcode"] == 45065
    assert repeat["msg_id"] == first["msg_id"]
    assert len(emulator.deliveries(channel="mass")) == 3

    emulator.advance(24 * 3600)
    token = emulator.token()
    again = emulator.post(SENDALL, to_all("reunion", clientmsgid="broadcast-1"), access_token=token)
    assert again["errcode"] == 0 and again["msg_id"] != first["msg_id"]
    assert len(emulator.deliveries(channel="mass")) == 6

    too_long = emulator.post(SENDALL, to_all("x", clientmsgid="c" * 65), access_token=token)
    assert too_long["errcode"] == 45067


def test_without_clientmsgid_identical_content_to_the_same_audience_is_a_repeat(emulator: RunningEmulator) -> None:
    emulator.add_followers(openid(1), openid(2))
    token = emulator.token()
    first = emulator.post(SENDALL, to_all("reunion"), access_token=token)
    emulator.advance(120)
    repeat = emulator.post(SENDALL, to_all("reunion"), access_token=token)
    assert (repeat["errcode"], repeat["msg_id"]) == (45065, first["msg_id"])
    assert emulator.post(SENDALL, to_all("a different text"), access_token=token)["errcode"] == 0
    emulator.configure(mass_default_clientmsgid=False)
    assert emulator.post(SENDALL, to_all("reunion"), access_token=token)["errcode"] == 0


def test_each_user_receives_at_most_four_a_month(emulator: RunningEmulator) -> None:
    early, late = openid(1), openid(2)
    emulator.add_followers(early)
    token = emulator.token()
    for n in range(4):
        assert emulator.post(SENDALL, to_all(f"issue {n}"), access_token=token)["errcode"] == 0
    emulator.add_followers(late)
    assert emulator.post(SENDALL, to_all("issue 4"), access_token=token)["errcode"] == 0
    assert len(emulator.deliveries(early, "mass")) == 4  # the fifth was filtered, not delivered
    assert [d["message"]["text"]["content"] for d in emulator.deliveries(late, "mass")] == ["issue 4"]

    emulator.advance(31 * 24 * 3600)  # next calendar month
    token = emulator.token()
    assert emulator.post(SENDALL, to_all("issue 5"), access_token=token)["errcode"] == 0
    assert len(emulator.deliveries(early, "mass")) == 5


def test_api_calls_limited_per_minute_and_per_day(emulator: RunningEmulator) -> None:
    emulator.configure(mass_calls_per_minute=2, mass_calls_per_day=3)
    emulator.add_followers(openid(1))
    token = emulator.token()
    results = [emulator.post(SENDALL, to_all(f"n{n}"), access_token=token)["errcode"] for n in range(3)]
    assert results == [0, 0, 45011]
    emulator.advance(60)
    assert emulator.post(SENDALL, to_all("n3"), access_token=token)["errcode"] == 0
    emulator.advance(60)
    assert emulator.post(SENDALL, to_all("n4"), access_token=token)["errcode"] == 45009
    assert len(emulator.deliveries(openid(1), "mass")) == 3


def test_send_to_openids_and_to_a_tag(emulator: RunningEmulator) -> None:
    users = [openid(n) for n in range(4)]
    emulator.add_followers(*users)
    token = emulator.token()
    one = {"touser": [users[0]], "msgtype": "text", "text": {"content": "x"}}
    assert emulator.post(SEND, one, access_token=token)["errcode"] == 40130  # at least two openids

    tag = emulator.post("/cgi-bin/tags/create", {"tag": {"name": "Class of 2010"}}, access_token=token)["tag"]
    tagging = {"openid_list": users[:2], "tagid": tag["id"]}
    assert emulator.post("/cgi-bin/tags/members/batchtagging", tagging, access_token=token)["errcode"] == 0
    by_tag = {"filter": {"is_to_all": False, "tag_id": tag["id"]}, "msgtype": "mpnews", "mpnews": {"media_id": "M"}}
    sent = emulator.post(SENDALL, by_tag, access_token=token)
    assert sent["errcode"] == 0 and isinstance(sent["msg_data_id"], int)
    assert {d["openid"] for d in emulator.deliveries(channel="mass")} == set(users[:2])
    missing_tag = {**by_tag, "filter": {"is_to_all": False, "tag_id": 999}}
    assert emulator.post(SENDALL, missing_tag, access_token=token)["errcode"] == 45159

    listed = {
        "touser": [users[2], users[3], "oNotAFollower000000000000000"],
        "msgtype": "text",
        "text": {"content": "y"},
    }
    assert emulator.post(SEND, listed, access_token=token)["errcode"] == 0
    assert {d["openid"] for d in emulator.deliveries(channel="mass")} == set(users)


def test_preview_reaches_one_user_outside_the_monthly_count(emulator: RunningEmulator) -> None:
    emulator.configure(mass_per_user_per_month=1)
    staff = openid(1)
    emulator.add_followers(staff)
    token = emulator.token()
    preview = {"touser": staff, "msgtype": "text", "text": {"content": "draft"}}
    for _ in range(2):
        result = emulator.post("/cgi-bin/message/mass/preview", preview, access_token=token)
        assert result["errcode"] == 0 and result["errmsg"] == "preview success"
    assert len(emulator.deliveries(staff, "preview")) == 2
    assert emulator.post(SENDALL, to_all("final"), access_token=token)["errcode"] == 0
    assert len(emulator.deliveries(staff, "mass")) == 1
