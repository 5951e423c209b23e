"""A card holder who has just followed the official account is known there at once: the follow fetches their
unionid (the one the mini-program login gave the card), with no follower sync in between."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from emulator.testing import RunningEmulator, wait_for
from models import Follower
from tests.card.conftest import CLAIM_ZHANG
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
