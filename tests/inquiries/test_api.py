"""The mini-program's inquiry API over the test client, with users who log in through the WeChat emulator: open a
question (idempotent by request id or by session), list one's own with their answers and delivery states, read one,
another user's inquiry is a 404 in the one error shape, bad bodies (400), no session (401), the OpenAPI document."""

from __future__ import annotations

from typing import Any

from core import texts
from services.inquiries import delivery, desk
from tests.card import conftest as card
from tests.gateway import conftest as gateway

# The card API's fixtures: an app on a live emulator, users who log in through it, alumni in the databank.
alumni, api, card_app, card_settings, card_settings_factory, db, mp_user = (
    card.alumni,
    card.api,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)
emulator = gateway.emulator


def test_open_list_and_read_ones_own_inquiries_with_their_answers(mp_user: Any, db: Any, card_settings: Any) -> None:
    user = mp_user(1)
    opened = user.post(
        "/inquiries", json={"question": "  毕业证遗失如何补办？ ", "category": "archive", "request_id": "req-0000001"}
    )
    assert opened.status_code == 201, opened.json
    body = opened.json
    assert body["question"] == "毕业证遗失如何补办？" and body["status"] == "open" and body["category"] == "archive"
    assert body["status_name"] == texts.INQUIRY_STATUS_NAMES["open"] and body["answers"] == []
    assert body["messages"][0]["text"] == "毕业证遗失如何补办？" and body["channel"] == "miniprogram"
    again = user.post(
        "/inquiries", json={"question": "毕业证遗失如何补办？", "category": "archive", "request_id": "req-0000001"}
    )
    assert again.status_code == 201 and again.json["id"] == body["id"]
    reused = user.post("/inquiries", json={"question": "另一个问题？", "request_id": "req-0000001"})
    assert reused.status_code == 409 and reused.json["error"]["code"] == "conflict"

    second = user.post("/inquiries", json={"question": "捐赠发票怎么开？"})
    tapped = user.post("/inquiries", json={"question": "捐赠发票怎么开？"})  # a double tap in the same session
    assert second.status_code == 201 and tapped.json["id"] == second.json["id"]

    with db.session() as session:  # staff answer the first (the mini-program shows it: no subscribe template set)
        delivery.reply(session, card_settings, body["id"], "请到档案馆补办证明。", actor="staff:wang")
        desk.close(session, body["id"], resolution="已答复", actor="staff:wang")

    listed = user.get("/inquiries", query_string={"limit": 1})
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json["inquiries"]] == [second.json["id"]]
    rest = user.get("/inquiries", query_string={"limit": 1, "after": listed.json["next_after"]})
    [first] = rest.json["inquiries"]
    assert rest.json["next_after"] is None and first["id"] == body["id"] and first["status"] == "closed"
    assert [(a["body"], a["delivery"]) for a in first["answers"]] == [("请到档案馆补办证明。", "in_app")]
    assert first["answers"][0]["delivery_name"] == texts.INQUIRY_DELIVERY_NAMES["in_app"]

    one = user.get(f"/inquiries/{body['id']}")
    assert one.status_code == 200 and one.json["resolution"] == "已答复"
    assert [m["text"] for m in one.json["messages"]] == ["毕业证遗失如何补办？"]


def test_another_users_inquiry_is_a_404_like_one_that_does_not_exist(mp_user: Any) -> None:
    alice, bob = mp_user(1), mp_user(2)
    mine = alice.post("/inquiries", json={"question": "我的校友卡还没收到？"}).json["id"]
    stolen = bob.get(f"/inquiries/{mine}")
    missing = bob.get("/inquiries/999999")
    assert stolen.status_code == 404 and missing.status_code == 404
    assert stolen.json == missing.json and stolen.json["error"]["code"] == "not_found"
    assert bob.get("/inquiries").json == {"inquiries": [], "next_after": None}
    assert bob.get("/inquiries/99999999999").status_code == 404


def test_bad_bodies_and_queries_are_refused_and_a_session_is_required(mp_user: Any, api: Any) -> None:
    user = mp_user(1)
    for payload, field, problem in (
        ({}, "question", "required"),
        ({"question": "问"}, "question", "too_short"),
        ({"question": "问" * 1001}, "question", "too_long"),
        ({"question": "问题\x00"}, "question", "bad_characters"),
        ({"question": "好问题", "category": "gossip"}, "category", "not_allowed"),
        ({"question": "好问题", "request_id": "short"}, "request_id", "bad_characters"),
        ({"question": "好问题", "openid": "o_other"}, "openid", "unknown_field"),
    ):
        refused = user.post("/inquiries", json=payload)
        assert refused.status_code == 400, payload
        assert refused.json["error"]["fields"][0]["field"] == field
        assert refused.json["error"]["fields"][0]["problem"] == problem, refused.json
    assert user.get("/inquiries", query_string={"limit": 0}).status_code == 400
    assert api.get("/api/v1/inquiries").status_code == 401
    assert api.post("/api/v1/inquiries", json={"question": "好问题"}).status_code == 401
    assert user.get("/inquiries").json["inquiries"] == []  # nothing was filed by any of them


def test_the_openapi_document_describes_the_inquiry_endpoints(api: Any) -> None:
    doc = api.get("/api/v1/openapi.json").json
    assert set(doc["paths"]["/api/v1/inquiries"]) == {"get", "post"}
    one = doc["paths"]["/api/v1/inquiries/{inquiry_id}"]["get"]
    assert "another user's" in one["responses"]["404"]["description"]
    assert "InquiryRequest" in doc["components"]["schemas"] and "InquiryView" in doc["components"]["schemas"]
    post = doc["paths"]["/api/v1/inquiries"]["post"]
    assert {"201", "400", "401", "409"} <= set(post["responses"])
