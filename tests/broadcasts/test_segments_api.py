"""POST/GET /api/v1/me/subscriptions over the test client, with users who log in through the WeChat emulator: each
accepted template adds one allowance for the caller only; bad bodies are refused with the field named (400); no
session is 401; the sender's spend_allowance takes them one at a time."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from services.broadcasts import segments
from tests.card import conftest as card

# The card API's fixtures (an app on a live emulator, users who log in through it).
api, card_app, card_settings, card_settings_factory, db, mp_user = (
    card.api,
    card.card_app,
    card.card_settings,
    card.card_settings_factory,
    card.db,
    card.mp_user,
)


def test_accepted_templates_add_allowances_for_the_caller(mp_user: Any, db: Any) -> None:
    ann, bob = mp_user(1), mp_user(2)
    first = ann.post("/me/subscriptions", json={"accepted": ["tmpl_news", "tmpl_event"]})
    assert first.status_code == 200, first.json
    assert first.json == {"allowances": [{"template_id": "tmpl_event", "remaining": 1},
                                         {"template_id": "tmpl_news", "remaining": 1}]}  # fmt: skip
    again = ann.post("/me/subscriptions", json={"accepted": ["tmpl_news"]})
    assert {"template_id": "tmpl_news", "remaining": 2} in again.json["allowances"]
    assert bob.get("/me/subscriptions").json == {"allowances": []}  # the caller's own, nobody else's
    with db.session() as session:
        assert segments.spend_allowance(session, ann.openid, "tmpl_news") is True
    assert {"template_id": "tmpl_news", "remaining": 1} in ann.get("/me/subscriptions").json["allowances"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"accepted": []}, "accepted"),
        ({"accepted": ["a", "b", "c", "d"]}, "accepted"),
        ({"accepted": ["bad id"]}, "accepted.0"),
        ({"accepted": ["x" * 65]}, "accepted.0"),
        ({"accepted": "tmpl_news"}, "accepted"),
        ({"accepted": ["tmpl_news"], "openid": "someone_else"}, "openid"),
        ({}, "accepted"),
    ],
)
def test_bad_bodies_are_refused_precisely(mp_user: Any, db: Any, body: dict[str, Any], field: str) -> None:
    user = mp_user(1)
    response = user.post("/me/subscriptions", json=body)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_failed" and error["fields"][0]["field"] == field, error
    with db.session() as session:
        assert segments.allowances(session, user.openid) == {}  # nothing half-written


def test_without_a_session_it_is_401(api: FlaskClient) -> None:
    response = api.post("/api/v1/me/subscriptions", json={"accepted": ["tmpl_news"]})
    body = response.get_json()
    assert response.status_code == 401 and body["error"]["code"] == "unauthenticated"
