"""The card's main paths over the API, against the emulator: login, apply, automatic issue, the code and a scan;
manual review with evidence, the decision and how the applicant is told. (Details the databank cannot confirm, and
withdrawing: test_unconfirmed.py.)"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import redis
from sqlalchemy import select

from models import ApplicationEvidence, CardApplication, Follower
from services import cards
from services.cards import applications as card_applications
from tests.card.conftest import CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, PNG, TEMPLATE, ask_for_review
from tests.conftest import WeChatUser

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def test_login_apply_issue_show_and_scan(api, mp_user, alumni, scanner, emulator, redis_url) -> None:
    user = mp_user(1)
    applied = user.post("/card/applications", json=CLAIM_ZHANG)
    assert applied.status_code == 201, applied.json
    assert applied.json["status"] == "issued"
    number = applied.json["card_number"]
    assert cards.is_valid_number(number) and number[:4].isdigit()

    shown = user.get("/card")
    assert shown.status_code == 200
    assert shown.json["number"] == number
    assert shown.json["holder_name"] == "张晓明" and shown.json["status"] == "active"

    code = user.get("/card/code")
    assert code.status_code == 200
    assert base64.b64decode(code.json["qr_png_base64"]).startswith(b"\x89PNG")
    answer = api.post("/api/v1/card/verify", json={"token": code.json["token"]}, headers=scanner)
    assert answer.status_code == 200
    assert answer.json == {"result": "valid", "holder_name": "张晓明", "card_status": "active"}

    # The session_key stays on the server: not in the response, and the token itself is not a Redis key.
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = list(client.scan_iter("xy:mp:session:*"))
    assert len(keys) == 1 and user.token not in keys[0]
    assert "session_key" in json.loads(str(client.get(keys[0])))
    client.close()


def test_login_response_carries_only_the_token(api, emulator) -> None:
    code = emulator.login_code("o_mp_only_token", "u_only")
    response = api.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 200
    assert set(response.json) == {"token", "expires_in"}
    assert len(base64.urlsafe_b64decode(response.json["token"] + "==")) >= 16  # at least 128 random bits


def test_used_and_invalid_login_codes(api, emulator) -> None:
    code = emulator.login_code("o_mp_codes", None)
    assert api.post("/api/v1/auth/login", json={"code": code}).status_code == 200
    used = api.post("/api/v1/auth/login", json={"code": code})
    assert used.status_code == 401 and used.json["error"]["code"] == "invalid_login_code"
    invalid = api.post("/api/v1/auth/login", json={"code": "not-a-code"})
    assert invalid.status_code == 401 and invalid.json["error"]["code"] == "invalid_login_code"
    empty = api.post("/api/v1/auth/login", json={"code": ""})
    assert empty.status_code == 400 and empty.json["error"]["code"] == "validation_failed"


def test_logout_revokes_and_client_openids_are_refused(api, mp_user, alumni) -> None:
    user = mp_user(2)
    assert user.get("/card").status_code == 404  # no card yet, but a valid session
    sneaky = user.post("/card/applications", json={**CLAIM_ZHANG, "openid": "o_someone_else"})
    assert sneaky.status_code == 400
    assert user.post("/auth/logout").status_code == 204
    after = user.get("/card")
    assert after.status_code == 401 and after.json["error"]["code"] == "unauthenticated"


def test_manual_review_with_evidence_approval_and_subscribe_notice(
    api, mp_user, alumni, db, emulator, gateway_of
) -> None:
    user = mp_user(3)
    app_id = ask_for_review(user, CLAIM_WANG_UNMATCHED)
    pdf = user.post(
        f"/card/applications/{app_id}/evidence",
        data={"file": (io.BytesIO(PDF), "diploma.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert pdf.status_code == 201 and pdf.json["media_type"] == "application/pdf"  # by content, not by name
    fake = user.post(f"/card/applications/{app_id}/evidence", data=b"GIF89a....", content_type="image/png")
    assert fake.status_code == 415 and fake.json["error"]["code"] == "unsupported_evidence"
    polled = user.get(f"/card/applications/{app_id}")
    assert polled.json["status"] == "review" and polled.json["evidence_count"] == 2

    emulator.control("POST", "/consents", {"openid": user.openid, "template_id": TEMPLATE})
    with db.session() as session:
        card_applications.approve(session, _card_settings(api), app_id, actor="staff:zhou", person_id=alumni["王芳"])
    with db.session() as session:
        gw = gateway_of()
        how = card_applications.notify_decision(
            session, _card_settings(api), app_id, miniprogram=gw.miniprogram, official=gw.official
        )
    assert how == "subscribe"
    sent = emulator.deliveries(openid=user.openid, channel="subscribe")
    assert len(sent) == 1 and sent[0]["message"]["template_id"] == TEMPLATE

    assert user.get(f"/card/applications/{app_id}").json["status"] == "issued"
    assert user.get("/card").json["holder_name"] == "王芳"
    late = user.post(f"/card/applications/{app_id}/evidence", data=PNG, content_type="application/octet-stream")
    assert late.status_code == 409


def test_rejection_told_in_the_official_account_or_recorded_as_not_told(
    api, mp_user, alumni, db, emulator, gateway_of, account
) -> None:
    told, untold = mp_user(4), mp_user(5)
    oa_openid = "o_oa_follower_0004"
    emulator.add_followers(oa_openid, unionid=told.unionid)
    emulator.interact(oa_openid, "message")
    WeChatUser(api, account, oa_openid).say("你好")  # the applicant wrote to the account: its window is open
    ids = [ask_for_review(user, CLAIM_WANG_UNMATCHED) for user in (told, untold)]
    with db.session() as session:
        follower = session.scalar(select(Follower).where(Follower.openid == oa_openid))
        if follower is None:
            follower = Follower(openid=oa_openid, subscribed=True)
            session.add(follower)
        follower.unionid = told.unionid  # as the follower sync records it
    gw = gateway_of()
    for app_id in ids:
        with db.session() as session:
            card_applications.reject(session, app_id, actor="staff:zhou", reason="学号与姓名不符")
        with db.session() as session:
            # No subscribe consent left (43101): the official account is tried next.
            card_applications.notify_decision(
                session, _card_settings(api), app_id, miniprogram=gw.miniprogram, official=gw.official
            )
    with db.session() as session:
        rows = {a.id: a for a in session.scalars(select(CardApplication))}
    assert rows[ids[0]].notified == "customer_service" and rows[ids[0]].status == "rejected"
    assert rows[ids[1]].notified == "failed" and rows[ids[1]].status == "rejected"  # the decision stands
    custom = emulator.deliveries(openid=oa_openid, channel="custom")
    assert len(custom) == 1 and "学号与姓名不符" in custom[0]["message"]["text"]["content"]
    assert told.get(f"/card/applications/{ids[0]}").json["reason"] == "学号与姓名不符"


def test_evidence_is_deleted_after_the_decision(api, mp_user, alumni, db) -> None:
    from datetime import timedelta

    from models import utcnow

    user = mp_user(6)
    app_id = ask_for_review(user, CLAIM_WANG_UNMATCHED)
    with db.session() as session:
        assert card_applications.purge_evidence(session, 30) == 0  # undecided: kept
        card_applications.reject(session, app_id, actor="staff", reason="材料不清晰")
    with db.session() as session:
        assert card_applications.purge_evidence(session, 30) == 0  # decided just now: kept
        assert card_applications.purge_evidence(session, 30, now=utcnow() + timedelta(days=31)) == 1
    with db.session() as session:
        evidence = session.scalars(select(ApplicationEvidence)).one()
        assert evidence.content is None and evidence.deleted_at is not None


def _card_settings(api: Any) -> Any:
    from core.app import EXTENSION

    return api.application.extensions[EXTENSION].settings.card


def test_session_key_stays_on_the_server_and_sessions_idle_out(api, emulator, redis_url, caplog) -> None:
    caplog.set_level("DEBUG")
    code = emulator.login_code("o_mp_key_check", "u_key_check")
    response = api.post("/api/v1/auth/login", json={"code": code})
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    (key,) = list(client.scan_iter("xy:mp:session:*"))
    session_key = json.loads(str(client.get(key)))["session_key"]
    assert session_key and session_key not in response.get_data(as_text=True)
    assert session_key not in caplog.text and response.json["token"] not in caplog.text
    assert 0 < client.ttl(key) <= _card_settings_of(api).session_idle_seconds
    client.close()


def test_logins_are_throttled_per_user(make_app, card_settings_factory, emulator) -> None:
    app = make_app(card_settings_factory(miniprogram_api={"logins_per_user": 2}))
    api = app.test_client()
    statuses = []
    for _ in range(3):
        code = emulator.login_code("o_mp_throttled", None)
        statuses.append(api.post("/api/v1/auth/login", json={"code": code}).status_code)
    assert statuses == [200, 200, 429]
    other = api.post("/api/v1/auth/login", json={"code": emulator.login_code("o_mp_other", None)})
    assert other.status_code == 200  # per user, not for everyone


def _card_settings_of(api: Any) -> Any:
    from core.app import EXTENSION

    return api.application.extensions[EXTENSION].settings.miniprogram_api


def test_vouching_by_the_class_liaison(api, mp_user, alumni, db) -> None:
    user = mp_user(11)
    applied = user.post("/card/applications", json={**CLAIM_WANG_UNMATCHED, "method": "vouch"})
    assert applied.status_code == 201 and applied.json["status"] == "vouching"
    again = user.post("/card/applications", json=CLAIM_WANG_UNMATCHED)  # another attempt is answered...
    assert again.status_code == 201 and again.json["status"] == "unconfirmed"
    with db.session() as session:  # ...but only the vouching application waits
        assert [a.id for a in card_applications.pending(session)] == [applied.json["id"]]
        card_applications.approve(
            session, _card_settings(api), applied.json["id"], actor="liaison:软件1502", person_id=alumni["王芳"]
        )
    assert user.get("/card").json["holder_name"] == "王芳"
    assert user.post("/card/applications", json=CLAIM_WANG_UNMATCHED).status_code == 409  # already holds a card
