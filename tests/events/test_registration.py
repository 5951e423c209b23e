"""Registering for an event (services/events/registration.py) on the real database: one registration per person
across channels, the registration window, eligibility (card holders, a segment), answers, capacity and the
waitlist, cancelling with promotion, and the last place under 50 concurrent registrations."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import texts
from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from models import Card, Event, EventRegistration, OutboundMessage, utcnow
from models.card import CARD_SUSPENDED
from services import cards
from services.broadcasts import segments
from services.events import catalog, registration
from services.events.registration import (
    EventFull,
    EventUnavailable,
    NotEligible,
    Registrant,
    RegistrationClosed,
    RegistrationNotOpen,
)
from tests.events.conftest import bind, make_event


def _counts(session: Session, event_id: int) -> tuple[int, int]:
    event = session.get(Event, event_id, populate_existing=True)
    assert event is not None
    return event.confirmed_count, event.waitlisted_count


def _rows(session: Session, event_id: int) -> list[EventRegistration]:
    return list(
        session.scalars(
            select(EventRegistration).where(EventRegistration.event_id == event_id).order_by(EventRegistration.id)
        )
    )


def test_registrant_keys() -> None:
    assert Registrant(7, oa_openid="o1").key == "person:7"
    assert Registrant(None, oa_openid="o1").key == "oa:o1"
    assert Registrant(None, mp_openid="m1").key == "mp:m1"
    with pytest.raises(ValueError):
        _ = Registrant(None).key


def test_bot_and_miniprogram_registration_of_a_person_bound_to_both_is_one(session, people) -> None:
    bind(session, people["张伟"], oa="o_zhang", mp="m_zhang")
    event = make_event(session, capacity=10)
    by_bot = registration.registrant_for_openid(session, "o_zhang")
    by_mp = registration.registrant_for_mp(session, "m_zhang")
    assert by_bot.key == by_mp.key == f"person:{people['张伟']}"
    first = registration.register(session, event.id, by_bot, channel="bot")
    second = registration.register(session, event.id, by_mp, channel="miniprogram")
    third = registration.register(session, event.id, by_bot, channel="bot")
    assert first.id == second.id == third.id and first.status == "confirmed" and first.channel == "bot"
    assert len(_rows(session, event.id)) == 1
    assert _counts(session, event.id) == (1, 0)


def test_an_openid_row_made_before_binding_is_found_after_it(session, people) -> None:
    event = make_event(session)
    before = registration.register(
        session, event.id, registration.registrant_for_mp(session, "m_li"), channel="miniprogram"
    )
    assert before.registrant == "mp:m_li"
    bind(session, people["李娜"], mp="m_li")
    again = registration.register(
        session, event.id, registration.registrant_for_mp(session, "m_li"), channel="miniprogram"
    )
    assert again.id == before.id
    assert len(_rows(session, event.id)) == 1


def test_registration_window(session) -> None:
    now = utcnow()
    later = make_event(session, registration_opens_at=now + timedelta(days=1), now=now)
    with pytest.raises(RegistrationNotOpen) as not_open:
        registration.register(session, later.id, Registrant(None, oa_openid="o1"), channel="bot", now=now)
    assert catalog.show_time(now + timedelta(days=1)) in not_open.value.user_message
    closing = make_event(session, registration_closes_at=now + timedelta(hours=1), now=now)
    registration.register(session, closing.id, Registrant(None, oa_openid="o1"), channel="bot", now=now)
    with pytest.raises(RegistrationClosed) as closed:
        registration.register(
            session, closing.id, Registrant(None, oa_openid="o2"), channel="bot", now=now + timedelta(hours=1)
        )
    assert closed.value.user_message == texts.EVENT_ERRORS["closed"] and closed.value.status == 409
    # Without a closing time, registration closes when the event starts.
    starting = make_event(session, starts_in=timedelta(hours=2), now=now)
    with pytest.raises(RegistrationClosed):
        registration.register(
            session, starting.id, Registrant(None, oa_openid="o3"), channel="bot", now=now + timedelta(hours=2)
        )
    assert _rows(session, closing.id)[0].registrant == "oa:o1" and len(_rows(session, closing.id)) == 1


def test_a_draft_is_not_found_and_a_cancelled_event_is_refused(session) -> None:
    draft = make_event(session, publish=False)
    with pytest.raises(NotFound):
        registration.register(session, draft.id, Registrant(None, oa_openid="o1"), channel="bot")
    with pytest.raises(NotFound):
        registration.register(session, 987654, Registrant(None, oa_openid="o1"), channel="bot")
    event = make_event(session)
    catalog.cancel_event(session, event.id, actor="staff:test")
    with pytest.raises(EventUnavailable) as refused:
        registration.register(session, event.id, Registrant(None, oa_openid="o1"), channel="bot")
    assert refused.value.user_message == texts.EVENT_ERRORS["cancelled"]
    assert _rows(session, event.id) == []


def test_over_capacity_waitlists_or_refuses(session) -> None:
    with_list = make_event(session, capacity=2, waitlist=True)
    outcomes = [
        registration.register(session, with_list.id, Registrant(None, oa_openid=f"o{n}"), channel="bot").status
        for n in range(4)
    ]
    assert outcomes == ["confirmed", "confirmed", "waitlisted", "waitlisted"]
    assert _counts(session, with_list.id) == (2, 2)
    last = registration.live_registration(session, with_list.id, Registrant(None, oa_openid="o3"))
    assert last is not None and registration.waitlist_position(session, last) == 2

    no_list = make_event(session, capacity=1, waitlist=False)
    registration.register(session, no_list.id, Registrant(None, oa_openid="o1"), channel="bot")
    with pytest.raises(EventFull) as full:
        registration.register(session, no_list.id, Registrant(None, oa_openid="o2"), channel="bot")
    assert full.value.user_message == texts.EVENT_ERRORS["full"]
    assert _counts(session, no_list.id) == (1, 0) and len(_rows(session, no_list.id)) == 1  # nothing half-written


def test_card_holders_only(session, people, db_settings: Settings) -> None:
    event = make_event(session, eligibility="card_holders")
    zhang, li = people["张伟"], people["李娜"]
    with pytest.raises(NotEligible) as refused:
        registration.register(session, event.id, Registrant(zhang, oa_openid="o_zhang"), channel="bot")
    assert refused.value.status == 403
    with pytest.raises(NotEligible):  # unknown to the databank: cannot hold a card
        registration.register(session, event.id, Registrant(None, oa_openid="o_x"), channel="bot")
    cards.issue(session, db_settings.card, zhang, actor="t")
    assert registration.register(session, event.id, Registrant(zhang), channel="bot").status == "confirmed"
    card = cards.issue(session, db_settings.card, li, actor="t")
    session.execute(update(Card).where(Card.id == card.id).values(status=CARD_SUSPENDED))
    with pytest.raises(NotEligible):  # a suspended card does not count
        registration.register(session, event.id, Registrant(li), channel="bot")
    session.execute(update(Card).where(Card.id == card.id).values(status="active", expires_at=utcnow()))
    with pytest.raises(NotEligible):  # nor an expired one
        registration.register(session, event.id, Registrant(li), channel="bot")


def test_segment_eligibility_is_the_segments_filter(session, people) -> None:
    filters = segments.parse_filters({"colleges": "計算機學院", "require_news_consent": False})
    segment = segments.create(session, name="计算机学院校友", filters=filters, actor="t")
    event = make_event(session, eligibility="segment", segment_id=segment.id)
    assert registration.register(session, event.id, Registrant(people["张伟"]), channel="bot").status == "confirmed"
    with pytest.raises(NotEligible):
        registration.register(session, event.id, Registrant(people["赵强"]), channel="bot")  # 法学院
    with pytest.raises(NotEligible):
        registration.register(session, event.id, Registrant(None, mp_openid="m_x"), channel="miniprogram")
    segments.archive(session, segment.id, actor="t")  # an archived segment admits nobody
    with pytest.raises(NotEligible):
        registration.register(session, event.id, Registrant(people["李娜"]), channel="bot")


def test_answers_are_checked_against_the_questions(session) -> None:
    questions = catalog.parse_questions("*参加人数：1/2/3\n饮食要求")
    event = make_event(session, questions=questions)
    who = Registrant(None, oa_openid="o1")
    with pytest.raises(ValidationFailed) as bad:
        registration.register(session, event.id, who, channel="bot", answers={"q1": "5", "q9": "x"})
    assert {(f.field, f.problem) for f in bad.value.fields} == {("answers.q9", "unknown_field"),
                                                                  ("answers.q1", "not_allowed")}  # fmt: skip
    with pytest.raises(ValidationFailed) as missing:
        registration.register(session, event.id, who, channel="bot", answers={"q2": "素食"})
    assert missing.value.fields[0].field == "answers.q1" and "参加人数" in missing.value.user_message
    with pytest.raises(ValidationFailed):
        registration.register(session, event.id, who, channel="bot", answers={"q1": "2", "q2": "长" * 201})
    assert _rows(session, event.id) == [] and _counts(session, event.id) == (0, 0)
    done = registration.register(session, event.id, who, channel="bot", answers={"q1": " 2 ", "q2": ""})
    assert json.loads(done.answers_json) == {"q1": "2"}


def test_cancel_frees_the_place_and_promotes_the_waitlist_head_with_a_notice(session) -> None:
    event = make_event(session, capacity=1)
    first, second, third = (Registrant(None, oa_openid=f"o{n}") for n in range(3))
    for who in (first, second, third):
        registration.register(session, event.id, who, channel="bot")
    assert registration.cancel(session, event.id, Registrant(None, oa_openid="o_nobody")) is None
    cancelled = registration.cancel(session, event.id, first)
    assert cancelled is not None and cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    promoted = registration.live_registration(session, event.id, second)
    assert promoted is not None and promoted.status == "confirmed" and promoted.promoted_at is not None
    assert _counts(session, event.id) == (1, 1)
    assert list(session.scalars(select(OutboundMessage).where(OutboundMessage.openid == "o0"))) == []
    (notice,) = session.scalars(select(OutboundMessage).where(OutboundMessage.openid == "o1"))
    assert notice.channel == "custom" and notice.idempotency_key == f"event-notice:promoted:{promoted.id}#0"
    assert json.loads(notice.payload_json)["content"].startswith("候补成功：您已获得活动「2026 校友返校日」的名额")
    # Cancelling a waitlisted registration frees no place and promotes nobody.
    registration.cancel(session, event.id, third)
    assert _counts(session, event.id) == (1, 0)
    assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_raising_the_capacity_promotes_from_the_waitlist(session) -> None:
    event = make_event(session, capacity=1)
    for n in range(3):
        registration.register(session, event.id, Registrant(None, oa_openid=f"o{n}"), channel="bot")
    data = catalog.EventInput(title=event.title, starts_at=event.starts_at, venue=event.venue, capacity=2)
    catalog.edit_event(session, event.id, data, actor="staff:test")
    assert _counts(session, event.id) == (2, 1)
    assert [r.status for r in _rows(session, event.id)] == ["confirmed", "confirmed", "waitlisted"]
    with pytest.raises(ValidationFailed) as below:
        catalog.edit_event(session, event.id, catalog.EventInput(title="x", starts_at=event.starts_at, capacity=1),
                           actor="staff:test")  # fmt: skip
    assert below.value.fields[0].field == "capacity"


# --- the last place under concurrency -------------------------------------------------------------------------------


def _race(db: Database, event_id: int, registrants: list[Registrant]) -> list[Any]:
    """Every registrant registers at the same instant, each in its own thread with its own session."""
    return _race_with(db, event_id, registrants, threading.Barrier(len(registrants)))


@pytest.mark.parametrize("waitlist", [True, False])
def test_fifty_concurrent_registrations_for_the_last_place_exactly_one_wins(db: Database, waitlist: bool) -> None:
    with db.session() as session:
        event_id = make_event(session, capacity=5, waitlist=waitlist).id
        for n in range(4):
            registration.register(session, event_id, Registrant(None, mp_openid=f"m_early{n}"), channel="miniprogram")
    outcomes = _race(db, event_id, [Registrant(None, mp_openid=f"m_race{n}") for n in range(50)])
    assert outcomes.count("confirmed") == 1
    if waitlist:
        assert outcomes.count("waitlisted") == 49
    else:
        assert sum(isinstance(o, EventFull) for o in outcomes) == 49
    with db.session() as session:
        assert _counts(session, event_id) == (5, 49 if waitlist else 0)
        confirmed = session.scalar(
            select(func.count()).where(EventRegistration.event_id == event_id, EventRegistration.status == "confirmed")
        )
        assert confirmed == 5
        assert len(_rows(session, event_id)) == (54 if waitlist else 5)


def test_one_person_registering_from_many_places_at_once_is_one_registration(db: Database) -> None:
    with db.session() as session:
        event_id = make_event(session, capacity=3).id
    person = Registrant(None, mp_openid="m_same")
    outcomes = _race(db, event_id, [person] * 10)
    assert outcomes == ["confirmed"] * 10
    with db.session() as session:
        assert len(_rows(session, event_id)) == 1 and _counts(session, event_id) == (1, 0)


def test_a_freed_place_goes_to_the_waitlist_head_not_to_a_newcomer_racing_for_it(db: Database) -> None:
    with db.session() as session:
        event_id = make_event(session, capacity=1).id
        registration.register(session, event_id, Registrant(None, mp_openid="m_holder"), channel="miniprogram")
        registration.register(session, event_id, Registrant(None, mp_openid="m_head"), channel="miniprogram")
    newcomers = [Registrant(None, mp_openid=f"m_new{n}") for n in range(20)]
    barrier = threading.Barrier(len(newcomers) + 1)

    def leave() -> None:
        barrier.wait()
        with db.session(write=True) as session:
            registration.cancel(session, event_id, Registrant(None, mp_openid="m_holder"))

    canceller = threading.Thread(target=leave)
    canceller.start()
    outcomes = _race_with(db, event_id, newcomers, barrier)
    canceller.join(60)
    assert outcomes == ["waitlisted"] * 20
    with db.session() as session:
        head = registration.live_registration(session, event_id, Registrant(None, mp_openid="m_head"))
        assert head is not None and head.status == "confirmed" and head.promoted_at is not None
        assert _counts(session, event_id) == (1, 20)


def _race_with(db: Database, event_id: int, registrants: list[Registrant], barrier: threading.Barrier) -> list[Any]:
    """Like ``_race``, with a barrier the caller shares with other threads (a cancellation racing them)."""
    outcomes: list[Any] = [None] * len(registrants)

    def one(n: int) -> None:
        barrier.wait()
        try:
            with db.session(write=True) as session:
                outcomes[n] = registration.register(session, event_id, registrants[n], channel="miniprogram").status
        except Exception as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(registrants))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes
