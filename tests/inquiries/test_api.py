"""The mini-program's inquiry API over the test client, with users who log in through the WeChat emulator: open a
question (idempotent by request id or by session), list one's own with their answers and delivery states, read one,
another user's inquiry is a 404 in the one error shape, bad bodies (400), no session (401), the OpenAPI document; an
answer held for the chat (same unionid) listed without being marked, marked shown once by reading it, and read after
the bot showed it."""

from __future__ import annotations

from typing import Any

from core import texts
from models import Inquiry, InquiryEvent, utcnow
from services import followers, outbox
from services.inquiries import delivery, desk
from tests.card import conftest as card
from tests.gateway import conftest as gateway
from wechat.gateway import build_gateway

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


# --- an answer held for the chat, read in the mini-program -------------------------------------------------------

OA_ALICE = "oOA_alice_000000000000000001"  # the same person as mp_user(1) in the official account (unionid)


def held_chat_answer(db: Any, settings: Any, app: Any, emulator: Any, body: str) -> tuple[int, int]:
    """A question asked in the official account's chat by the follower whose unionid is mp_user(1)'s, answered by
    staff while the follower's 48-hour window is closed: the answer is held (``answer_waiting``)."""
    emulator.add_followers(OA_ALICE, unionid="u_union_0001")
    with db.session() as session:
        followers.subscribe(session, OA_ALICE, utcnow()).unionid = "u_union_0001"
        inquiry = Inquiry(openid=OA_ALICE, source_key="test:chat:1", question="场地怎么申请？", channel="wechat")
        session.add(inquiry)
        session.flush()
        inquiry_id = inquiry.id
    with db.session() as session:
        event_id = delivery.reply(session, settings, inquiry_id, body, actor="staff:wang").id
    gw = build_gateway(settings, app.extensions["xiaoyou"].redis)  # the scheduler's outbox pass
    assert outbox.deliver_due(db.session, gw.official, 3, 60, templates=gw.official, subscriber=gw.miniprogram) == {
        "failed:45015": 1
    }
    with db.session() as session:
        assert session.get(InquiryEvent, event_id).delivery == "held"
    return inquiry_id, event_id


def test_reading_a_held_chat_answer_in_the_mini_program_marks_it_shown_once(
    mp_user: Any, db: Any, card_settings: Any, card_app: Any, emulator: Any
) -> None:
    inquiry_id, event_id = held_chat_answer(db, card_settings, card_app, emulator, "请填写场地申请表。")
    user, stranger = mp_user(1), mp_user(2)

    # The list shows the chat's inquiry (same unionid) with its answer, and marks nothing.
    [listed] = user.get("/inquiries").json["inquiries"]
    assert listed["id"] == inquiry_id and listed["channel"] == "wechat"
    assert [(a["body"], a["delivery"]) for a in listed["answers"]] == [("请填写场地申请表。", "held")]
    with db.session() as session:
        assert delivery.has_held(session, OA_ALICE)

    # Reading it is seeing the answer: shown, exactly as the bot would record it, and the bot owes nothing.
    one = user.get(f"/inquiries/{inquiry_id}")
    assert one.status_code == 200
    assert [(a["body"], a["delivery"]) for a in one.json["answers"]] == [("请填写场地申请表。", "shown")]
    assert one.json["answers"][0]["delivery_name"] == texts.INQUIRY_DELIVERY_NAMES["shown"]
    with db.session() as session:
        shown = session.get(InquiryEvent, event_id)
        assert shown is not None and shown.delivered_at is not None
        assert session.get(Inquiry, inquiry_id).answer_waiting is False
        assert not delivery.has_held(session, OA_ALICE)
        assert delivery.held_answers(session, OA_ALICE) == []
    first_seen = shown.delivered_at

    again = user.get(f"/inquiries/{inquiry_id}")  # idempotent
    assert again.status_code == 200 and again.json["answers"][0]["delivery"] == "shown"
    with db.session() as session:
        assert session.get(InquiryEvent, event_id).delivered_at == first_seen

    # Another user (another unionid) sees neither the list entry nor the inquiry.
    assert stranger.get("/inquiries").json["inquiries"] == []
    assert stranger.get(f"/inquiries/{inquiry_id}").status_code == 404


def test_an_answer_the_bot_showed_first_still_reads_in_the_mini_program(
    mp_user: Any, db: Any, card_settings: Any, card_app: Any, emulator: Any
) -> None:
    inquiry_id, event_id = held_chat_answer(db, card_settings, card_app, emulator, "请填写场地申请表。")
    with db.session() as session:
        assert len(delivery.held_answers(session, OA_ALICE)) == 1
    with db.session() as session:
        shown_at = session.get(InquiryEvent, event_id).delivered_at
    one = mp_user(1).get(f"/inquiries/{inquiry_id}")
    assert one.status_code == 200 and one.json["answers"][0]["delivery"] == "shown"
    with db.session() as session:
        assert session.get(InquiryEvent, event_id).delivered_at == shown_at


def test_without_a_unionid_the_chat_inquiries_stay_out_of_the_mini_program(
    mp_user: Any, db: Any, card_settings: Any, card_app: Any, emulator: Any
) -> None:
    inquiry_id, _ = held_chat_answer(db, card_settings, card_app, emulator, "请填写场地申请表。")
    user = mp_user(1, unionid=False)
    assert user.get("/inquiries").json["inquiries"] == []
    assert user.get(f"/inquiries/{inquiry_id}").status_code == 404
    with db.session() as session:
        assert delivery.has_held(session, OA_ALICE)  # still owed to the chat
