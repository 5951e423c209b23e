"""The dashboard's numbers: a daily rollup kept by the scheduler, and the few live counts the dashboard may afford.

**The rollup** (``daily_counts``: one row per Beijing calendar day and metric). The console must draw a million
followers' history in well under 300 ms, so no page view counts the big tables: the ``stats.rollup`` job
(:func:`rollup`, every ``schedule.stats_rollup_seconds``) counts each day once with indexed range counts
(``WHERE ts >= :start AND ts < :end`` on an indexed timestamp, so a day costs its own rows, not the table) and the
dashboard reads a few hundred small rows (:func:`dashboard`).

- Each run recounts today and yesterday (``RECENT_DAYS``: late writes land there, e.g. a follower sync that
  stamps WeChat's subscribe time, or a push retried around midnight), plus every day of the last
  ``BACKFILL_DAYS`` that has no complete set of rows, but none before the first event on record, so a new install
  writes a handful of rows and the first run on an old database backfills a year. Older days are left as they were
  counted: a re-run changes nothing there, and a day is never half-written (its rows are replaced in one
  transaction, after the counting, which runs outside the write).
- Days are Beijing days (UTC+8, no daylight saving): the office's "today", and its weeks start on Monday.

**Metrics.** ``follows`` and ``unfollows`` count the follower rows whose ``subscribed_at`` / ``unsubscribed_at``
fall on the day; ``cards_issued`` the cards whose ``issued_at`` does (a replacement for a lost card counts: it is
a card issued); ``applications`` the card applications made that day. ``followers`` is the number following at the
end of the day. The follower table keeps each person's *latest* follow and unfollow, not an event log, so past
totals are reconstructed backwards from the one exact number, today's live count: the total at the end of day D is
the total at the end of D+1 minus D+1's follows plus its unfollows. That is exact for the recent days and
errs only where a re-follow overwrote an older follow (the old follow's day is no longer on record). Days counted
in earlier runs keep the total they got then (their numbers were as good as the data then).

**Live counts.** Pending card reviews (the review queue: applications in ``APP_OPEN``, through the
``card_applications.status`` index) and open inquiries (the ``ix_inquiries_open`` partial index; the console's
tile links to the help desk's inbox) are counted on every view: both read only the open rows, which stay few
however large the tables grow.

This module owns no presentation (the console draws the charts) and imports neither Flask nor WeChat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.clock import BEIJING
from models import Card, CardApplication, DailyCount, Follower, Inquiry, utcnow
from models.card import APP_OPEN
from models.inquiry import INQUIRY_OPEN
from services import followers

log = logging.getLogger(__name__)

RECENT_DAYS = 2  # today and yesterday are recounted on every run
BACKFILL_DAYS = 371  # 53 weeks: the dashboard shows 26; a year's comparison stays possible
DASHBOARD_WEEKS = 26

FOLLOWS, UNFOLLOWS, FOLLOWERS = "follows", "unfollows", "followers"
CARDS_ISSUED, APPLICATIONS = "cards_issued", "applications"
# The metrics that are range counts over one indexed timestamp each.
COUNTED: dict[str, Any] = {
    FOLLOWS: Follower.subscribed_at,
    UNFOLLOWS: Follower.unsubscribed_at,
    CARDS_ISSUED: Card.issued_at,
    APPLICATIONS: CardApplication.created_at,
}
METRICS = (*COUNTED, FOLLOWERS)

SessionFactory = Callable[[], AbstractContextManager[Session]]


def beijing_day(moment: datetime) -> date:
    """The Beijing calendar day of an aware ``moment``."""
    return moment.astimezone(BEIJING).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where Beijing ``day`` starts and the next one starts."""
    start = datetime.combine(day, time(), BEIJING).astimezone(UTC)
    return start, start + timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


# --- the rollup -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupReport:
    days: int  # days (re)counted by this run
    first: date | None  # the earliest of them
    followers: int  # followers now (the live count the totals are anchored on)


def _first_event_day(session: Session) -> date | None:
    """The day of the earliest timestamp any counted metric has (each an indexed MIN, so cheap)."""
    firsts = [session.scalar(select(func.min(column))) for column in COUNTED.values()]
    known = [moment for moment in firsts if moment is not None]
    return beijing_day(min(known)) if known else None


def _complete_days(session: Session, since: date) -> set[date]:
    """Days since ``since`` that already have a row for every metric."""
    query = (
        select(DailyCount.day)
        .where(DailyCount.day >= since)
        .group_by(DailyCount.day)
        .having(func.count() == len(METRICS))
    )
    return set(session.scalars(query))


def _count_day(session: Session, day: date) -> dict[str, int]:
    start, end = day_bounds(day)
    counts = {}
    for metric, column in COUNTED.items():
        query = select(func.count()).where(column >= start, column < end)
        if metric in (FOLLOWS, UNFOLLOWS):
            query = query.where(followers.is_real(Follower.openid))  # not the console's test followers
        counts[metric] = int(session.scalar(query) or 0)
    return counts


def live_followers(session: Session) -> int:
    """How many real users follow the account now (the console's test followers left out)."""
    query = select(func.count()).select_from(Follower).where(Follower.subscribed, followers.is_real(Follower.openid))
    return int(session.scalar(query) or 0)


def days_to_count(today: date, first_event: date | None, complete: Iterable[date]) -> list[date]:
    """The days a run (re)counts, oldest first: the recent ones, and every incomplete one since the first event
    (at most ``BACKFILL_DAYS`` back). A database without any event counts just today (zeros, so the dashboard can
    tell "nothing yet" from "never ran")."""
    horizon = today - timedelta(days=BACKFILL_DAYS - 1)
    first = max(horizon, first_event) if first_event is not None else today
    first = min(first, today)
    recent = {today - timedelta(days=n) for n in range(RECENT_DAYS)}
    done = set(complete)
    span = ((today - first).days + 1) if first <= today else 0
    days = {first + timedelta(days=n) for n in range(span)} - done
    return sorted(days | {day for day in recent if day >= first})


def rollup(reader: SessionFactory, writer: SessionFactory, *, now: datetime | None = None) -> RollupReport:
    """Recount the recent days and fill the missing ones (idempotent; see the module docstring).

    Counting runs in a ``reader`` unit of work; the rows are replaced in one short ``writer`` unit afterwards, so
    a backfill's thousand counts never hold SQLite's write lock."""
    now = now or utcnow()
    today = beijing_day(now)
    with reader() as session:
        first_event = _first_event_day(session)
        horizon = today - timedelta(days=BACKFILL_DAYS - 1)
        days = days_to_count(today, first_event, _complete_days(session, horizon))
        if not days:
            return RollupReport(0, None, 0)
        counted = {day: _count_day(session, day) for day in days}
        followers_now = live_followers(session)
        # The stored days between the oldest recounted day and today, for the backward walk of the totals.
        stored: dict[date, dict[str, int]] = {}
        rows = session.execute(
            select(DailyCount.day, DailyCount.metric, DailyCount.value).where(
                DailyCount.day >= days[0], DailyCount.day <= today, DailyCount.metric.in_((FOLLOWS, UNFOLLOWS))
            )
        )
        for day, metric, value in rows:
            stored.setdefault(day, {})[metric] = int(value)

    totals: dict[date, int] = {}
    total, day = followers_now, today
    while day >= days[0]:
        totals[day] = total
        net = counted.get(day) or stored.get(day) or {}
        total -= net.get(FOLLOWS, 0) - net.get(UNFOLLOWS, 0)
        day -= timedelta(days=1)

    values = [
        {"day": day, "metric": metric, "value": value, "updated_at": now}
        for day, counts in counted.items()
        for metric, value in (*counts.items(), (FOLLOWERS, max(0, totals[day])))
    ]
    with writer() as session:
        session.execute(delete(DailyCount).where(DailyCount.day.in_(days)))
        session.execute(insert(DailyCount), values)
    log.info("stats rollup: %d days counted from %s, %d followers now", len(days), days[0], followers_now)
    return RollupReport(len(days), days[0], followers_now)


# --- what the dashboard reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    start: date  # its Monday (Beijing)
    followers: int | None  # following at the end of the week (the latest counted day of it); None: not counted
    follows: int
    unfollows: int
    cards_issued: int
    applications: int


@dataclass(frozen=True)
class Dashboard:
    weeks: list[Week]  # oldest first, the current (partial) week last
    pending_reviews: int  # card applications waiting for staff or a class liaison
    open_inquiries: int
    followers: int | None  # at the last rollup; None before the first
    updated_at: datetime | None  # when the rollup last counted; None: it never ran

    @property
    def counted(self) -> bool:
        return self.updated_at is not None


def pending_reviews(session: Session) -> int:
    query = select(func.count()).select_from(CardApplication).where(CardApplication.status.in_(APP_OPEN))
    return int(session.scalar(query) or 0)


def open_inquiries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Inquiry).where(Inquiry.status == INQUIRY_OPEN)) or 0)


def dashboard(session: Session, *, weeks: int = DASHBOARD_WEEKS, now: datetime | None = None) -> Dashboard:
    """The last ``weeks`` weeks from the rollup (the current one last), and the live counts."""
    today = beijing_day(now or utcnow())
    first_week = week_start(today) - timedelta(weeks=weeks - 1)
    rows = session.execute(
        select(DailyCount.day, DailyCount.metric, DailyCount.value, DailyCount.updated_at).where(
            DailyCount.day >= first_week
        )
    ).all()
    sums: dict[date, dict[str, int]] = {}
    last_total: dict[date, tuple[date, int]] = {}  # week → (its latest day with a total, that total)
    latest: tuple[date, int] | None = None
    updated_at: datetime | None = None
    for day, metric, value, updated in rows:
        week = week_start(day)
        updated_at = updated if updated_at is None or updated > updated_at else updated_at
        if metric == FOLLOWERS:
            if week not in last_total or day > last_total[week][0]:
                last_total[week] = (day, int(value))
            if latest is None or day > latest[0]:
                latest = (day, int(value))
        else:
            into = sums.setdefault(week, {})
            into[metric] = into.get(metric, 0) + int(value)
    if updated_at is None:  # nothing in the window: a rollup may still have run (before a long pause)
        updated_at = session.scalar(select(func.max(DailyCount.updated_at)))
    series = []
    for n in range(weeks):
        week = first_week + timedelta(weeks=n)
        counts = sums.get(week, {})
        series.append(
            Week(
                start=week,
                followers=last_total[week][1] if week in last_total else None,
                follows=counts.get(FOLLOWS, 0),
                unfollows=counts.get(UNFOLLOWS, 0),
                cards_issued=counts.get(CARDS_ISSUED, 0),
                applications=counts.get(APPLICATIONS, 0),
            )
        )
    return Dashboard(
        weeks=series,
        pending_reviews=pending_reviews(session),
        open_inquiries=open_inquiries(session),
        followers=latest[1] if latest else None,
        updated_at=updated_at,
    )
