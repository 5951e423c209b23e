"""A follower sends an image or voice (the ``/_emulator/users/<openid>/media`` control): WeChat keeps it as temporary
media that ``media/get`` serves for 3 days; and a customer-service text over 2,048 bytes is refused (45002)."""

from __future__ import annotations

import base64

import requests

from emulator.testing import FakeWebhook, RunningEmulator, openid, wait_for

ALICE = openid(1)


def test_a_user_image_is_served_by_media_get_until_it_expires(emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    sent = emulator.user_media(ALICE, "image")
    fields = sent["fields"]
    assert fields["MsgType"] == "image" and fields["MediaId"] == sent["media_id"] and fields["FromUserName"] == ALICE
    assert fields["PicUrl"].startswith("http") and isinstance(fields["MsgId"], int)
    got = requests.get(
        f"{emulator.url}/cgi-bin/media/get",
        params={"access_token": emulator.token(), "media_id": sent["media_id"]},
        timeout=10,
    )
    assert got.content.startswith(b"\x89PNG") and got.headers["Content-Type"] == "image/png"

    emulator.advance(3 * 24 * 3600 - 1)
    still = requests.get(
        f"{emulator.url}/cgi-bin/media/get",
        params={"access_token": emulator.token(), "media_id": sent["media_id"]},
        timeout=10,
    )
    assert still.content == got.content
    emulator.advance(2)
    gone = emulator.get("/cgi-bin/media/get", access_token=emulator.token(), media_id=sent["media_id"])
    assert gone["errcode"] == 40007
    unknown = emulator.get("/cgi-bin/media/get", access_token=emulator.token(), media_id="nope")
    assert unknown["errcode"] == 40007


def test_a_user_voice_with_its_own_content_and_a_push_to_the_webhook(
    emulator: RunningEmulator, webhook: FakeWebhook
) -> None:
    emulator.add_followers(ALICE)
    content = b"#!AMR\n" + bytes(range(40))
    sent = emulator.user_media(
        ALICE, "voice", push=True, content_base64=base64.b64encode(content).decode(), content_type="audio/amr"
    )
    assert sent["fields"]["Format"] == "amr" and sent["push"]["status"] == 200
    pushed = wait_for(lambda: [p for p in webhook.pushes if p.get("MsgType") == "voice"])
    assert pushed[0]["MediaId"] == sent["media_id"] and pushed[0]["FromUserName"] == ALICE
    got = requests.get(
        f"{emulator.url}/cgi-bin/media/get",
        params={"access_token": emulator.token(), "media_id": sent["media_id"]},
        timeout=10,
    )
    assert got.content == content and got.headers["Content-Type"] == "audio/amr"
    # Writing opened the customer-service window, as a real message does.
    ok = emulator.post(
        "/cgi-bin/message/custom/send",
        {"touser": ALICE, "msgtype": "text", "text": {"content": "收到"}},
        access_token=emulator.token(),
    )
    assert ok["errcode"] == 0


def test_user_media_control_refuses_bad_input(emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    assert "type must be" in emulator.control("POST", f"/users/{ALICE}/media", {"type": "video"}, expect=400)["error"]
    bad = emulator.control("POST", f"/users/{ALICE}/media", {"type": "image", "content_base64": "%%"}, expect=400)
    assert "base64" in bad["error"]
    stranger = emulator.control("POST", f"/users/{openid(9)}/media", {"type": "image"}, expect=400)
    assert "followers" in stranger["error"]
    no_hook = emulator.control("POST", f"/users/{ALICE}/media", {"type": "image", "push": True}, expect=409)
    assert "webhook" in no_hook["error"]


def test_customer_service_text_over_2048_bytes_is_refused(emulator: RunningEmulator) -> None:
    emulator.add_followers(ALICE)
    emulator.interact(ALICE, "message")
    token = emulator.token()

    def send(content: str) -> int:
        body = {"touser": ALICE, "msgtype": "text", "text": {"content": content}}
        return int(emulator.post("/cgi-bin/message/custom/send", body, access_token=token)["errcode"])

    assert send("字" * 683) == 45002  # 2,049 bytes
    assert send("字" * 682 + "ab") == 0  # 2,048 bytes
    assert len(emulator.deliveries(ALICE, "custom")) == 1
