"""The check-in window is a setting (``events.checkin_opens_before_hours`` / ``checkin_closes_after_hours``, default
6 and 6) and every edge honours it: with the window narrowed to 2 hours before and 1 hour after, a card scanned
through POST /api/v1/card/verify and the event's QR scanned through the webhook are refused with the existing
"not open" answers for events the default window would take, and taken inside it. The settings' own validation is in
tests/unit/test_settings.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from core import texts
from core.settings import Settings
from models import Event, utcnow
from services.events import checkin, registration
from services.events.registration import Registrant
from tests.card.conftest import CLAIM_ZHANG
from tests.conftest import WeChatUser
from tests.events import test_checkin
from tests.events.conftest import make_event
from tests.events.test_checkin import code, holder, scan, scoped_scanner, verify

emulator, card_settings_factory = test_checkin.emulator, test_checkin.card_settings_factory
api, db, alumni, mp_user = test_checkin.api, test_checkin.db, test_checkin.alumni, test_checkin.mp_user
card_app, card_settings, console_app = test_checkin.card_app, test_checkin.card_settings, test_checkin.console_app

OPENS_BEFORE, CLOSES_AFTER = 2, 1


@pytest.fixture
def console_settings(card_settings_factory: Any) -> Settings:
    settings: Settings = card_settings_factory(
        events={"checkin_opens_before_hours": OPENS_BEFORE, "checkin_closes_after_hours": CLOSES_AFTER}
    )
    return settings


def event_at(db: Any, starts_in: timedelta, *, person_id: int | None = None, openid: str | None = None) -> int:
    """A published event starting ``starts_in`` from now (negative: already started), with one registration made
    while it was still open."""
    earlier = utcnow() - timedelta(days=1)
    with db.session() as session:
        event = make_event(session, starts_in=starts_in + timedelta(days=1), now=earlier, title="返校日")
        who = Registrant(person_id, oa_openid=openid)
        registration.register(session, event.id, who, channel="bot", now=earlier)
        return event.id


def test_a_card_scan_honours_the_narrowed_window(console_settings: Settings, api, db, mp_user, alumni) -> None:
    assert console_settings.events.checkin_opens_before_hours == OPENS_BEFORE
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    refused = texts.CHECKIN_OUTCOMES["not_open"]
    # Open under the default 6 hours either side; outside 2 hours before / 1 hour after.
    for starts_in in (timedelta(hours=OPENS_BEFORE, minutes=30), -timedelta(hours=CLOSES_AFTER, minutes=30)):
        event_id = event_at(db, starts_in, person_id=alumni["张晓明"])
        answer = verify(api, scoped_scanner(db, event_id), code(zhang)).json
        assert answer["result"] == "valid"
        assert (answer["checkin"]["outcome"], answer["checkin"]["message"]) == ("not_open", refused)
    inside = event_at(db, timedelta(hours=OPENS_BEFORE, minutes=-30), person_id=alumni["张晓明"])
    assert verify(api, scoped_scanner(db, inside), code(zhang)).json["checkin"]["outcome"] == "checked_in"


def test_the_events_qr_honours_the_narrowed_window(card_app: Flask, account, db) -> None:
    guest = WeChatUser(card_app.test_client(), account, "o_oa_guest")
    refused = texts.CHECKIN_BOT["not_open"].format(title="返校日", hours=OPENS_BEFORE, at="")
    assert f"活动开始前 {OPENS_BEFORE} 小时起" in refused  # the answer names the window in force
    for starts_in in (timedelta(hours=OPENS_BEFORE, minutes=30), -timedelta(hours=CLOSES_AFTER, minutes=30)):
        assert scan(guest, scene_of(db, event_at(db, starts_in, openid="o_oa_guest"))) == refused
    inside = event_at(db, -timedelta(hours=CLOSES_AFTER, minutes=-30), openid="o_oa_guest")
    assert scan(guest, scene_of(db, inside)).startswith(texts.CHECKIN_BOT["checked_in"].split("{")[0])


def scene_of(db: Any, event_id: int) -> str:
    with db.session() as session:
        event = session.get(Event, event_id)
        assert event is not None
        return checkin.scene(event)
