"""The mini-program's event API over real HTTP (a live server), with users who log in through the WeChat emulator:
the list and one event, registering with answers (precise 400s), registering again (the same registration, also
after the bot), the refusals with their codes (not open, closed, full, not eligible, cancelled, a draft), cancelling
(the waitlist head promoted), my events, no session (401), and the operations in the OpenAPI document."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from core import texts
from emulator.testing import RunningEmulator
from models import Event, EventRegistration, WeChatIdentity, utcnow
from services import cards
from services.events import catalog, registration
from tests.card import conftest as card
from tests.events.conftest import make_event

alumni, card_app, card_settings, card_settings_factory, db = (
    card.alumni,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
)


@dataclasses.dataclass
class HttpUser:
    """A mini-program user calling the API over HTTP with the session token a login through the emulator gave."""

    base: str
    openid: str
    token: str = ""

    def login(self, emulator: RunningEmulator) -> HttpUser:
        code = emulator.login_code(self.openid, None)
        response = requests.post(f"{self.base}/api/v1/auth/login", json={"code": code}, timeout=10)
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        return self

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return requests.request(method, f"{self.base}/api/v1{path}", headers=headers, timeout=30, **kw)


@pytest.fixture
def server(card_app: Flask, live_server: Any) -> str:
    return str(live_server(card_app).url)


@pytest.fixture
def user(server: str, emulator: RunningEmulator) -> Any:
    def make(openid: str) -> HttpUser:
        return HttpUser(server, openid).login(emulator)

    return make


def _event(db: Any, **fields: Any) -> int:
    with db.session() as session:
        return make_event(session, **fields).id


def test_list_detail_register_with_answers_and_again(db, user) -> None:
    questions = catalog.parse_questions("*参加人数：1/2/3\n饮食要求")
    event_id = _event(db, title="校友返校日", capacity=2, questions=questions)
    _event(db, title="草稿", publish=False)
    wang = user("o_mp_wang")
    listed = wang.call("GET", "/events")
    assert listed.status_code == 200
    [view] = listed.json()["events"]
    assert (view["id"], view["title"], view["places_left"], view["eligible"]) == (event_id, "校友返校日", 2, True)
    assert view["registration"] is None and view["starts_at_text"]
    detail = wang.call("GET", f"/events/{event_id}").json()
    assert [(q["key"], q["required"], q["choices"]) for q in detail["questions"]] == [
        ("q1", True, ["1", "2", "3"]),
        ("q2", False, []),
    ]
    bad = wang.call("POST", f"/events/{event_id}/registrations", json={"answers": {"q1": "9", "q7": "x"}})
    assert bad.status_code == 400
    assert {(f["field"], f["problem"]) for f in bad.json()["error"]["fields"]} == {
        ("answers.q1", "not_allowed"),
        ("answers.q7", "unknown_field"),
    }
    missing = wang.call("POST", f"/events/{event_id}/registrations", json={})
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "请回答“参加人数”。"
    extra = wang.call("POST", f"/events/{event_id}/registrations", json={"answers": {}, "openid": "o_other"})
    assert extra.status_code == 400 and extra.json()["error"]["fields"][0]["problem"] == "unknown_field"
    done = wang.call("POST", f"/events/{event_id}/registrations", json={"answers": {"q1": "2", "q2": "素食"}})
    assert done.status_code == 201, done.text
    body = done.json()
    assert (body["status"], body["new"], body["answers"], body["channel"]) == (
        "confirmed", True, {"q1": "2", "q2": "素食"}, "miniprogram",
    )  # fmt: skip
    again = wang.call("POST", f"/events/{event_id}/registrations", json={"answers": {"q1": "1"}})
    assert again.status_code == 201 and again.json()["id"] == body["id"] and again.json()["new"] is False
    assert wang.call("GET", f"/events/{event_id}").json()["registration"]["id"] == body["id"]
    mine = wang.call("GET", "/me/events").json()["registrations"]
    assert [(m["event"]["id"], m["registration"]["status"]) for m in mine] == [(event_id, "confirmed")]


def test_refusals_have_their_codes(db, user, alumni, card_settings) -> None:
    now = utcnow()
    li = user("o_mp_li")
    not_open = _event(db, registration_opens_at=now + timedelta(days=1))
    closed = _event(db, registration_closes_at=now + timedelta(seconds=1))
    full = _event(db, capacity=1, waitlist=False)
    holders = _event(db, eligibility="card_holders")
    draft = _event(db, publish=False)
    gone = _event(db)
    with db.session() as session:
        catalog.cancel_event(session, gone, actor="staff:test")
        found = session.get(Event, closed)
        assert found is not None
        found.registration_closes_at = now - timedelta(minutes=1)
        registration.register(session, full, registration.Registrant(None, oa_openid="o_first"), channel="bot")
    expected = {
        not_open: (409, "registration_not_open"),
        closed: (409, "registration_closed"),
        full: (409, "event_full"),
        holders: (403, "not_eligible"),
        draft: (404, "not_found"),
        gone: (409, "event_unavailable"),
        2**31: (404, "not_found"),
    }
    for event_id, (status, code) in expected.items():
        response = li.call("POST", f"/events/{event_id}/registrations", json={})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), event_id
    with db.session() as session:
        assert session.scalars(select(EventRegistration.event_id)).all() == [full]
    # A bound card holder may register for the card holders' event.
    with db.session() as session:
        session.add(WeChatIdentity(person_id=alumni["李娜"], kind="mp_openid", value="o_mp_li"))
        cards.issue(session, card_settings.card, alumni["李娜"], actor="t")
    assert li.call("POST", f"/events/{holders}/registrations", json={}).status_code == 201


def test_cancel_promotes_and_bot_registration_is_the_same(db, user, alumni) -> None:
    event_id = _event(db, capacity=1)
    first, second = user("o_mp_first"), user("o_mp_second")
    assert first.call("POST", f"/events/{event_id}/registrations", json={}).json()["status"] == "confirmed"
    waiting = second.call("POST", f"/events/{event_id}/registrations", json={}).json()
    assert waiting["status"] == "waitlisted" and waiting["waitlist_position"] == 1
    assert waiting["message"] == texts.EVENT_REGISTERED["waitlisted"].format(title="2026 校友返校日", position=1)
    cancelled = first.call("DELETE", f"/events/{event_id}/registrations/me")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert first.call("DELETE", f"/events/{event_id}/registrations/me").status_code == 404
    assert second.call("GET", "/me/events").json()["registrations"][0]["registration"]["status"] == "confirmed"
    assert first.call("GET", "/me/events").json()["registrations"] == []
    # A person bound on both channels who registered through the bot sees that registration here.
    with db.session() as session:
        for kind, value in (("oa_openid", "o_oa_zhang"), ("mp_openid", "o_mp_zhang")):
            session.add(WeChatIdentity(person_id=alumni["张晓明"], kind=kind, value=value))
        other = make_event(session, title="校友讲座").id
        session.flush()
        by_bot = registration.register(
            session, other, registration.registrant_for_openid(session, "o_oa_zhang"), channel="bot"
        )
        bot_id = by_bot.id
    zhang = user("o_mp_zhang")
    again = zhang.call("POST", f"/events/{other}/registrations", json={})
    assert again.status_code == 201 and again.json()["id"] == bot_id and again.json()["channel"] == "bot"


def test_no_session_is_401_and_the_operations_are_documented(server) -> None:
    assert requests.get(f"{server}/api/v1/events", timeout=10).status_code == 401
    spec = requests.get(f"{server}/api/v1/openapi.json", timeout=10).json()
    paths = spec["paths"]
    assert {"get"} <= set(paths["/api/v1/events"]) and {"get"} <= set(paths["/api/v1/me/events"])
    assert "post" in paths["/api/v1/events/{event_id}/registrations"]
    assert "delete" in paths["/api/v1/events/{event_id}/registrations/me"]
