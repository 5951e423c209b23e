"""The console's Cards pages against a live emulator: the review queue (masked claim, evidence served and audited,
approve with a databank person, reject with a reason, the applicant told), the cards list (status, number, paging,
masked holders, status changes) and scanner credentials (the secret shown once); refusals answer 400/404/409.
Every route against every role is in test_access.py; the browser test of an approval is in test_cards_browser.py."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from core.settings import Settings
from models import AuditEntry, Card, CardApplication, Follower
from services import cards
from tests.admin.conftest import csrf_token, post, text
from tests.card import conftest as card_fixtures
from tests.card.conftest import CLAIM_WANG_UNMATCHED, CLAIM_ZHANG, TEMPLATE, MpUser
from tests.conftest import WeChatUser
from tests.gateway import conftest as gateway_fixtures

# The card tests' fixtures (the emulator, alumni in the databank, mini-program users), on the console's app below.
emulator = gateway_fixtures.emulator
card_settings_factory = card_fixtures.card_settings_factory
api, db, alumni, mp_user = card_fixtures.api, card_fixtures.db, card_fixtures.alumni, card_fixtures.mp_user


def real_png() -> bytes:
    """A 2x2 PNG a browser can decode (the card tests' smallest "photo" is only its frame)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
def console_settings(card_settings_factory: Any) -> Settings:
    """The console's settings, wired to the emulator (the decision reaches the applicant there)."""
    settings: Settings = card_settings_factory(
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10}
    )
    return settings


@pytest.fixture
def card_settings(console_settings: Settings) -> Settings:
    return console_settings


@pytest.fixture
def card_app(console_app: Flask) -> Flask:
    return console_app  # the card fixtures (api, db, alumni, mp_user) use the console's app


def waiting_application(user: MpUser, claim: dict[str, Any] | None = None, png: bytes | None = None) -> int:
    """Apply with details the databank cannot confirm and upload a photo: the application waits for staff."""
    applied = user.post("/card/applications", json=claim or CLAIM_WANG_UNMATCHED)
    assert applied.status_code == 201 and applied.json["status"] == "unconfirmed", applied.json
    app_id = int(applied.json["id"])
    uploaded = user.post(
        f"/card/applications/{app_id}/evidence", data=png or real_png(), content_type="application/octet-stream"
    )
    assert uploaded.status_code == 201, uploaded.json
    return app_id


def _actions(app: Flask) -> list[tuple[str, str]]:
    with app.extensions["xiaoyou"].db.session() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_queue_masks_the_claim_and_serves_the_evidence_audited(
    console_app: Flask, signed_in: Any, mp_user: Any, alumni: Any
) -> None:
    app_id = waiting_application(mp_user(1))
    officer, me = signed_in("officer")
    page = text(officer.get("/admin/cards/review"))
    assert f"申请 {app_id}" in page and "王****" in page and "2015****" in page
    assert "王芳" not in page and "2015003" not in page  # personal data stays masked on the list
    evidence = re.search(r'<img src="(/admin/cards/evidence/\d+)"', page)
    assert evidence is not None
    shown = officer.get(evidence.group(1))
    assert shown.status_code == 200 and shown.data == real_png() and shown.mimetype == "image/png"
    assert shown.headers["Content-Disposition"] == "inline" and shown.headers["Cache-Control"] == "no-store"
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert (f"staff:{me.username}", "card.evidence.view") in _actions(console_app)

    viewer, _ = signed_in("viewer")
    seen = text(viewer.get("/admin/cards/review"))
    assert "王****" in seen and "/admin/cards/evidence/" not in seen and "您的角色不能查看证明材料" in seen
    assert "批准" not in seen and "驳回" not in seen
    assert viewer.get(evidence.group(1)).status_code == 403
    assert officer.get("/admin/cards/evidence/999999").status_code == 404
    assert officer.get("/admin/cards/applications/999999").status_code == 404


def test_approve_with_a_person_found_in_the_databank_tells_the_applicant(
    console_app: Flask,
    signed_in: Any,
    mp_user: Any,
    alumni: Any,
    emulator: Any,
) -> None:
    user = mp_user(2)
    app_id = waiting_application(user)
    emulator.control("POST", "/consents", {"openid": user.openid, "template_id": TEMPLATE})
    officer, me = signed_in("officer")
    url = f"/admin/cards/applications/{app_id}"
    nobody = post(officer, f"{url}/approve", page=url)
    assert nobody.status_code == 400 and "请先选择对应的校友" in text(nobody)
    bad = post(officer, f"{url}/approve", {"person_id": "abc"}, page=url)
    assert bad.status_code == 400 and "请选择一位校友" in text(bad)

    found = text(officer.get(url, query_string={"q": "王芳"}))
    assert f'name="person_id" value="{alumni["王芳"]}"' in found and "2015****" in found
    approved = post(officer, f"{url}/approve", {"person_id": str(alumni["王芳"])}, page=url)
    assert approved.status_code == 302
    assert approved.headers["Location"] == f"/admin/cards/review?done=approved&app={app_id}&told=subscribe"
    notice = text(officer.get(approved.headers["Location"]))
    assert f"申请 {app_id} 已批准" in notice and "小程序订阅消息" in notice
    sent = emulator.deliveries(openid=user.openid, channel="subscribe")
    assert len(sent) == 1 and sent[0]["message"]["template_id"] == TEMPLATE
    assert user.get("/card").json["holder_name"] == "王芳"

    again = post(officer, f"{url}/approve", {"person_id": str(alumni["王芳"])}, page=url)
    assert again.status_code == 409 and "该申请已处理" in text(again)
    late = post(officer, f"{url}/reject", {"reason": "x"}, page=url)
    assert late.status_code == 409
    assert post(officer, "/admin/cards/applications/999999/approve", page=url).status_code == 404
    actions = _actions(console_app)
    actor = f"staff:{me.username}"
    assert (actor, "card.application.approved") in actions and (actor, "card.issue") in actions
    assert (actor, "identity.review") in actions


def test_reject_needs_a_reason_and_answers_htmx_in_place(
    console_app: Flask,
    signed_in: Any,
    mp_user: Any,
    alumni: Any,
    emulator: Any,
    api: Any,
    account: Any,
) -> None:
    user = mp_user(3)
    app_id = waiting_application(user)
    oa_openid = "o_oa_follower_0003"
    emulator.add_followers(oa_openid, unionid=user.unionid)
    emulator.interact(oa_openid, "message")
    WeChatUser(api, account, oa_openid).say("你好")  # the applicant wrote to the account: its window is open
    with console_app.extensions["xiaoyou"].db.session() as session:
        follower = session.scalar(select(Follower).where(Follower.openid == oa_openid))
        assert follower is not None
        follower.unionid = user.unionid  # as the follower sync records it
    officer, _ = signed_in("officer")
    url = f"/admin/cards/applications/{app_id}/reject"
    empty = post(officer, url, {"reason": " "}, page="/admin/cards/review")
    assert empty.status_code == 400 and "驳回时请填写原因" in text(empty) and "<html" in text(empty)
    htmx = {"HX-Request": "true"}
    token = csrf_token(officer, "/admin/cards/review")
    refused = officer.post(url, data={"reason": "", "csrf_token": token}, headers=htmx)
    assert refused.status_code == 400 and "<html" not in text(refused)
    assert f'id="application-{app_id}"' in text(refused) and "驳回时请填写原因" in text(refused)
    done = officer.post(url, data={"reason": "学籍信息无法核实", "csrf_token": token}, headers=htmx)
    assert done.status_code == 200 and "<html" not in text(done)
    assert f"申请 {app_id} 已驳回" in text(done) and "公众号客服消息" in text(done)
    sent = emulator.deliveries(openid=oa_openid, channel="custom")
    assert len(sent) == 1 and "学籍信息无法核实" in str(sent[0]["message"])
    with console_app.extensions["xiaoyou"].db.session() as session:
        application = session.get(CardApplication, app_id)
        assert application is not None and application.status == "rejected"
        assert application.notified == "customer_service"
    assert "card.application.rejected" in [a for _, a in _actions(console_app)]


def test_a_decision_without_a_csrf_token_changes_nothing(
    console_app: Flask, signed_in: Any, mp_user: Any, alumni: Any
) -> None:
    app_id = waiting_application(mp_user(4))
    officer, _ = signed_in("officer")
    refused = officer.post(f"/admin/cards/applications/{app_id}/reject", data={"reason": "no token"})
    assert refused.status_code == 400 and "请求无效或表单已过期" in text(refused)
    with console_app.extensions["xiaoyou"].db.session() as session:
        application = session.get(CardApplication, app_id)
        assert application is not None and application.status == "review"


def test_the_cards_list_filters_pages_masks_and_changes_status(
    console_app: Flask, signed_in: Any, mp_user: Any, alumni: Any
) -> None:
    number = mp_user(5).post("/card/applications", json=CLAIM_ZHANG).json["card_number"]
    officer, me = signed_in("officer")
    page = text(officer.get("/admin/cards", query_string={"status": "active"}))
    assert number in page and "张****" in page and "张晓明" not in page
    assert number not in text(officer.get("/admin/cards", query_string={"status": "revoked"}))
    assert officer.get("/admin/cards", query_string={"status": "nonsense"}).status_code == 400
    assert officer.get("/admin/cards", query_string={"before": "x"}).status_code == 400
    with console_app.extensions["xiaoyou"].db.session() as session:
        card_id = cards.by_number(session, number).id

    def act(action: str, **form: str) -> Any:
        return post(officer, f"/admin/cards/{card_id}/{action}", form, page="/admin/cards")

    suspended = act("suspend", reason="借给他人使用")
    assert suspended.status_code == 302
    assert "已暂停" in text(officer.get(suspended.headers["Location"]))
    assert act("suspend").status_code == 409
    assert act("reinstate").status_code == 302
    lost = act("lost")
    assert lost.status_code == 302 and "new=" in lost.headers["Location"]
    assert "已挂失，补发新卡" in text(officer.get(lost.headers["Location"]))
    assert act("revoke", reason="x").status_code == 409  # a lost card is not revoked again
    assert post(officer, "/admin/cards/999999/revoke", page="/admin/cards").status_code == 404
    with console_app.extensions["xiaoyou"].db.session() as session:
        old = session.get(Card, card_id)
        assert old is not None and old.status == "lost" and old.replaced_by_id is not None
        newer = cards.card_list(session, limit=1)
        assert [c.id for c in newer] == [old.replaced_by_id]
        assert [c.id for c in cards.card_list(session, limit=1, before_id=newer[0].id)] == [card_id]
        assert [c.id for c in cards.card_list(session, limit=5, number=number)] == [card_id]
    actions = [a for actor, a in _actions(console_app) if actor == f"staff:{me.username}" and a.startswith("card.")]
    assert actions == ["card.suspended", "card.active", "card.lost", "card.issue"]

    viewer, _ = signed_in("viewer")
    seen = text(viewer.get("/admin/cards"))
    assert number in seen and "暂停" not in seen.split("cards-table")[1]  # no actions for a viewer


def test_a_scanner_secret_is_shown_once_and_a_revoked_one_stops_working(
    console_app: Flask, signed_in: Any, api: Any
) -> None:
    officer, me = signed_in("officer")
    created = post(officer, "/admin/cards/scanners", {"label": "图书馆东门"}, page="/admin/cards/scanners")
    assert created.status_code == 200
    credential = re.search(r'<code id="scanner-credential">([^<]+)</code>', text(created))
    assert credential is not None
    secret = credential.group(1)
    listing = text(officer.get("/admin/cards/scanners"))
    assert "图书馆东门" in listing and secret not in listing and secret.split(".")[1] not in listing
    scanner_id = int(secret.split(".")[0])
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.post("/api/v1/card/verify", json={"token": "x"}, headers=headers).status_code != 401
    revoked = post(officer, f"/admin/cards/scanners/{scanner_id}/revoke", page="/admin/cards/scanners")
    assert revoked.status_code == 302 and f"设备 {scanner_id} 已停用" in text(officer.get(revoked.headers["Location"]))
    assert api.post("/api/v1/card/verify", json={"token": "x"}, headers=headers).status_code == 401
    blank = post(officer, "/admin/cards/scanners", {"label": " "}, page="/admin/cards/scanners")
    assert blank.status_code == 400
    assert post(officer, "/admin/cards/scanners/999999/revoke", page="/admin/cards/scanners").status_code == 404
    actions = [a for actor, a in _actions(console_app) if actor == f"staff:{me.username}" and a.startswith("card.")]
    assert actions == ["card.scanner.create", "card.scanner.revoke"]


def test_the_cards_pages_carry_no_inline_script(signed_in: Any, mp_user: Any, alumni: Any) -> None:
    app_id = waiting_application(mp_user(6))
    admin, _ = signed_in("admin")
    for url in ("/admin/cards/review", f"/admin/cards/applications/{app_id}", "/admin/cards", "/admin/cards/scanners"):
        response = admin.get(url)
        page = text(response)
        assert response.status_code == 200, url
        assert "<script>" not in page and " on" + "click=" not in page and "style=" not in page
