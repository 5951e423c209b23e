"""The subscribe channel end to end, against the emulator: mini-program users record their allowance through
POST /api/v1/me/subscriptions, a broadcast sends through the sender, the allowance is spent by the send; a user
whose consent WeChat does not hold (43101) ends skipped:no_consent and our stale allowance is set to 0; a second
broadcast sends to nobody without calling WeChat."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from core.app import EXTENSION
from core.errors import Conflict
from emulator.testing import RunningEmulator
from models import Broadcast
from services.broadcasts import compose, control, delivery, segments
from services.broadcasts.compose import DraftInput
from tests.broadcasts.test_segments import follower, person
from tests.card import conftest as card
from wechat.gateway import build_gateway

api, card_app, card_settings, card_settings_factory, db, mp_user = (
    card.api,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)
TEMPLATE_ID = "TPL_SUB_NEWS"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"


def _broadcast(db: Any, settings: Any, *, confirm: bool = True) -> int:
    draft = DraftInput(
        title="校庆订阅通知", channels=["subscribe"], kind="template", subscribe_template_id=TEMPLATE_ID,
        subscribe_fields="thing1: 校庆日程已公布\ntime2: 2027-05-01", subscribe_page="pages/news/index",
    )  # fmt: skip
    with db.session(write=True) as session:
        b = compose.save_draft(session, draft, actor="staff:ann")
        if confirm:
            control.confirm(session, settings, b.id, actor="staff:ann")
            assert b.status == "scheduled"
        return b.id


def _send(card_app: Flask, settings: Any, db: Any) -> dict[str, int]:
    rt = card_app.extensions[EXTENSION]
    gateway = build_gateway(settings, redis.Redis.from_url(settings.redis.url, decode_responses=True))
    with db.session(write=True) as session:
        delivery.start_due(session, settings)
    return delivery.send_pass(lambda: rt.db.session(write=True), gateway, settings)


def test_subscribe_allowances_are_spent_and_a_43101_is_handled(
    mp_user: Any, db: Any, card_app: Flask, card_settings: Any, emulator: RunningEmulator
) -> None:
    ann, bob = mp_user(1, unionid=False), mp_user(2, unionid=False)
    with db.session(write=True) as session:  # both follow the official account and are alumni with news consent
        follower(session, "oa-ann", person(session, "安"), mp=ann.openid)
        follower(session, "oa-bob", person(session, "博"), mp=bob.openid)
    for user in (ann, bob):  # both said yes to wx.requestSubscribeMessage, as the mini-program reports it
        response = user.post("/me/subscriptions", json={"accepted": [TEMPLATE_ID]})
        assert response.status_code == 200, response.json
    # WeChat holds ann's consent, not bob's (he tapped "cancel" after the client reported "accept").
    emulator.control("POST", "/consents", {"openid": ann.openid, "template_id": TEMPLATE_ID})

    first = _broadcast(db, card_settings)
    counts = _send(card_app, card_settings, db)
    assert (counts.get("sent"), counts.get("skipped"), counts.get("finished")) == (1, 1, 1)
    (delivered,) = emulator.deliveries(channel="subscribe")
    assert delivered["openid"] == ann.openid and delivered["message"]["template_id"] == TEMPLATE_ID
    assert delivered["message"]["data"]["thing1"] == {"value": "校庆日程已公布"}
    assert emulator.calls().get(SUBSCRIBE) == 2  # ann's, and bob's refused with 43101
    with db.session() as session:
        assert delivery.progress(session, first) == {"sent": 1, "skipped:no_consent": 1}
        assert segments.allowances(session, ann.openid).get(TEMPLATE_ID, 0) == 0  # spent by the send
        assert segments.allowances(session, bob.openid).get(TEMPLATE_ID, 0) == 0  # stale: WeChat said 43101
    assert ann.get("/me/subscriptions").json == {"allowances": []}

    # A second broadcast: nobody has an allowance left (bob's stale one included), so the plan refuses it; forced
    # through anyway, the sender skips both without calling WeChat.
    second = _broadcast(db, card_settings, confirm=False)
    with db.session(write=True) as session, pytest.raises(Conflict, match="nobody reachable"):
        control.confirm(session, card_settings, second, actor="staff:ann")
    with db.session(write=True) as session:
        session.execute(update(Broadcast).where(Broadcast.id == second).values(status="scheduled"))
    counts = _send(card_app, card_settings, db)
    assert counts.get("sent", 0) == 0 and counts.get("skipped") == 2
    assert emulator.calls().get(SUBSCRIBE) == 2
    with db.session() as session:
        assert delivery.progress(session, second) == {"skipped:no_consent": 2}
    # Ann allows one more; the third broadcast reaches her again and spends it.
    assert ann.post("/me/subscriptions", json={"accepted": [TEMPLATE_ID]}).status_code == 200
    emulator.control("POST", "/consents", {"openid": ann.openid, "template_id": TEMPLATE_ID})
    _broadcast(db, card_settings)
    assert _send(card_app, card_settings, db).get("sent") == 1
    assert [d["openid"] for d in emulator.deliveries(channel="subscribe")] == [ann.openid, ann.openid]
