"""The plan: quiet hours (Beijing time, across midnight, overridable), each recipient on the first channel of the
fallback order that reaches them, the skipped by reason, and the ETA under today's budget left, tomorrow's, and the
quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.settings import Settings
from models.broadcast import MassReceipt
from services.broadcasts import compose, plan
from services.broadcasts.compose import DraftInput
from tests.broadcasts.test_segments import follower, person

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 Beijing time


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_quiet_hours_span_midnight_in_beijing_time(db_settings: Settings) -> None:
    quiet = [plan.in_quiet_hours(db_settings, bj(7, h, m)) for h, m in ((21, 59), (22, 0), (0, 30), (7, 59), (8, 0))]
    assert quiet == [False, True, True, True, False]
    assert plan.next_send_time(db_settings, bj(7, 23, 10)) == bj(8, 8)
    assert plan.next_send_time(db_settings, bj(8, 3, 0)) == bj(8, 8)
    assert plan.next_send_time(db_settings, bj(7, 23, 10), ignore_quiet_hours=True) == bj(7, 23, 10)
    assert plan.next_send_time(db_settings, bj(7, 12)) == bj(7, 12)


def test_quiet_hours_within_a_day_or_none(settings_factory: Any) -> None:
    lunch = settings_factory(broadcasts={"quiet_start": "12:00", "quiet_end": "13:30"})
    assert plan.in_quiet_hours(lunch, bj(7, 12, 45)) and not plan.in_quiet_hours(lunch, bj(7, 23))
    assert plan.next_send_time(lunch, bj(7, 12, 45)) == bj(7, 13, 30)
    never = settings_factory(broadcasts={"quiet_start": "08:00", "quiet_end": "08:00"})
    assert not plan.in_quiet_hours(never, bj(7, 8))


def world(session: Session) -> None:
    """Six followers: two reachable by mass, one at the monthly limit but in the window, one at the limit outside
    it, one unsubscribed, and one whose person withdrew consent."""
    follower(session, "o_a")
    follower(session, "o_b", last=NOW - timedelta(hours=50))
    follower(session, "o_limit_window", last=NOW - timedelta(hours=1))
    follower(session, "o_limit_closed", last=NOW - timedelta(hours=49))
    follower(session, "o_gone", subscribed=False)
    follower(session, "o_withdrawn", person(session, "李四", consent="withdrawn"))
    for openid in ("o_limit_window", "o_limit_closed"):
        for n in range(4):
            session.add(MassReceipt(openid=openid, broadcast_id=_broadcast_for_receipts(session, n), month="2026-12"))
    session.flush()


_receipt_broadcasts: dict[int, int] = {}


def _broadcast_for_receipts(session: Session, n: int) -> int:
    key = id(session) * 10 + n
    if key not in _receipt_broadcasts:
        b = compose.save_draft(session, DraftInput(title=f"旧 {n}", channels=["mass"], text="旧"), actor="t", now=NOW)
        _receipt_broadcasts[key] = b.id
    return _receipt_broadcasts[key]


def draft(session: Session, channels: list[str], **changes: Any) -> Any:
    values: dict[str, Any] = {"title": "通知", "channels": channels, "kind": "text", "text": "你好"}
    if "template" in channels:
        values |= {"template_id": "TPL_1", "template_fields": "thing1: 你好"}
    return compose.save_draft(session, DraftInput(**(values | changes)), actor="staff:ann", now=NOW)


def test_each_recipient_gets_the_first_channel_that_reaches_them_and_the_rest_are_skipped_by_reason(
    session: Session, db_settings: Settings
) -> None:
    world(session)
    b = draft(session, ["mass", "custom"])
    p = plan.build(session, db_settings, b, now=NOW)
    assert p.audience == 5  # the withdrawn person's follower writes no row
    assert {c.channel: c.recipients for c in p.channels} == {"mass": 2, "custom": 1}
    assert p.reachable == 3
    assert p.skipped == {"consent_withdrawn": 1, "mass_limit": 1, "unsubscribed": 1}
    mass = p.channels[0]
    assert (mass.reachable, mass.unreachable) == (
        2,
        {"unsubscribed": 1, "mass_limit": 2, "consent_withdrawn": 1},
    )
    assert mass.calls == 2 and mass.today == 2 and mass.days == 1  # one tagging call, one mass send

    # Template first: every subscribed follower; only the unsubscribed one and the withdrawn one are left.
    t = draft(session, ["template", "mass"])
    p = plan.build(session, db_settings, t, now=NOW)
    assert {c.channel: c.recipients for c in p.channels} == {"template": 4, "mass": 0}
    assert p.skipped == {"consent_withdrawn": 1, "unsubscribed": 1}
    assert p.as_json()["eta"]["start"] == NOW.isoformat()


def test_the_eta_under_todays_budget_left_tomorrows_and_the_quiet_hours(
    session: Session, settings_factory: Any
) -> None:
    settings = settings_factory(wechat_limits={"template": {"per_minute": 10, "per_day": 30}})
    for n in range(50):
        follower(session, f"o_{n:03d}")
    b = draft(session, ["template"])
    p = plan.build(session, settings, b, now=bj(7, 21, 59), usage={"template": 20})
    tpl = p.channels[0]
    # Today: one minute before the quiet hours at 10 a minute, and 10 of 30 left; tomorrow from 08:00, 30.
    assert (tpl.today, tpl.tomorrow, tpl.days) == (10, 30, 3)
    assert tpl.finish == bj(9, 8, 1).isoformat() and p.finish == tpl.finish

    # Scheduled inside the quiet hours: the start moves to 08:00, unless the broadcast ignores them.
    late = draft(session, ["template"], scheduled_at="2026-12-07 23:30")
    p = plan.build(session, settings, late, now=NOW)
    assert p.start == bj(8, 8).isoformat() and p.quiet_delayed
    assert (p.channels[0].today, p.channels[0].tomorrow) == (30, 20)
    loud = draft(session, ["template"], scheduled_at="2026-12-07 23:30", ignore_quiet_hours=True)
    p = plan.build(session, settings, loud, now=NOW)
    assert p.start == bj(7, 23, 30).isoformat() and not p.quiet_delayed
    assert (p.channels[0].today, p.channels[0].tomorrow, p.channels[0].days) == (30, 20, 2)


def test_a_mass_send_waits_for_tomorrow_when_todays_mass_calls_are_spent(
    session: Session, db_settings: Settings
) -> None:
    for n in range(120):
        follower(session, f"o_{n:03d}")
    b = draft(session, ["mass"])
    p = plan.build(session, db_settings, b, now=NOW, usage={"mass": 100})
    mass = p.channels[0]
    assert mass.calls == 3 + 1 and (mass.today, mass.tomorrow, mass.days) == (0, 120, 2)
    assert mass.finish == (bj(8, 8) + timedelta(seconds=1)).isoformat()  # one call at 60 a minute
