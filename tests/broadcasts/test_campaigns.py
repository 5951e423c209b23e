"""Recurring campaigns: which occurrences are due, each created once (campaign_key) as an ordinary broadcast to a
segment built from filters, with the news consent required (withdrawn wins), confirmed and then waiting for the
approval the rules require; never late, nothing while disabled; the festival data complete; the settings' errors
precise; and the scheduler's job itself."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import texts
from core.clock import BEIJING
from core.errors import Forbidden
from core.settings import CAMPAIGN_FESTIVALS, CampaignSettings, ConfigError, Settings, load_settings
from jobs import JOBS, JobContext
from jobs.campaigns import FESTIVALS
from models import Broadcast, Segment
from services.broadcasts import campaigns, control, segments
from services.broadcasts.campaigns import Festival
from tests.broadcasts.test_segments import follower, person

# 2026-05-28 12:00 Beijing time: four days before the default anniversary send day (June 1).
NOW = datetime(2026, 5, 28, 4, 0, tzinfo=UTC)


def _settings(settings_factory: Any, **campaign: Any) -> Settings:
    values = {"enabled": True, "anniversary_years": [10], "festivals": [], **campaign}
    settings: Settings = settings_factory(broadcasts={"campaigns": values})
    return settings


def _graduates(session: Session) -> None:
    """Class of 2016 (ten years in 2026): two with the news consent, one withdrawn, one who never granted it; and
    someone from 2006 (twenty years)."""
    follower(session, "o-2016-a", person(session, "甲", grad_year=2016))
    follower(session, "o-2016-b", person(session, "乙", grad_year=2016))
    follower(session, "o-2016-gone", person(session, "丙", grad_year=2016, consent="withdrawn"))
    follower(session, "o-2016-none", person(session, "丁", grad_year=2016, consent=None))
    follower(session, "o-2006", person(session, "戊", grad_year=2006))


def test_due_occurrences_by_their_window() -> None:
    config = CampaignSettings(enabled=True, festivals=("new_year", "spring_festival", "teachers_day"))
    found, missing = campaigns.due(config, FESTIVALS, date(2026, 5, 25))
    assert [o.key for o in found] == [f"anniversary:2026:{n}" for n in (10, 20, 30, 40, 50)]
    assert found[0].send_on == date(2026, 6, 1) and found[1].grad_year == 2006
    assert missing == []
    assert campaigns.due(config, FESTIVALS, date(2026, 5, 24))[0] == []  # eight days before: not yet
    assert campaigns.due(config, FESTIVALS, date(2026, 6, 2))[0] == []  # after the send day: never late
    # The new year's greeting is prepared in December of the year before; Spring Festival 2027 is on 6 February.
    assert [o.key for o in campaigns.due(config, FESTIVALS, date(2026, 12, 28))[0]] == ["festival:new_year:2027"]
    assert [o.key for o in campaigns.due(config, FESTIVALS, date(2027, 2, 1))[0]] == ["festival:spring_festival:2027"]
    assert [o.key for o in campaigns.due(config, FESTIVALS, date(2026, 9, 10))[0]] == ["festival:teachers_day:2026"]
    lunar = {"spring_festival": Festival("spring_festival", dates={2026: (2, 17)})}
    _, missing = campaigns.due(CampaignSettings(festivals=("spring_festival",)), lunar, date(2026, 3, 1))
    assert missing == ["spring_festival:2027"]


def test_an_anniversary_is_created_once_and_waits_for_approval(session: Session, settings_factory: Any) -> None:
    settings = _settings(settings_factory, anniversary_years=[10, 20])
    _graduates(session)
    report = campaigns.run(session, settings, FESTIVALS, now=NOW)
    assert (len(report.created), report.awaiting_approval, report.existing) == (2, 2, 0)
    ten = session.scalars(select(Broadcast).where(Broadcast.campaign_key == "anniversary:2026:10")).one()
    assert ten.title == "毕业10周年问候（2016届）" and ten.channels == "mass"
    assert ten.status == "awaiting_approval"  # two recipients, far under the threshold: campaigns always wait
    assert ten.audience == 2  # the withdrawn one and the one who never granted news are not in it
    assert (ten.created_by, ten.confirmed_by) == (campaigns.ACTOR, campaigns.ACTOR)
    assert ten.scheduled_at == datetime(2026, 6, 1, 10, 0, tzinfo=BEIJING)
    content = json.loads(ten.content_json)
    assert content["kind"] == "text" and "2016届" in content["text"] and "10年前" in content["text"]
    segment = session.get(Segment, ten.segment_id)
    assert segment is not None
    filters = segments.filters_of(segment)
    assert (filters.grad_year_from, filters.grad_year_to, filters.require_news_consent) == (2016, 2016, True)
    assert {r.openid for r in session.execute(segments.recipients(session, filters, now=NOW))} == {
        "o-2016-a",
        "o-2016-b",
    }
    twenty = session.scalars(select(Broadcast).where(Broadcast.campaign_key == "anniversary:2026:20")).one()
    assert twenty.audience == 1
    # The next day's run (or a second scheduler) creates nothing more.
    again = campaigns.run(session, settings, FESTIVALS, now=NOW + timedelta(days=1))
    assert (again.created, again.existing) == ([], 2)
    assert session.scalar(select(func.count()).select_from(Broadcast)) == 2
    # Any staff member holding broadcasts.approve may approve it (nobody on staff wrote it); others may not.
    with pytest.raises(Forbidden):
        control.approve(session, ten.id, actor="staff:olga", roles=frozenset({"officer"}))
    approved = control.approve(session, ten.id, actor="staff:cai", roles=frozenset({"broadcaster"}), now=NOW)
    assert (approved.status, approved.approved_by) == ("scheduled", "staff:cai")


def test_with_the_threshold_rule_only_a_large_audience_waits(session: Session, settings_factory: Any) -> None:
    _graduates(session)
    small = _settings(settings_factory, approval="threshold", anniversary_years=[10, 20])
    settings = small.model_copy(update={"broadcasts": small.broadcasts.model_copy(update={"approval_threshold": 1})})
    report = campaigns.run(session, settings, FESTIVALS, now=NOW)
    assert (report.awaiting_approval, report.scheduled) == (1, 1)
    by_key = {key: status for key, status in session.execute(select(Broadcast.campaign_key, Broadcast.status))}
    assert by_key == {"anniversary:2026:10": "awaiting_approval", "anniversary:2026:20": "scheduled"}


def test_nobody_reachable_leaves_a_draft_and_late_or_disabled_creates_nothing(
    session: Session, settings_factory: Any
) -> None:
    follower(session, "o-2016-none", person(session, "丁", grad_year=2016, consent=None))
    settings = _settings(settings_factory)
    report = campaigns.run(session, settings, FESTIVALS, now=NOW)
    assert (len(report.created), report.drafts) == (1, 1)
    draft = session.scalars(select(Broadcast)).one()
    assert (draft.status, draft.campaign_key) == ("draft", "anniversary:2026:10")
    assert campaigns.run(session, settings, FESTIVALS, now=NOW).existing == 1  # not made again tomorrow
    late = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)  # 10:30 Beijing on the send day: its 10:00 has passed
    assert (
        campaigns.run(session, _settings(settings_factory, anniversary_years=[20]), FESTIVALS, now=late).created == []
    )
    off = _settings(settings_factory, enabled=False, anniversary_years=[30])
    assert campaigns.run(session, off, FESTIVALS, now=NOW).created == []
    assert session.scalar(select(func.count()).select_from(Broadcast)) == 1


def test_festival_greetings_share_one_consent_segment(session: Session, settings_factory: Any) -> None:
    _graduates(session)
    settings = _settings(
        settings_factory, anniversary_years=[], festivals=["teachers_day", "mid_autumn"], days_ahead=20
    )
    report = campaigns.run(session, settings, FESTIVALS, now=datetime(2026, 9, 8, 1, 0, tzinfo=UTC))
    assert len(report.created) == 2
    rows = session.scalars(select(Broadcast).order_by(Broadcast.id)).all()
    assert [b.campaign_key for b in rows] == ["festival:teachers_day:2026", "festival:mid_autumn:2026"]
    assert [b.title for b in rows] == ["教师节问候（2026）", "中秋节问候（2026）"]
    assert rows[0].segment_id == rows[1].segment_id and rows[0].audience == 3  # news consent, withdrawn excluded
    assert rows[1].scheduled_at == datetime(2026, 9, 25, 10, 0, tzinfo=BEIJING)
    assert campaigns.label("festival:mid_autumn:2026") == "中秋节 · 2026"
    assert campaigns.label("anniversary:2026:30") == "毕业30周年 · 2026"


def test_a_segment_name_staff_took_is_left_alone(session: Session, settings_factory: Any) -> None:
    _graduates(session)
    theirs = segments.create(
        session, name=texts.CAMPAIGN_SEGMENT_FESTIVAL, filters=segments.parse_filters({"grad_year_from": 2006,
        "grad_year_to": 2006}), actor="staff:ann",
    )  # fmt: skip
    settings = _settings(settings_factory, anniversary_years=[], festivals=["teachers_day"])
    campaigns.run(session, settings, FESTIVALS, now=datetime(2026, 9, 8, 1, 0, tzinfo=UTC))
    b = session.scalars(select(Broadcast)).one()
    ours = session.get(Segment, b.segment_id)
    assert ours is not None and ours.id != theirs.id and ours.name.endswith("(festival:teachers_day:2026)")
    assert segments.filters_of(theirs).grad_year_from == 2006 and b.audience == 3


def test_every_festival_has_copy_and_dates_for_the_coming_years() -> None:
    this_year = datetime.now(BEIJING).year
    for name in CAMPAIGN_FESTIVALS:
        assert name in texts.CAMPAIGN_FESTIVAL_NAMES and name in texts.CAMPAIGN_FESTIVAL_GREETINGS
        for year in range(this_year, this_year + 3):
            assert FESTIVALS[name].on(year) is not None, f"{name} has no date for {year} in jobs/campaigns.py"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"anniversary_years": [0, 10]}, "broadcasts.campaigns.anniversary_years: 0 is not a number of years"),
        ({"anniversary_years": [10, 10]}, "broadcasts.campaigns.anniversary_years: lists a number of years twice"),
        ({"festivals": ["xmas"]}, "broadcasts.campaigns.festivals: unknown festival 'xmas'; known: new_year"),
        ({"channels": ["template"]}, "broadcasts.campaigns.channels: 'template' cannot carry a campaign's text"),
        ({"channels": []}, "broadcasts.campaigns.channels: needs at least one channel"),
        ({"anniversary_month": 13}, "broadcasts.campaigns.anniversary_month: Input should be less than or equal"),
        ({"send_time": "25:00"}, "broadcasts.campaigns.send_time: String should match pattern"),
        ({"approval": "never"}, "broadcasts.campaigns.approval: Input should be 'always' or 'threshold'"),
    ],
)
def test_campaign_settings_errors_name_the_setting(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environment="test", broadcasts={"campaigns": values})
    assert message in str(refused.value)


def test_the_campaigns_job_creates_what_is_due_today(settings_factory: Any, db: Any) -> None:
    from core.runtime import Runtime

    today = datetime.now(BEIJING).date()
    send_on = next(today + timedelta(days=k) for k in range(1, 8) if (today + timedelta(days=k)).day <= 28)
    settings = _settings(
        settings_factory, anniversary_years=[10], anniversary_month=send_on.month, anniversary_day=send_on.day
    )
    with db.session() as session:
        follower(session, "o-class", person(session, "己", grad_year=send_on.year - 10))
    rt = Runtime.build(settings)
    try:
        (spec,) = [spec for spec in JOBS if spec.id == "broadcasts.campaigns"]
        first = spec.func(JobContext(rt))
        second = spec.func(JobContext(rt))
    finally:
        rt.close()
    assert (len(first.created), first.awaiting_approval, second.existing) == (1, 1, 1)
    with db.session() as session:
        b = session.scalars(select(Broadcast)).one()
        assert (b.campaign_key, b.status, b.audience) == (f"anniversary:{send_on.year}:10", "awaiting_approval", 1)
