"""The emulator as WeChat's pushing side: signed, encrypted pushes to a webhook, replies, retries, job events."""

from __future__ import annotations

from emulator.testing import FakeWebhook, RunningEmulator, openid, wait_for


def test_push_text_and_read_the_encrypted_reply(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    user = openid(1)
    subscribed = emulator.control(
        "POST", "/push", {"openid": user, "MsgType": "event", "Event": "subscribe", "EventKey": "qrscene_class-2010"}
    )
    assert subscribed["status"] == 200 and subscribed["reply"] == {} and subscribed["error"] is None

    result = emulator.control("POST", "/push", {"openid": user, "MsgType": "text", "Content": "你好"})
    assert result["status"] == 200 and result["attempts"] == 1
    assert result["reply"]["Content"] == "echo: 你好" and result["reply"]["ToUserName"] == user

    assert webhook.bad_signatures == 0
    event, text = webhook.pushes
    assert event["Event"] == "subscribe" and event["EventKey"] == "qrscene_class-2010"
    assert event["ToUserName"] == emulator.config.oa_original_id and event["FromUserName"] == user
    assert text["MsgType"] == "text" and text["Content"] == "你好" and text["MsgId"].isdigit()
    assert [d["message"]["Content"] for d in emulator.deliveries(user, "reply")] == ["echo: 你好"]

    token = emulator.token()
    info = emulator.get("/cgi-bin/user/info", access_token=token, openid=user)
    assert info["subscribe"] == 1 and info["qr_scene_str"] == "class-2010"
    # The pushed message opened the customer-service window.
    custom = {"touser": user, "msgtype": "text", "text": {"content": "later answer"}}
    assert emulator.post("/cgi-bin/message/custom/send", custom, access_token=token)["errcode"] == 0


def test_only_followers_can_push_and_unsubscribe_ends_it(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    user = openid(1)
    refused = emulator.control("POST", "/push", {"openid": user, "MsgType": "text", "Content": "hi"}, expect=400)
    assert "follower" in refused["error"]
    emulator.add_followers(user)
    emulator.control("POST", "/push", {"openid": user, "MsgType": "event", "Event": "unsubscribe"})
    token = emulator.token()
    assert emulator.get("/cgi-bin/user/info", access_token=token, openid=user)["subscribe"] == 0
    custom = {"touser": user, "msgtype": "text", "text": {"content": "x"}}
    assert emulator.post("/cgi-bin/message/custom/send", custom, access_token=token)["errcode"] == 43004
    assert [p["Event"] for p in webhook.pushes] == ["unsubscribe"]


def test_slow_webhook_gets_the_same_push_again(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    emulator.configure(push_timeout_seconds=0.3)
    webhook.stall_count, webhook.stall_seconds = 1, 0.8
    user = openid(1)
    emulator.add_followers(user)
    result = emulator.control("POST", "/push", {"openid": user, "MsgType": "text", "Content": "slow"})
    assert result["attempts"] == 2 and result["reply"]["Content"] == "echo: slow"
    wait_for(lambda: len(webhook.pushes) == 2)
    first, second = webhook.pushes
    assert first["MsgId"] == second["MsgId"]  # a retry, for the webhook to recognise


def test_wrong_token_is_reported_as_failure(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    emulator.add_followers(openid(1))
    emulator.configure(token="not-the-webhooks-token")
    result = emulator.control("POST", "/push", {"openid": openid(1), "MsgType": "text", "Content": "hi"})
    assert result["status"] == 403 and result["reply"] is None and "HTTP 403" in result["error"]
    assert webhook.bad_signatures == 1


def test_template_send_is_followed_by_templatesendjobfinish(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    user = openid(1)
    emulator.add_followers(user)
    body = {"touser": user, "template_id": "TPL", "data": {"thing1": {"value": "v"}}}
    sent = emulator.post("/cgi-bin/message/template/send", body, access_token=emulator.token())
    events = wait_for(lambda: webhook.events("TEMPLATESENDJOBFINISH"))
    assert len(events) == 1
    assert events[0]["MsgID"] == str(sent["msgid"]) and events[0]["Status"] == "success"
    assert events[0]["FromUserName"] == user
    assert webhook.bad_signatures == 0
    assert wait_for(lambda: emulator.control("GET", "/pushes")["pushes"])[0]["status"] == 200


def test_mass_send_is_followed_by_masssendjobfinish(emulator: RunningEmulator, webhook: FakeWebhook) -> None:
    emulator.configure(mass_per_user_per_month=1)
    users = [openid(n) for n in range(3)]
    emulator.add_followers(*users)
    token = emulator.token()
    first = {"touser": users[:2], "msgtype": "text", "text": {"content": "first"}}
    emulator.post("/cgi-bin/message/mass/send", first, access_token=token)
    to_all = {"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": "second"}}
    second = emulator.post("/cgi-bin/message/mass/sendall", to_all, access_token=token)
    events = wait_for(lambda: len(webhook.events("MASSSENDJOBFINISH")) == 2 and webhook.events("MASSSENDJOBFINISH"))
    last = events[1]
    assert last["MsgID"] == str(second["msg_id"]) and last["Status"] == "send success"
    assert last["FromUserName"] == "mphelper"
    # Three followers targeted; two had used their month's allowance, so one was left to send to.
    assert (last["TotalCount"], last["FilterCount"], last["SentCount"], last["ErrorCount"]) == ("3", "1", "1", "0")
