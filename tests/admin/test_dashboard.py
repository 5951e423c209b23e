"""The dashboard: the daily rollup (follows and unfollows across Beijing days, the followers total walked back from
the live count, cards issued across weeks, an idempotent re-run, the backfill of missing days and its horizon), the
job that runs it, the page (its numbers, an empty install, who gets it as their home) and the chart geometry."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select

from admin import charts
from core.clock import BEIJING
from jobs import JOBS, JobContext
from models import Card, CardApplication, DailyCount, Follower, Inquiry, Person, utcnow
from services import chat_simulator, stats
from tests.admin.conftest import text

NOW = datetime(2026, 12, 9, 4, 0, tzinfo=UTC)  # Wednesday 9 December 2026, 12:00 in Beijing
_serial = itertools.count(1)


def cst(day: int, hour: int = 12, minute: int = 0, month: int = 12) -> datetime:
    """A Beijing wall-clock time in 2026, as an aware UTC datetime."""
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


def _db(app: Flask) -> Any:
    return app.extensions["xiaoyou"].db


def add_follower(
    app: Flask, *, at: datetime | None, left: datetime | None = None, following: bool = True, openid: str = ""
) -> None:
    with _db(app).session() as session:
        n = next(_serial)
        session.add(
            Follower(openid=openid or f"o_dash_{n}", subscribed=following, subscribed_at=at, unsubscribed_at=left)
        )


def add_card(app: Flask, at: datetime) -> None:
    with _db(app).session() as session:
        n = next(_serial)
        person = Person(name="校友", name_simplified="校友", name_traditional="校友", name_pinyin="xiaoyou",
                        name_initials="xy", provenance={}, created_at=at, updated_at=at)  # fmt: skip
        session.add(person)
        session.flush()
        session.add(Card(person_id=person.id, number=f"2026{n:011d}", status="revoked", issued_at=at, updated_at=at))


def add_application(app: Flask, at: datetime, status: str = "issued") -> None:
    with _db(app).session() as session:
        n = next(_serial)
        session.add(CardApplication(mp_openid=f"o_mp_{n}", status=status, method="verification", created_at=at))


def add_inquiry(app: Flask, status: str = "open") -> None:
    with _db(app).session() as session:
        n = next(_serial)
        session.add(Inquiry(openid=f"o_ask_{n}", source_key=f"k{n}", question="请问校友卡怎么办？", status=status))


def rollup(app: Flask, now: datetime = NOW) -> stats.RollupReport:
    db = _db(app)
    return stats.rollup(db.session, lambda: db.session(write=True), now=now)


def stored(app: Flask) -> dict[tuple[date, str], int]:
    with _db(app).session() as session:
        rows = session.execute(select(DailyCount.day, DailyCount.metric, DailyCount.value))
        return {(day, metric): value for day, metric, value in rows}


def day(n: int) -> date:
    return date(2026, 12, n)


# --- the rollup -------------------------------------------------------------------------------------------------


def test_follows_and_unfollows_are_counted_by_beijing_day_and_the_total_is_walked_back(console_app: Flask) -> None:
    add_follower(console_app, at=cst(7, 10))  # still following
    add_follower(console_app, at=cst(9, 1))  # 8 December 17:00 UTC: a Beijing 9 December follow
    add_follower(console_app, at=cst(7, 20), left=cst(8, 9), following=False)
    add_follower(console_app, at=None)  # followed before Xiaoyou kept records (in the total, on no day)
    add_follower(console_app, at=cst(7, 0, 0), left=cst(7, 23, 59), following=False)  # both on the 7th

    report = rollup(console_app)

    assert (report.days, report.first, report.followers) == (3, day(7), 3)
    counts = stored(console_app)
    assert {k: v for k, v in counts.items() if k[1] == "follows"} == {
        (day(7), "follows"): 3, (day(8), "follows"): 0, (day(9), "follows"): 1,
    }  # fmt: skip
    assert [counts[(day(n), "unfollows")] for n in (7, 8, 9)] == [1, 1, 0]
    # End of the 9th: three follow; of the 8th: the one who came on the 9th not yet; of the 7th: the one who left on
    # the 8th still there.
    assert [counts[(day(n), "followers")] for n in (7, 8, 9)] == [3, 2, 3]
    assert (day(6), "follows") not in counts  # nothing before the first event is written


def test_the_consoles_test_followers_are_not_counted(console_app: Flask) -> None:
    add_follower(console_app, at=cst(9, 9))
    add_follower(console_app, at=cst(9, 10), openid=chat_simulator.test_openid(7))  # a staff member tried 关注
    add_follower(console_app, at=cst(8, 10), left=cst(9, 11), following=False, openid=chat_simulator.test_openid(8))
    assert rollup(console_app).followers == 1
    counts = stored(console_app)
    assert (counts[(day(9), "follows")], counts[(day(9), "unfollows")], counts[(day(8), "follows")]) == (1, 0, 0)


def test_cards_and_applications_are_summed_by_week_monday_first(console_app: Flask) -> None:
    add_card(console_app, cst(30, 9, month=11))  # Monday 30 November
    add_card(console_app, cst(6, 23, 59))  # Sunday 6 December, a minute before the new week
    add_card(console_app, cst(7, 0, 0))  # Monday 7 December at midnight (still the 6th in UTC)
    add_card(console_app, cst(9, 11))
    add_application(console_app, cst(1, 12))
    add_application(console_app, cst(8, 12), status="review")
    rollup(console_app)

    with _db(console_app).session() as session:
        board = stats.dashboard(session, weeks=3, now=NOW)
    assert [w.start for w in board.weeks] == [date(2026, 11, 23), date(2026, 11, 30), day(7)]
    assert [w.cards_issued for w in board.weeks] == [0, 2, 2]
    assert [w.applications for w in board.weeks] == [0, 1, 1]
    assert board.pending_reviews == 1
    assert board.weeks[0].followers is None  # before the first event: not counted, not zero


def test_a_rerun_recounts_only_the_recent_days_and_changes_nothing_else(console_app: Flask) -> None:
    add_follower(console_app, at=cst(1))
    add_card(console_app, cst(2))
    first = rollup(console_app)
    before = stored(console_app)
    assert first.days == 9  # 1..9 December

    again = rollup(console_app)
    assert (again.days, again.first) == (2, day(8))  # today and yesterday only
    assert stored(console_app) == before

    add_follower(console_app, at=cst(9, 13))  # a follow later today: today and the walk back pick it up
    rollup(console_app, NOW + timedelta(hours=2))
    after = stored(console_app)
    assert after[(day(9), "follows")] == 1 and after[(day(9), "followers")] == 2
    assert after[(day(8), "followers")] == 1
    assert {k: v for k, v in after.items() if k[0] < day(8)} == {k: v for k, v in before.items() if k[0] < day(8)}


def test_missing_days_are_backfilled_and_the_backfill_stops_at_its_horizon(console_app: Flask) -> None:
    add_follower(console_app, at=cst(9) - timedelta(days=40))
    assert rollup(console_app).days == 41
    with _db(console_app).session() as session:  # the scheduler was down: some days were never counted
        session.execute(delete(DailyCount).where(DailyCount.day.in_([day(1), day(2)])))
        session.execute(delete(DailyCount).where(DailyCount.day == day(3), DailyCount.metric == "follows"))
    report = rollup(console_app)
    assert (report.days, report.first) == (5, day(1))  # 1, 2, 3 (incomplete), and the recent 8 and 9
    assert len({d for d, _ in stored(console_app)}) == 41

    with _db(console_app).session() as session:
        session.execute(delete(DailyCount))
    add_card(console_app, cst(9) - timedelta(days=2000))
    report = rollup(console_app)
    assert report.days == stats.BACKFILL_DAYS
    assert report.first == day(9) - timedelta(days=stats.BACKFILL_DAYS - 1)


def test_a_new_install_writes_todays_zeros_and_the_dashboard_shows_empty_weeks(console_app: Flask) -> None:
    with _db(console_app).session() as session:
        never = stats.dashboard(session, now=NOW)
    assert not never.counted and never.followers is None and len(never.weeks) == stats.DASHBOARD_WEEKS

    assert rollup(console_app) == stats.RollupReport(1, day(9), 0)
    assert stored(console_app) == {(day(9), metric): 0 for metric in stats.METRICS}
    with _db(console_app).session() as session:
        board = stats.dashboard(session, now=NOW)
    assert board.counted and board.followers == 0 and board.updated_at == NOW
    assert [w.followers for w in board.weeks[-2:]] == [None, 0]


def test_the_rollup_is_a_scheduled_job_paced_by_its_setting(console_app: Flask, settings_factory: Any) -> None:
    spec = next(spec for spec in JOBS if spec.id == "stats.rollup")
    trigger: Any = spec.trigger(settings_factory(schedule={"stats_rollup_seconds": 120}))
    assert trigger.interval == timedelta(seconds=120)
    assert trigger.start_date <= utcnow() + timedelta(seconds=11)  # the first run comes at once, not in 2 minutes
    add_follower(console_app, at=utcnow() - timedelta(days=1))
    report = spec.func(JobContext(console_app.extensions["xiaoyou"]))
    assert report.followers == 1 and report.days >= 2


def test_the_rollup_interval_is_validated(settings_factory: Any) -> None:
    from core.settings import ConfigError

    with pytest.raises(ConfigError, match="stats_rollup_seconds"):
        settings_factory(schedule={"stats_rollup_seconds": 5})


# --- the page ---------------------------------------------------------------------------------------------------


def _numbers(page: str, tile: str) -> str:
    found = re.search(rf'id="{tile}".*?class="tile-number">([^<]*)<', page, re.S)
    assert found, tile
    return found.group(1)


def test_the_dashboard_shows_the_numbers(console_app: Flask, signed_in: Any) -> None:
    now = utcnow()
    for hours in (1, 2, 30):
        add_follower(console_app, at=now - timedelta(hours=hours))
    add_follower(console_app, at=now - timedelta(days=20), left=now - timedelta(hours=3), following=False)
    with _db(console_app).session() as session:
        session.execute(insert(Follower), [{"openid": f"o_old_{i}", "subscribed": True} for i in range(1234)])
    add_card(console_app, now - timedelta(minutes=5))
    add_application(console_app, now - timedelta(minutes=9), status="review")
    add_application(console_app, now - timedelta(minutes=8), status="vouching")
    add_inquiry(console_app)
    add_inquiry(console_app, status="answered")
    rollup(console_app, now)

    client, _ = signed_in("officer")
    page = text(client.get("/admin/"))
    assert _numbers(page, "tile-followers") == "1,237"
    assert _numbers(page, "tile-reviews") == "2" and _numbers(page, "tile-inquiries") == "1"
    assert 'href="/admin/cards/review"' in page
    assert "图表统计于" in page
    # Both charts, each with an accessible name, and the exact numbers on hover and in the table.
    assert page.count('role="img"') == 2 and page.count("<desc") == 2
    this_week = stats.week_start(stats.beijing_day(now)).isoformat()
    assert f"<title>{this_week} 起的一周：1,237</title>" in page
    assert f"<title>{this_week} 起的一周：1</title>" in page  # the card
    assert re.search(rf"<td class=\"nowrap\">{this_week}</td><td>1,237</td>", page)
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither


def test_a_new_install_renders_the_dashboard_before_and_after_the_first_rollup(
    console_app: Flask, signed_in: Any
) -> None:
    client, _ = signed_in("admin")
    before = client.get("/admin/")
    assert before.status_code == 200
    page = text(before)
    assert "图表尚未统计" in page and page.count("还没有数据") == 1  # no line yet; the bars still show empty weeks
    assert _numbers(page, "tile-followers") == "—" and _numbers(page, "tile-reviews") == "0"
    rollup(console_app, utcnow())
    page = text(client.get("/admin/"))
    assert "还没有数据" not in page and _numbers(page, "tile-followers") == "0"


@pytest.mark.parametrize(
    ("role", "dashboard", "review_link"),
    [
        ("admin", True, True),
        ("officer", True, True),
        ("viewer", True, True),
        ("broadcaster", True, False),  # may see the count, not the queue
        ("branch_admin", False, False),
        ("class_liaison", False, False),
    ],
)
def test_the_dashboard_is_home_for_the_roles_that_hold_it(
    signed_in: Any, role: str, dashboard: bool, review_link: bool
) -> None:
    client, _ = signed_in(role)
    page = text(client.get("/admin/"))
    assert ('id="dashboard-tiles"' in page) is dashboard
    assert ('id="tile-reviews"' in page and 'href="/admin/cards/review">' in page) is review_link
    # A liaison's home lists the class-group pages; a branch admin's their associations' and events' pages.
    pages_of_its_own = dashboard or role in ("class_liaison", "branch_admin")
    assert ("您的角色目前没有可用的页面" in page) is not pages_of_its_own


def test_the_recovered_notice_is_kept_on_the_dashboard(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("admin")
    page = text(client.get("/admin/?recovered=1"))
    assert 'id="dashboard-tiles"' in page and re.search(r"已使用一个恢复码，还剩 \d+ 个", page)


# --- the chart geometry -----------------------------------------------------------------------------------------


def test_scales_step_by_one_two_or_five() -> None:
    assert charts.nice_scale(0, 0, zero=True) == (0, 1, 1)
    assert charts.nice_scale(0, 7, zero=True) == (0, 8, 2)
    assert charts.nice_scale(0, 130, zero=True) == (0, 150, 50)
    assert charts.nice_scale(999_100, 1_000_400, zero=False) == (999_000, 1_000_500, 500)


def test_a_line_skips_the_weeks_not_counted_and_bars_show_zero_weeks() -> None:
    line = charts.line(["a", "b", "c"], [None, 10, 20], ["ta", "tb", "tc"])
    assert [m.title for m in line.marks] == ["tb", "tc"] and line.path.startswith("M") and not line.empty
    assert line.marks[0].y > line.marks[1].y  # larger is higher
    assert charts.line(["a"], [None], ["t"]).empty
    bars = charts.bars(["a", "b"], [0, 0], ["ta", "tb"])
    assert not bars.empty and [m.height for m in bars.marks] == [0, 0] and [t.label for t in bars.ticks] == ["0", "1"]
