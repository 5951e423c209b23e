"""The mini-program's class API over the test client, with users who log in through the WeChat emulator: search,
join (verified, waiting, flagged), my classes, the group QR (members only), contact-change reports (bound callers
only; the liaison told at the emulator), bad input (400), no session (401)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from core import texts
from emulator.testing import RunningEmulator
from models import ClassCohort, ContactChangeReport, OutboundMessage, Person
from services import classes, outbox
from services.classes import groups, liaisons, membership, reports
from services.databank.keys import Keyring
from tests.card import conftest as card
from tests.card.conftest import CLAIM_LI, CLAIM_ZHANG
from tests.classes.test_groups import WECHAT_LINK, qr_png

# The card API's fixtures (an app on a live emulator, users who log in through it), in place of the databank's.
alumni, api, card_app, card_settings, card_settings_factory, db, mp_user = (
    card.alumni,
    card.api,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)
SOFT_1501, SOFT_1502 = "计算机学院 2015级 软件1501", "计算机学院 2015级 软件1502"


@pytest.fixture
def cohorts(db: Any, alumni: dict[str, int]) -> dict[str, int]:
    """The card fixtures' three alumni in two classes: 张晓明 and 李娜 in 软件1501, 王芳 in 软件1502."""
    with db.session() as session:
        classes.build(session)
    with db.session() as session:
        return {c.label: c.id for c in session.scalars(select(ClassCohort).where(ClassCohort.kind == "class"))}


@pytest.fixture
def ring(card_settings: Any) -> Keyring:
    return Keyring.from_settings(card_settings.privacy)


def _bound(mp_user: Any, n: int, claim: dict[str, Any]) -> Any:
    """A user whose WeChat identity the card application bound to their databank record."""
    user = mp_user(n)
    applied = user.post("/card/applications", json=claim)
    assert applied.status_code == 201 and applied.json["status"] == "issued", applied.json
    return user


def test_search_by_year_college_and_words(mp_user, cohorts) -> None:
    user = mp_user(1)
    found = user.get("/classes", query_string={"year": 2019, "college": "計算機學院"})
    assert found.status_code == 200
    assert [c["label"] for c in found.json["cohorts"]] == [SOFT_1501, SOFT_1502]
    first = found.json["cohorts"][0]
    assert first["kind"] == "class" and first["roster_size"] == 2 and first["grad_year"] == 2019
    assert [c["label"] for c in user.get("/classes?q=1502").json["cohorts"]] == [SOFT_1502]
    assert user.get("/classes?year=1990").json["cohorts"] == []
    # A reader of English gets the label composed in English (cohorts.shown_label), the databank's names as written.
    english = user.api.get("/api/v1/classes?q=1502", headers={**user.headers, "Accept-Language": "en"})
    assert [c["label"] for c in english.json["cohorts"]] == ["软件1502, 计算机学院, 2015 entry"]


@pytest.mark.parametrize(
    ("query", "field", "problem"),
    [
        ("", None, "required"),
        ("college=&q=%20", None, "required"),
        ("year=abc", "year", "wrong_type"),
        ("year=1800", "year", "too_small"),
        ("q=" + "x" * 65, "q", "too_long"),
        ("q=a%00b", "q", "bad_characters"),
        ("year=2019&openid=o_other", "openid", "unknown_field"),
    ],
)
def test_bad_searches_are_400_with_the_field_shape(mp_user, cohorts, query, field, problem) -> None:
    response = mp_user(1).get("/classes?" + query)
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "validation_failed" and error["message"]
    assert [(f["field"], f["problem"]) for f in error["fields"]] == [(field, problem)]
    if field is None:
        assert error["message"] == texts.CLASS_SEARCH_NEEDS_ONE


def test_a_card_holder_joining_their_own_class_is_verified(mp_user, cohorts) -> None:
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    joined = zhang.post(f"/classes/{cohorts[SOFT_1501]}/join")
    assert joined.status_code == 200, joined.json
    body = joined.json
    assert (body["status"], body["new"], body["channel"]) == ("verified", True, "miniprogram")
    assert body["cohort"]["label"] == SOFT_1501 and body["message"] == texts.CLASS_MEMBERSHIP_MESSAGES["verified"]
    assert body["group"] is None  # no group registered and no liaison yet
    again = zhang.post(f"/classes/{cohorts[SOFT_1501]}/join")
    assert again.json["id"] == body["id"] and again.json["new"] is False

    mine = zhang.get("/me/classes").json
    assert mine["bound"] is True
    assert [m["id"] for m in mine["memberships"]] == [body["id"]]
    assert [c["label"] for c in mine["own_cohorts"]] == [SOFT_1501]


def test_a_bound_user_joining_another_class_is_flagged_never_verified(mp_user, cohorts, db) -> None:
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    joined = zhang.post(f"/classes/{cohorts[SOFT_1502]}/join")
    assert joined.status_code == 200
    assert joined.json["status"] == "flagged" and joined.json["status_name"] == "待联络人核对"
    with db.session() as session:
        cohort = session.get(ClassCohort, cohorts[SOFT_1502])
        assert (cohort.joined_count, cohort.verified_count) == (1, 0)


def test_an_unknown_user_joins_by_openid_and_waits_for_the_liaison(mp_user, cohorts) -> None:
    user = mp_user(2)
    joined = user.post(f"/classes/{cohorts[SOFT_1502]}/join")
    assert joined.status_code == 200 and joined.json["status"] == "waiting"
    mine = user.get("/me/classes").json
    assert mine["bound"] is False and mine["own_cohorts"] == []
    assert [m["cohort"]["id"] for m in mine["memberships"]] == [cohorts[SOFT_1502]]
    assert mp_user(3).get("/me/classes").json == {"bound": False, "memberships": [], "own_cohorts": []}
    missing = user.post("/classes/999999/join")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_the_group_qr_is_served_to_members_only(mp_user, cohorts, db, card_settings, ring) -> None:
    png = qr_png(WECHAT_LINK)
    with db.session() as session:
        groups.register(
            session,
            cohorts[SOFT_1501],
            settings=card_settings.classes,
            platform="wechat",
            name="软件1501班群",
            owner=None,
            qr=png,
            expires_at=None,
            member_count=30,
            actor="t",
        )
        liaisons.appoint(
            session, ring, cohorts[SOFT_1502], name="王老师", role="primary", term_start=date(2026, 1, 1),
            contact="wx_wang1502", actor="t",
        )  # fmt: skip
    zhang = _bound(mp_user, 1, CLAIM_ZHANG)
    joined = zhang.post(f"/classes/{cohorts[SOFT_1501]}/join").json
    assert joined["group"]["name"] == "软件1501班群" and joined["group"]["qr_available"] is True
    assert joined["group"]["qr_expires_at"] and joined["group"]["liaison_contact"] is None
    image = zhang.get(f"/classes/{cohorts[SOFT_1501]}/group/qr")
    assert image.status_code == 200 and image.data == png and image.mimetype == "image/png"
    assert "no-store" in image.headers["Cache-Control"]

    stranger = mp_user(2)
    refused = stranger.get(f"/classes/{cohorts[SOFT_1501]}/group/qr")
    assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
    # A cohort without a QR: its liaison's shared contact instead, and no image.
    waiting = stranger.post(f"/classes/{cohorts[SOFT_1502]}/join").json
    assert waiting["group"] == {
        "name": "",
        "platform": "",
        "qr_available": False,
        "qr_expires_at": None,
        "liaison_name": "王老师",
        "liaison_contact": "wx_wang1502",
    }
    none = stranger.get(f"/classes/{cohorts[SOFT_1502]}/group/qr")
    assert none.status_code == 404 and none.json["error"]["message"] == texts.CLASS_QR_NOT_AVAILABLE


def test_a_contact_change_is_reported_and_the_liaison_told_at_the_emulator(
    mp_user,
    cohorts,
    db,
    ring,
    card_app: Flask,
    emulator: RunningEmulator,
) -> None:
    gateway = card_app.extensions["xiaoyou.gateway"]()
    emulator.add_followers("o_liaison_1501")
    emulator.interact("o_liaison_1501", "message")
    gateway.official.record_interaction("o_liaison_1501", "message")
    with db.session() as session:
        liaisons.appoint(
            session, ring, cohorts[SOFT_1501], name="王老师", role="primary", term_start=date(2026, 1, 1),
            openid="o_liaison_1501", actor="t",
        )  # fmt: skip
    li = _bound(mp_user, 1, CLAIM_LI)
    made = li.post("/me/contact-changes", json={"kind": "email", "value": " Li.Na@Example.COM "})
    assert made.status_code == 201, made.json
    assert made.json["status"] == "pending" and made.json["cohort_id"] == cohorts[SOFT_1501]
    assert made.json["message"] == texts.CONTACT_CHANGE_RECEIVED.format(kind="电子邮箱")
    assert "value" not in made.json

    sent = outbox.deliver_due(db.session, gateway.official, max_attempts=3, retry_seconds=60)
    assert sent == {"sent": 1}
    delivered = emulator.deliveries("o_liaison_1501", "custom")
    assert len(delivered) == 1 and "李娜 报告了新的电子邮箱" in delivered[0]["message"]["text"]["content"]
    assert "Example" not in str(delivered[0]["message"])

    with db.session() as session:
        report = session.get(ContactChangeReport, made.json["id"])
        assert report is not None and reports.value_of(ring, report) == "Li.Na@example.com"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"kind": "address", "value": "长沙"}, "kind", "not_allowed"),
        ({"kind": "phone", "value": "12345"}, "value", "invalid"),
        ({"kind": "phone", "value": ""}, "value", "empty"),
        ({"kind": "email", "value": "li@"}, "value", "invalid"),
        ({"kind": "city", "value": "长沙", "openid": "o_other"}, "openid", "unknown_field"),
        ({"kind": "city", "value": "长沙", "cohort_id": 0}, "cohort_id", "too_small"),
    ],
)
def test_bad_contact_changes_are_400_and_write_nothing(mp_user, cohorts, db, body, field, problem) -> None:
    li = _bound(mp_user, 1, CLAIM_LI)
    response = li.post("/me/contact-changes", json=body)
    assert response.status_code == 400
    assert [(f["field"], f["problem"]) for f in response.json["error"]["fields"]] == [(field, problem)]
    with db.session() as session:
        assert session.scalars(select(ContactChangeReport)).all() == []


def test_another_classs_cohort_group_and_reports_are_not_reachable(mp_user, cohorts, db) -> None:
    li = _bound(mp_user, 1, CLAIM_LI)
    other = li.post("/me/contact-changes", json={"kind": "city", "value": "长沙", "cohort_id": cohorts[SOFT_1502]})
    assert other.status_code == 400 and other.json["error"]["fields"][0]["field"] == "cohort_id"
    assert li.get(f"/classes/{cohorts[SOFT_1502]}/group/qr").status_code == 404
    with db.session() as session:
        assert session.scalars(select(ContactChangeReport)).all() == []


def test_an_unbound_caller_cannot_report_a_contact_change(mp_user, cohorts) -> None:
    response = mp_user(2).post("/me/contact-changes", json={"kind": "city", "value": "长沙"})
    assert response.status_code == 403
    assert response.json["error"] == {"code": "forbidden", "message": texts.CONTACT_CHANGE_ERRORS["not_bound"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/classes?year=2019"),
        ("POST", "/api/v1/classes/1/join"),
        ("GET", "/api/v1/classes/1/group/qr"),
        ("GET", "/api/v1/me/classes"),
        ("POST", "/api/v1/me/contact-changes"),
    ],
)
def test_no_session_is_401(api, cohorts, method, path) -> None:
    body = {"kind": "city", "value": "长沙"} if path.endswith("contact-changes") else None
    response = api.open(path, method=method, json=body)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthenticated"
    bad = api.open(path, method=method, json=body, headers={"Authorization": "Bearer not-a-session"})
    assert bad.status_code == 401


def test_the_class_routes_are_in_the_openapi_document(api) -> None:
    doc = api.get("/api/v1/openapi.json").json
    search = doc["paths"]["/api/v1/classes"]["get"]
    params = {p["name"]: p for p in search["parameters"]}
    assert set(params) == {"year", "college", "q"} and all(p["in"] == "query" for p in params.values())
    assert params["year"]["schema"]["type"] == "integer" and params["year"]["schema"]["minimum"] == 1900
    assert {"200", "400", "401"} <= set(search["responses"]) and search["security"] == [{"session": []}]
    assert search["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CohortList")
    join = doc["paths"]["/api/v1/classes/{cohort_id}/join"]["post"]
    assert join["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/JoinView")
    assert "404" in join["responses"]
    qr = doc["paths"]["/api/v1/classes/{cohort_id}/group/qr"]["get"]
    assert set(qr["responses"]["200"]["content"]) == {"image/png", "image/jpeg"}
    change = doc["paths"]["/api/v1/me/contact-changes"]["post"]
    assert {"201", "400", "401", "403", "409", "413"} <= set(change["responses"])
    assert change["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ContactChangeRequest")
    assert doc["components"]["schemas"]["MembershipView"]["properties"]["status"]["enum"] == [
        "verified",
        "waiting",
        "flagged",
    ]
    assert "/api/v1/me/classes" in doc["paths"]


def test_joining_before_and_after_binding_through_both_channels_keeps_one_membership(mp_user, cohorts, db) -> None:
    """A user joins in the mini-program before their card binds them, then (bound) through the bot with their
    official-account openid, then in the mini-program again: one membership per cohort is shown, verified."""
    zhang = mp_user(1)
    early = zhang.post(f"/classes/{cohorts[SOFT_1501]}/join").json
    assert early["status"] == "waiting"
    assert zhang.post("/card/applications", json=CLAIM_ZHANG).json["status"] == "issued"
    with db.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.name == "张晓明")).one()
    with db.session() as session:
        membership.join(session, cohorts[SOFT_1501], channel="bot", person_id=person_id, openid="o_oa_zhang")
    again = zhang.post(f"/classes/{cohorts[SOFT_1501]}/join")
    assert again.status_code == 200 and again.json["status"] == "verified" and again.json["new"] is False
    mine = zhang.get("/me/classes").json
    assert [(m["cohort"]["id"], m["status"]) for m in mine["memberships"]] == [(cohorts[SOFT_1501], "verified")]


def test_a_join_without_a_usable_qr_tells_the_liaison_once(mp_user, cohorts, db, ring) -> None:
    with db.session() as session:
        liaisons.appoint(
            session, ring, cohorts[SOFT_1502], name="Ms Smith", role="primary", term_start=date(2026, 1, 1),
            language="en", openid="o_liaison_1502", actor="t",
        )  # fmt: skip
    user = mp_user(3)
    assert user.post(f"/classes/{cohorts[SOFT_1502]}/join").status_code == 200
    assert user.post(f"/classes/{cohorts[SOFT_1502]}/join").status_code == 200  # asking again: told once
    with db.session() as session:
        queued = session.scalars(select(OutboundMessage).where(OutboundMessage.openid == "o_liaison_1502")).all()
    assert len(queued) == 1 and "waiting for you to confirm" in queued[0].payload_json
