"""Staff cancelling one registration from the console, over real HTTP (a live server, a signed-in staff session,
the CSRF token of the page): the registrant is told through the outbox, in their language (Chinese, English), once;
the place it frees promotes the waitlist head, who is told as before; the cancellation is audited; a registrant
nobody can reach gets nothing queued. Deliveries are read from the WeChat emulator."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select

from core.db import Database
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import AuditEntry, EventRegistration, OutboundMessage, utcnow
from services import followers
from services.events import registration
from services.events.registration import Registrant
from services.staff import sessions
from tests.admin import conftest as console
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS
from tests.events.conftest import make_event
from tests.events.test_notices import open_window, run_outbox
from wechat.gateway import Gateway, build_gateway

keyring, make_member = console.keyring, console.make_member
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def console_settings(gateway_settings: Any) -> Settings:
    """The console's settings, wired to the emulator (the notices reach WeChat there)."""
    settings: Settings = gateway_settings(privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS})
    return settings


@pytest.fixture
def console_app(make_app: Any, console_settings: Settings) -> Flask:
    app: Flask = make_app(console_settings)
    return app


@pytest.fixture
def gw(console_settings: Settings, cache: redis.Redis) -> Gateway:
    return build_gateway(console_settings, cache)


@pytest.fixture
def staff_browser(console_app: Flask, live_server: Any, make_member: Any) -> tuple[str, requests.Session]:
    """An officer's signed-in HTTP session against the console on a live server: (console URL, session)."""
    server = live_server(console_app)
    member = make_member("officer")
    rt = console_app.extensions["xiaoyou"]
    http = requests.Session()
    http.cookies.set("xy_console", sessions.start(rt.redis, rt.settings.admin, member.id, stage="full"), path="/admin")
    return f"{server.url}/admin", http


def cancel_over_http(staff: tuple[str, requests.Session], event_id: int, registration_id: int) -> requests.Response:
    """What the officer's browser does: load the event's page, then post its cancel form with the page's token."""
    url, http = staff
    page = http.get(f"{url}/events/{event_id}", timeout=10)
    assert page.status_code == 200
    token = CSRF.search(page.text)
    assert token is not None
    return http.post(
        f"{url}/events/{event_id}/registrations/{registration_id}/cancel",
        data={"csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )


def test_staff_cancelling_a_registration_tells_the_registrant_and_the_promoted_one(
    console_app: Flask,
    console_settings: Settings,
    staff_browser: tuple[str, requests.Session],
    gw: Gateway,
    emulator: RunningEmulator,
) -> None:
    db: Database = console_app.extensions["xiaoyou"].db
    for who in ("o_zh", "o_en", "o_waiting"):
        open_window(emulator, gw, who)
    with db.session() as s:
        followers.choose_language(s, "o_en", "en")
        event_id = make_event(s, capacity=2, title="校友篮球赛").id
        zh, en, waiting = (
            registration.register(s, event_id, Registrant(None, oa_openid=who), channel="bot").id
            for who in ("o_zh", "o_en", "o_waiting")
        )
        unreachable = registration.register(
            s, event_id, Registrant(None, mp_openid="m_no_allowance"), channel="miniprogram"
        ).id

    cancelled = cancel_over_http(staff_browser, event_id, zh)
    assert cancelled.status_code == 302 and cancelled.headers["Location"].endswith("done=registration_cancelled")
    with db.session() as s:
        keys = s.scalars(select(OutboundMessage.idempotency_key).order_by(OutboundMessage.id)).all()
        assert keys == [f"event-notice:registration_cancelled:{zh}#0", f"event-notice:promoted:{waiting}#0"]
        assert s.get(EventRegistration, waiting).status == "confirmed"  # type: ignore[union-attr]
    assert run_outbox(db, gw, console_settings) == {"sent": 2}
    [told] = emulator.deliveries("o_zh", "custom")
    assert told["message"]["text"]["content"].startswith("您报名的活动「校友篮球赛」（")
    assert "已由工作人员取消报名" in told["message"]["text"]["content"]
    [promoted] = emulator.deliveries("o_waiting", "custom")
    assert promoted["message"]["text"]["content"].startswith("候补成功：您已获得活动「校友篮球赛」的名额")

    assert cancel_over_http(staff_browser, event_id, en).status_code == 302  # nobody waits now: one notice
    assert run_outbox(db, gw, console_settings) == {"sent": 1}
    [english] = emulator.deliveries("o_en", "custom")
    content = english["message"]["text"]["content"]
    assert content.startswith("Your registration for “校友篮球赛” (") and "canceled by our staff" in content
    assert "取消" not in content

    # The same form posted again (a double click): already cancelled, nothing more is queued or sent.
    assert cancel_over_http(staff_browser, event_id, zh).status_code == 302
    assert run_outbox(db, gw, console_settings) == {}
    assert len(emulator.deliveries("o_zh")) == 1

    # A mini-program registrant with no subscribe allowance and no official-account openid: nothing to queue.
    assert cancel_over_http(staff_browser, event_id, unreachable).status_code == 302
    with db.session() as s:
        assert s.get(EventRegistration, unreachable).status == "cancelled"  # type: ignore[union-attr]
        assert s.scalar(select(OutboundMessage).where(OutboundMessage.openid == "m_no_allowance")) is None
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "events.cancel_registration").order_by(AuditEntry.id)
        ).all()
    assert len(audited) == 4


def test_a_registration_cancelled_after_the_event_started_tells_nobody(
    console_app: Flask, staff_browser: tuple[str, requests.Session]
) -> None:
    """Staff tidying the record once the event is under way: the registrant is not messaged about it."""
    db: Database = console_app.extensions["xiaoyou"].db
    with db.session() as s:
        earlier = utcnow() - timedelta(hours=3)
        event_id = make_event(s, title="已开始的活动", now=earlier, starts_in=timedelta(hours=1)).id
        reg = registration.register(s, event_id, Registrant(None, oa_openid="o_late"), channel="bot", now=earlier)
        reg_id = reg.id
    assert cancel_over_http(staff_browser, event_id, reg_id).status_code == 302
    with db.session() as s:
        assert s.get(EventRegistration, reg_id).status == "cancelled"  # type: ignore[union-attr]
        assert s.scalars(select(OutboundMessage)).all() == []
