"""The plan of a broadcast, shown before confirmation and stored at it (``Broadcast.plan_json``): the audience, which
channel each recipient gets in the broadcast's fallback order, who is skipped and why, and when it will be done
under today's and tomorrow's quotas and the quiet hours.

Reach comes from ``services.broadcasts.segments.reach`` (one aggregate statement; ``first_channel`` per the order);
the skipped are the segment's followers whose news consent was withdrawn plus those no chosen channel reaches, each
under the reason its first channel gave (unsubscribed, monthly mass limit reached, no subscribe allowance left,
customer-service window closed) - one more aggregate over ``segments.recipients``.

The ETA: channels send side by side, each within its gateway family's budget (``wechat_limits``: ``per_minute``,
and ``per_day`` reset at 00:00 Beijing time, less what was used today), never in the quiet hours
(``broadcasts.quiet_start`` - ``quiet_end``, Beijing time) unless the broadcast ignores them. A mass send is one API
call after tagging its recipients 50 per call; WeChat itself delivers at most four mass messages a month to a
follower (those are planned on the next channel, or skipped). A family with ``per_minute`` 0 has no limit of ours
and counts as immediate. The quiet-hours helpers here are what the sender uses too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.clock import BEIJING
from core.settings import Settings
from models.base import utcnow
from models.broadcast import CUSTOM, MASS, SUBSCRIBE, TEMPLATE, Broadcast
from services.broadcasts import compose, segments

GRACE = timedelta(minutes=1)
TAG_BATCH = 50  # openids per tagging call (WeChat's limit)
FAMILY = {MASS: "mass", TEMPLATE: "template", SUBSCRIBE: "subscribe", CUSTOM: "custom"}
MAX_DAYS = 366  # an ETA further away than this is shown as "more than a year"
WITHDRAWN = segments.WITHDRAWN


# --- quiet hours ------------------------------------------------------------------------------------------------


def _clock(value: str) -> day_time:
    hours, minutes = value.split(":")
    return day_time(int(hours), int(minutes))


def in_quiet_hours(settings: Settings, moment: datetime) -> bool:
    """Whether ``moment`` falls in the quiet hours (Beijing time; a span may cross midnight)."""
    start, end = _clock(settings.broadcasts.quiet_start), _clock(settings.broadcasts.quiet_end)
    if start == end:
        return False
    local = moment.astimezone(BEIJING).time()
    return start <= local < end if start < end else (local >= start or local < end)


def next_send_time(settings: Settings, moment: datetime, *, ignore_quiet_hours: bool = False) -> datetime:
    """``moment``, or the end of the quiet hours it falls in (UTC)."""
    if ignore_quiet_hours or not in_quiet_hours(settings, moment):
        return moment
    end = _clock(settings.broadcasts.quiet_end)
    local = moment.astimezone(BEIJING)
    candidate = datetime.combine(local.date(), end, BEIJING)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def _window_end(settings: Settings, moment: datetime, ignore: bool) -> datetime:
    """Where sending from ``moment`` (not quiet) must stop: the quiet start or the Beijing midnight, the earlier."""
    local = moment.astimezone(BEIJING)
    midnight = datetime.combine(local.date() + timedelta(days=1), day_time(0), BEIJING)
    ends = [midnight]
    start, end = _clock(settings.broadcasts.quiet_start), _clock(settings.broadcasts.quiet_end)
    if not ignore and start != end:
        quiet = datetime.combine(local.date(), start, BEIJING)
        if quiet > local:
            ends.append(quiet)
    return min(ends).astimezone(UTC)


# --- the plan ---------------------------------------------------------------------------------------------------


@dataclass
class ChannelPlan:
    channel: str
    recipients: int  # recipients this channel is first to reach, in the fallback order
    calls: int  # API calls it takes (a mass send: tagging calls plus the send)
    today: int  # of them, possible today after the start (its budget and the quiet hours allowing)
    tomorrow: int  # possible tomorrow, with a full day's budget
    days: int  # Beijing days it spans
    finish: str | None  # when its last call is made (ISO, UTC); None: nothing to send
    reachable: int = 0  # the channel's own reach in the segment, fallback aside
    unreachable: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    broadcast_id: int
    audience: int  # the segment's followers who have not withdrawn news consent (one outbox row each)
    reachable: int
    skipped: dict[str, int]  # reason -> recipients (withdrawn consent included, though it writes no row)
    channels: list[ChannelPlan]
    start: str  # ISO (UTC): when sending may begin (scheduled time, quiet hours)
    finish: str | None
    quiet_delayed: bool  # the start moved to the end of the quiet hours
    planned_at: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["eta"] = {"start": self.start, "finish": self.finish}
        return data


def _simulate(
    settings: Settings, count: int, family: str, start: datetime, *, used_today: int, ignore: bool
) -> tuple[int, int, int, datetime]:
    """(today, tomorrow, days, finish) for ``count`` calls of ``family`` from ``start``."""
    limit = getattr(settings.wechat_limits, family)
    if limit.per_minute == 0 and limit.per_day == 0:
        return count, 0, 1, start
    moment, left, today, tomorrow, day = start, count, 0, 0, 0
    budget = max(0, limit.per_day - used_today) if limit.per_day else math.inf
    while left > 0 and day < MAX_DAYS:
        moment = next_send_time(settings, moment, ignore_quiet_hours=ignore)
        stop = _window_end(settings, moment, ignore)
        minutes = (stop - moment).total_seconds() / 60
        by_rate = math.floor(minutes * limit.per_minute) if limit.per_minute else math.inf
        done = int(min(left, budget, by_rate))
        if day == 0:
            today = done
        elif day == 1:
            tomorrow = done
        left -= done
        if left == 0:
            seconds = 60 * done / limit.per_minute if limit.per_minute else 0
            return today, tomorrow, day + 1, moment + timedelta(seconds=seconds)
        local = moment.astimezone(BEIJING)
        moment = datetime.combine(local.date() + timedelta(days=1), day_time(0), BEIJING).astimezone(UTC)
        budget = limit.per_day or math.inf
        day += 1
    return today, tomorrow, day, moment


def _skipped_by_first_reason(
    session: Session,
    settings: Settings,
    broadcast: Broadcast,
    order: list[str],
    *,
    now: datetime,
    template_id: str | None,
) -> dict[str, int]:
    """The recipients no channel of ``order`` reaches, by the reason their first channel gives."""
    filters = segments.filters_of(segments.get(session, broadcast.segment_id)) if broadcast.segment_id else None
    r = segments.recipients(session, filters, now=now, template_id=template_id).subquery("r")
    window_start = now - timedelta(seconds=settings.customer_service.message_window_seconds)
    subscribed = r.c.subscribed.is_(True)
    under_limit = r.c.mass_this_month < segments.MONTHLY_MASS_LIMIT
    in_window = and_(r.c.last_interaction_at.is_not(None), r.c.last_interaction_at >= window_start)
    ok: dict[str, ColumnElement[bool]] = {
        MASS: and_(subscribed, under_limit),
        TEMPLATE: subscribed,
        SUBSCRIBE: and_(r.c.mp_openid.is_not(None), r.c.subscribe_remaining > 0),
        CUSTOM: and_(subscribed, in_window),
    }
    first = order[0]
    fallback = {
        MASS: segments.MONTHLY_LIMIT,
        TEMPLATE: segments.UNSUBSCRIBED,
        SUBSCRIBE: segments.NO_ALLOWANCE,
        CUSTOM: segments.WINDOW_CLOSED,
    }[first]
    unreached = and_(*[~ok[c] for c in order])
    if first not in (MASS, CUSTOM):  # one reason only
        total = session.scalar(select(func.count()).select_from(r).where(unreached)) or 0
        return {fallback: int(total)} if total else {}
    reason = case((~subscribed, segments.UNSUBSCRIBED), else_=fallback)
    rows = session.execute(select(reason.label("reason"), func.count()).where(unreached).group_by(reason))
    return {str(name): int(n) for name, n in rows}


def _day_index(start: datetime, moment: datetime) -> int:
    return (moment.astimezone(BEIJING).date() - start.astimezone(BEIJING).date()).days


def build(
    session: Session,
    settings: Settings,
    broadcast: Broadcast,
    *,
    now: datetime | None = None,
    usage: dict[str, int] | None = None,
) -> Plan:
    """The plan of ``broadcast`` as of ``now``. ``usage``: today's calls so far per gateway family
    (``RateLimiter.used_today``; None: nothing used yet)."""
    now = now or utcnow()
    usage = usage or {}
    order = compose.channels_of(broadcast)
    content = compose.content_of(broadcast)
    template_id = content.get("subscribe", {}).get("template_id") if SUBSCRIBE in order else None
    filters = segments.filters_of(segments.get(session, broadcast.segment_id)) if broadcast.segment_id else None
    found = segments.reach(session, settings, filters, now=now, template_id=template_id, order=order)
    skipped: dict[str, int] = {}
    if found.withdrawn:
        skipped[WITHDRAWN] = found.withdrawn
    if found.unreached:
        for reason, n in _skipped_by_first_reason(
            session, settings, broadcast, order, now=now, template_id=template_id
        ).items():
            skipped[reason] = skipped.get(reason, 0) + n
    wanted = max(broadcast.scheduled_at or now, now)
    start = next_send_time(settings, wanted, ignore_quiet_hours=broadcast.ignore_quiet_hours)
    channels, finishes = [], []
    for channel in order:
        n = found.first_channel.get(channel, 0)
        per_channel = found.channels[channel]
        if channel == MASS:
            tagging = math.ceil(n / TAG_BATCH)
            _t_today, _t_tomorrow, _t_days, tagged = _simulate(
                settings,
                tagging,
                "tagging",
                start,
                used_today=usage.get("tagging", 0),
                ignore=broadcast.ignore_quiet_hours,
            )
            _m_today, _m_tomorrow, _m_days, finish = _simulate(
                settings,
                1 if n else 0,
                "mass",
                tagged,
                used_today=usage.get("mass", 0),
                ignore=broadcast.ignore_quiet_hours,
            )
            days = _day_index(start, finish) + 1 if n else 0
            plan = ChannelPlan(
                channel, n, tagging + (1 if n else 0), n if days == 1 else 0, n if days == 2 else 0, days,
                finish.isoformat() if n else None,
            )  # fmt: skip
        else:
            today, tomorrow, days, finish = _simulate(
                settings,
                n,
                FAMILY[channel],
                start,
                used_today=usage.get(FAMILY[channel], 0),
                ignore=broadcast.ignore_quiet_hours,
            )
            plan = ChannelPlan(channel, n, n, today, tomorrow, days if n else 0, finish.isoformat() if n else None)
        plan.reachable, plan.unreachable = per_channel.reachable, dict(per_channel.unreachable)
        if n:
            finishes.append(datetime.fromisoformat(plan.finish or start.isoformat()))
        channels.append(plan)
    return Plan(
        broadcast_id=broadcast.id,
        audience=found.total,
        reachable=found.total - found.unreached,
        skipped=skipped,
        channels=channels,
        start=start.isoformat(),
        finish=max(finishes).isoformat() if finishes else None,
        quiet_delayed=start != wanted,
        planned_at=now.isoformat(),
    )
