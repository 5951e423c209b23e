"""A card holder who has just followed the official account is known there at once: the follow fetches their
unionid (the one the mini-program login gave the card), with no follower sync in between."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from emulator.testing import RunningEmulator, wait_for
from models import CardApplication, Follower
from services.cards import applications
from tests.card.conftest import CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, ask_for_review
from tests.conftest import WeChatUser

OA_OPENID = "o_oa_new_follower_0001"


def test_a_card_holder_who_just_followed_gets_the_card(
    api: FlaskClient, account: Any, db: Any, mp_user: Any, alumni: Any, emulator: RunningEmulator
) -> None:
    holder = mp_user(1)
    number = holder.post("/card/applications", json=CLAIM_ZHANG).json["card_number"]
    emulator.add_followers(OA_OPENID, unionid=holder.unionid)  # WeChat knows the follower's unionid; we do not yet
    oa_user = WeChatUser(api, account, OA_OPENID)
    oa_user.event("subscribe")

    def unionid() -> str | None:
        with db.session() as session:
            return session.query(Follower.unionid).filter_by(openid=OA_OPENID).scalar()

    assert wait_for(lambda: unionid() == holder.unionid, timeout=10)  # in a moment, not at the nightly sync
    reply = oa_user.say("校友卡")
    assert number in reply and "您还没有校友卡" not in reply


def test_a_decision_reaches_a_follower_whose_unionid_was_not_fetched_yet(
    api: FlaskClient, account: Any, db: Any, mp_user: Any, alumni: Any, emulator: RunningEmulator, gateway_of: Any
) -> None:
    applicant = mp_user(2)
    app_id = ask_for_review(applicant, CLAIM_WANG_UNMATCHED)
    follower = "o_oa_unlinked_0002"
    emulator.add_followers(follower, unionid=applicant.unionid)
    emulator.interact(follower, "message")
    WeChatUser(api, account, follower).say("你好")  # the applicant wrote to the account: its window is open
    with db.session() as session:  # a follower whose unionid was never fetched (WeChat was down when they followed)
        row = session.scalar(select(Follower).where(Follower.openid == follower))
        assert row is not None and row.unionid is None
        row.subscribed = True
    settings = api.application.extensions["xiaoyou"].settings.card
    gw = gateway_of()
    with db.session() as session:
        applications.reject(session, app_id, actor="staff:zhou", reason="学号与姓名不符")
    with db.session() as session:
        how = applications.notify_decision(
            session, settings, app_id, miniprogram=gw.miniprogram, official=gw.official, directory=gw.official
        )
    assert how == "customer_service"
    with db.session() as session:
        assert session.scalar(select(Follower.unionid).where(Follower.openid == follower)) == applicant.unionid
        assert session.get(CardApplication, app_id).notified == "customer_service"
    assert "学号与姓名不符" in emulator.deliveries(openid=follower, channel="custom")[0]["message"]["text"]["content"]
