"""Notices to registrants (services/events/notices.py) end to end: the promoted registrant's message reaches WeChat
(the emulator, over HTTP) through the outbox job, as a subscribe message for a mini-program registrant with an
allowance and as a customer-service message otherwise; the day-before reminders (the ``events.remind`` job) go
once; a cancelled event tells everyone registered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.settings import Settings
from emulator.testing import RunningEmulator
from jobs import JOBS, JobContext
from models import Event, EventRegistration, OutboundMessage, utcnow
from services import followers, outbox
from services.broadcasts import segments
from services.events import catalog, notices, registration
from services.events.registration import Registrant
from tests.events.conftest import make_event
from wechat.gateway import Gateway, build_gateway

NOTICE_TEMPLATE = "tmpl_event_notice"


@pytest.fixture
def event_settings(gateway_settings: Any) -> Settings:
    settings: Settings = gateway_settings(events={"notice_subscribe_template_id": NOTICE_TEMPLATE})
    return settings


@pytest.fixture
def edb(event_settings: Settings) -> Any:
    database = Database(event_settings.database.url)
    yield database
    database.dispose()


@pytest.fixture
def gw(event_settings: Settings, cache: redis.Redis) -> Gateway:
    return build_gateway(event_settings, cache)


def run_outbox(db: Database, gw: Gateway, settings: Settings) -> dict[str, int]:
    """One pass of the scheduler's outbox job, as jobs.deliver_outbox runs it."""
    return outbox.deliver_due(
        db.session,
        gw.official,
        settings.outbox.max_attempts,
        settings.outbox.retry_interval_seconds,
        templates=gw.official,
        subscriber=gw.miniprogram,
    )


def open_window(emulator: RunningEmulator, gw: Gateway, who: str) -> None:
    """The user wrote to the account just now: WeChat (the emulator) and our tracker both know."""
    emulator.add_followers(who)
    emulator.interact(who, "message")
    gw.official.record_interaction(who, "message")


def test_a_promotion_reaches_the_user_as_a_customer_service_message(
    edb: Database, gw: Gateway, event_settings: Settings, emulator: RunningEmulator
) -> None:
    open_window(emulator, gw, "o_second")
    with edb.session() as session:
        event_id = make_event(session, capacity=1, title="校友篮球赛").id
        registration.register(session, event_id, Registrant(None, oa_openid="o_first"), channel="bot")
        assert (
            registration.register(session, event_id, Registrant(None, oa_openid="o_second"), channel="bot").status
            == "waitlisted"
        )
    with edb.session(write=True) as session:
        registration.cancel(session, event_id, Registrant(None, oa_openid="o_first"), settings=event_settings.events)
    assert run_outbox(edb, gw, event_settings) == {"sent": 1}
    [delivery] = emulator.deliveries("o_second", "custom")
    assert delivery["message"]["text"]["content"].startswith("候补成功：您已获得活动「校友篮球赛」的名额")
    assert emulator.deliveries("o_first") == []
    assert run_outbox(edb, gw, event_settings) == {}  # sent once


def test_a_follower_who_reads_english_is_promoted_in_english(
    edb: Database, gw: Gateway, event_settings: Settings, emulator: RunningEmulator
) -> None:
    open_window(emulator, gw, "o_en")
    with edb.session() as session:
        followers.choose_language(session, "o_en", "en")
        event_id = make_event(session, capacity=1, title="Alumni basketball").id
        registration.register(session, event_id, Registrant(None, oa_openid="o_zh"), channel="bot")
        registration.register(session, event_id, Registrant(None, oa_openid="o_en"), channel="bot")
    with edb.session(write=True) as session:  # a staff cancellation: no push, so no language of its own
        registration.cancel(session, event_id, Registrant(None, oa_openid="o_zh"), settings=event_settings.events)
    assert run_outbox(edb, gw, event_settings) == {"sent": 1}
    [delivery] = emulator.deliveries("o_en", "custom")
    content = delivery["message"]["text"]["content"]
    assert content.startswith("Good news: you're off the waitlist and have a place at “Alumni basketball”.")
    assert "候补" not in content


def test_a_miniprogram_registrant_with_an_allowance_gets_a_subscribe_message(
    edb: Database, gw: Gateway, event_settings: Settings, emulator: RunningEmulator
) -> None:
    emulator.control("POST", "/consents", {"openid": "m_second", "template_id": NOTICE_TEMPLATE})
    with edb.session() as session:
        segments.record_allowances(session, "m_second", [NOTICE_TEMPLATE])
        event_id = make_event(session, capacity=1, title="校友篮球赛").id
        registration.register(session, event_id, Registrant(None, mp_openid="m_first"), channel="miniprogram")
        registration.register(session, event_id, Registrant(None, mp_openid="m_second"), channel="miniprogram")
    with edb.session(write=True) as session:
        registration.cancel(session, event_id, Registrant(None, mp_openid="m_first"), settings=event_settings.events)
        assert segments.allowances(session, "m_second") == {}  # spent on this notice
    assert run_outbox(edb, gw, event_settings) == {"sent": 1}
    [delivery] = emulator.deliveries("m_second", "subscribe")
    assert delivery["message"]["template_id"] == NOTICE_TEMPLATE
    assert delivery["message"]["page"] == f"pages/events/detail?id={event_id}"
    assert delivery["message"]["data"]["thing1"]["value"] == "校友篮球赛"


def test_without_an_allowance_or_an_openid_nothing_is_queued(session: Session, event_settings: Settings) -> None:
    event = make_event(session, capacity=1)
    registration.register(session, event.id, Registrant(None, mp_openid="m_first"), channel="miniprogram")
    registration.register(session, event.id, Registrant(None, mp_openid="m_second"), channel="miniprogram")
    registration.cancel(session, event.id, Registrant(None, mp_openid="m_first"), settings=event_settings.events)
    promoted = registration.live_registration(session, event.id, Registrant(None, mp_openid="m_second"))
    assert promoted is not None and promoted.status == "confirmed"  # promoted: the mini-program shows it
    assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 0


def _reminder_rows(session: Session) -> list[OutboundMessage]:
    return list(
        session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.idempotency_key.like("event-notice:reminder:%"))
            .order_by(OutboundMessage.id)
        )
    )


def test_the_reminders_job_reminds_confirmed_registrants_once(
    make_app: Any, edb: Database, gw: Gateway, event_settings: Settings, emulator: RunningEmulator
) -> None:
    now = utcnow()
    open_window(emulator, gw, "o_a")
    with edb.session() as session:
        tomorrow = make_event(session, capacity=1, title="明日讲座", starts_in=timedelta(hours=20), now=now).id
        later = make_event(session, title="下周聚会", starts_in=timedelta(days=6), now=now).id
        registration.register(session, tomorrow, Registrant(None, oa_openid="o_a"), channel="bot", now=now)
        registration.register(
            session, tomorrow, Registrant(None, oa_openid="o_b"), channel="bot", now=now
        )  # waitlisted
        registration.register(session, later, Registrant(None, oa_openid="o_a"), channel="bot", now=now)
    app: Flask = make_app(event_settings)
    [spec] = [job for job in JOBS if job.id == "events.remind"]
    assert "0:05:00" in str(spec.trigger(event_settings))
    first = spec.func(JobContext(app.extensions["xiaoyou"]))
    assert (first.events, first.reminded, first.queued) == (1, 1, 1)
    again = spec.func(JobContext(app.extensions["xiaoyou"]))
    assert (again.events, again.reminded, again.queued) == (0, 0, 0)
    with edb.session() as session:
        [row] = _reminder_rows(session)
        assert row.openid == "o_a" and "明日讲座" in json.loads(row.payload_json)["content"]
        event = session.get(Event, tomorrow)
        assert event is not None and event.reminders_sent_at is not None
        regs = {
            r.oa_openid: r
            for r in session.scalars(select(EventRegistration).where(EventRegistration.event_id == tomorrow))
        }
        assert regs["o_a"].reminded_at is not None and regs["o_b"].reminded_at is None
    assert run_outbox(edb, gw, event_settings) == {"sent": 1}
    [delivery] = emulator.deliveries("o_a", "custom")
    assert delivery["message"]["text"]["content"].startswith("活动提醒：您报名的「明日讲座」")


def test_a_cancelled_event_tells_everyone_registered(session: Session, event_settings: Settings) -> None:
    event = make_event(session, capacity=1, title="取消的活动")
    for who in ("o1", "o2"):
        registration.register(session, event.id, Registrant(None, oa_openid=who), channel="bot")
    followers.choose_language(session, "o2", "en")
    catalog.cancel_event(session, event.id, actor="staff:test", settings=event_settings.events)
    catalog.cancel_event(session, event.id, actor="staff:test", settings=event_settings.events)  # twice: once
    rows = list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.openid)))
    assert [r.openid for r in rows] == ["o1", "o2"]
    contents = [json.loads(r.payload_json)["content"] for r in rows]
    assert "已取消" in contents[0] and contents[1].startswith("We're sorry: “取消的活动”")
    assert notices.remind_due(session, event_settings.events).reminded == 0  # a cancelled event is not reminded
