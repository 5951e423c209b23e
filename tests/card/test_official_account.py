"""校友卡 in the official account: the card with a link that opens the mini-program, a pending application, or how
to apply. The official account's openid reaches the person through the unionid it shares with the mini-program."""

from __future__ import annotations

from flask.testing import FlaskClient

from core import texts
from models import Follower
from tests.card.conftest import CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, PNG, ask_for_review
from tests.conftest import WeChatUser
from tests.gateway.conftest import MP_APPID


def follow(api: FlaskClient, account, db, openid: str, unionid: str | None) -> WeChatUser:
    oa_user = WeChatUser(api, account, openid)
    oa_user.event("subscribe")
    with db.session() as session:
        follower = session.query(Follower).filter_by(openid=openid).one()
        follower.unionid = unionid  # as the follower sync records it from WeChat's user info
    return oa_user


def test_card_holder_gets_the_card_and_a_mini_program_link(api, account, db, mp_user, alumni) -> None:
    user = mp_user(1)
    number = user.post("/card/applications", json=CLAIM_ZHANG).json["card_number"]
    oa_user = follow(api, account, db, "o_oa_holder_0001", user.unionid)
    reply = oa_user.say("校友卡")
    assert number in reply and "有效" in reply
    assert f'data-miniprogram-appid="{MP_APPID}"' in reply and 'data-miniprogram-path="pages/card/index"' in reply
    assert oa_user.event("CLICK", "CARD")["Content"] == reply


def test_pending_applicant_and_stranger(api, account, db, mp_user, alumni) -> None:
    user = mp_user(2)
    app_id = ask_for_review(user, CLAIM_WANG_UNMATCHED)
    pending = follow(api, account, db, "o_oa_pending_0002", user.unionid).say("校友卡")
    assert f"编号 {app_id}" in pending and "人工审核中" in pending
    stranger = follow(api, account, db, "o_oa_stranger_0003", None).say("校友卡")
    assert "您还没有校友卡" in stranger and "data-miniprogram-path" in stranger


def test_a_not_confirmed_attempt_is_not_shown_as_pending(api, account, db, mp_user, alumni) -> None:
    user = mp_user(4)
    app_id = user.post("/card/applications", json=CLAIM_WANG_UNMATCHED).json["id"]
    oa_user = follow(api, account, db, "o_oa_typo_0004", user.unionid)
    reply = oa_user.say("校友卡")
    assert texts.CARD_APPLICATION_STATUS_NAMES["review"] not in reply and "结果会通过消息通知您" not in reply
    assert f"编号 {app_id}" in reply and "未能核实" in reply and 'data-miniprogram-path="pages/card/index"' in reply

    user.post(f"/card/applications/{app_id}/evidence", data=PNG, content_type="application/octet-stream")
    assert "人工审核中" in oa_user.say("校友卡")
    # A later attempt that is not confirmed does not hide the application that waits for staff.
    later = user.post("/card/applications", json=CLAIM_WANG_UNMATCHED).json
    assert later["status"] == "unconfirmed"
    reply = oa_user.say("校友卡")
    assert f"编号 {app_id}" in reply and "人工审核中" in reply
