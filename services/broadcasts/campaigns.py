"""Recurring campaigns: graduation anniversaries and festival greetings, each occurrence one ordinary broadcast.

What runs is data: the festivals' dates per year are declared in ``jobs/campaigns.py`` (:class:`Festival`), the
anniversary years, month and day, the lead time, send time, channels and approval rule are settings
(``broadcasts.campaigns.*``), the greetings copy (``core.texts.CAMPAIGN_*``). :func:`run` (job
``broadcasts.campaigns``, daily) creates each occurrence once, ``days_ahead`` days before its send day:

- an occurrence is keyed by ``Broadcast.campaign_key`` (unique): ``anniversary:<year>:<N>`` or
  ``festival:<name>:<year>``; a key already there is skipped, so the job is idempotent and a second run (or a
  second scheduler) creates nothing more;
- its audience is a segment built from filters like any staff segment: the graduates of ``year - N`` (any education
  record), or everyone in the databank, both with the ``news`` consent required (withdrawn consent always wins, in
  ``segments.recipients``);
- it is saved through ``compose.save_draft`` (the same validation), then confirmed through ``control.confirm`` by
  the scheduler (actor :data:`ACTOR`): planned, and then **awaiting approval** by a staff member holding
  ``broadcasts.approve`` (setting ``approval: always``, the default: nobody wrote it), or, with ``approval:
  threshold``, only above ``broadcasts.approval_threshold`` like any broadcast. It never sends without the approval
  the rules require, and never late: it is scheduled for its send day, and a draft whose time passed cannot be
  confirmed;
- when nobody is reachable (or the plan refuses) it stays a draft, visible in the console with its campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import texts
from core.clock import BEIJING
from core.errors import Conflict, ValidationFailed
from core.settings import CampaignSettings, Settings
from models import Broadcast, Segment, utcnow
from services.broadcasts import compose, control, segments
from services.databank.names import clean

log = logging.getLogger(__name__)

ACTOR = "system:campaigns"  # the author and confirmer of campaign broadcasts (no staff member is either)
ANNIVERSARY = "anniversary"
FESTIVAL = "festival"


@dataclass(frozen=True)
class Festival:
    """A festival greeting: one date every year (``fixed``, month and day) or its date per year (``dates``)."""

    name: str
    fixed: tuple[int, int] | None = None
    dates: Mapping[int, tuple[int, int]] = field(default_factory=dict)

    def on(self, year: int) -> date | None:
        found = self.fixed or self.dates.get(year)
        return date(year, *found) if found else None


@dataclass(frozen=True)
class Occurrence:
    key: str  # Broadcast.campaign_key
    campaign: str  # anniversary | festival
    send_on: date  # Beijing date
    years: int = 0  # anniversary: N
    festival: str = ""  # festival: its name (a key of CAMPAIGN_FESTIVAL_NAMES)

    @property
    def grad_year(self) -> int:
        return self.send_on.year - self.years


@dataclass
class CampaignReport:
    created: list[int] = field(default_factory=list)  # broadcast ids
    awaiting_approval: int = 0
    scheduled: int = 0
    drafts: int = 0  # created but not confirmable (nobody reachable): left for staff
    existing: int = 0  # occurrences created before (idempotent skips)
    missing_dates: list[str] = field(default_factory=list)  # festivals without a date for the year


def label(campaign_key: str) -> str:
    """A campaign broadcast's campaign, for the console (e.g. 毕业10周年 · 2026, 中秋节 · 2026)."""
    parts = campaign_key.split(":")
    if len(parts) == 3 and parts[0] == ANNIVERSARY and parts[2].isdigit():
        return texts.CAMPAIGN_LABEL.format(name=texts.CAMPAIGN_ANNIVERSARY_NAME.format(years=parts[2]), year=parts[1])
    if len(parts) == 3 and parts[0] == FESTIVAL:
        name = texts.CAMPAIGN_FESTIVAL_NAMES.get(parts[1], parts[1])
        return texts.CAMPAIGN_LABEL.format(name=name, year=parts[2])
    return campaign_key


def due(config: CampaignSettings, festivals: Mapping[str, Festival], today: date) -> tuple[list[Occurrence], list[str]]:
    """The occurrences whose creation window (``days_ahead`` days before their send day, up to that day) contains
    ``today`` (Beijing), and the festivals that have no date for a year it looked at."""
    found: list[Occurrence] = []
    missing: list[str] = []
    for year in (today.year, today.year + 1):  # a send day early next year may be due in December
        send_on = date(year, config.anniversary_month, config.anniversary_day)
        if _in_window(config, send_on, today):
            found.extend(
                Occurrence(f"{ANNIVERSARY}:{year}:{n}", ANNIVERSARY, send_on, years=n) for n in config.anniversary_years
            )
        for name in config.festivals:
            festival = festivals.get(name)
            day = festival.on(year) if festival else None
            if day is None:
                missing.append(f"{name}:{year}")
            elif _in_window(config, day, today):
                found.append(Occurrence(f"{FESTIVAL}:{name}:{year}", FESTIVAL, day, festival=name))
    return found, missing


def _in_window(config: CampaignSettings, send_on: date, today: date) -> bool:
    return send_on - timedelta(days=config.days_ahead) <= today <= send_on


def _send_at(config: CampaignSettings, send_on: date) -> datetime:
    hour, minute = (int(x) for x in config.send_time.split(":"))
    return datetime.combine(send_on, time(hour, minute), BEIJING)


def _segment(session: Session, occurrence: Occurrence) -> Segment:
    """The occurrence's audience as a segment (a festival's is shared by every festival greeting)."""
    if occurrence.campaign == ANNIVERSARY:
        name = texts.CAMPAIGN_SEGMENT_ANNIVERSARY.format(grad_year=occurrence.grad_year, years=occurrence.years)
        filters = segments.parse_filters(
            {"grad_year_from": occurrence.grad_year, "grad_year_to": occurrence.grad_year, "require_news_consent": True}
        )
    else:
        name = texts.CAMPAIGN_SEGMENT_FESTIVAL
        filters = segments.parse_filters({"require_news_consent": True})
    name = clean(name)  # as segments.create stores it
    existing = session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
    if existing is not None and existing.archived_at is None and segments.filters_of(existing) == filters:
        return existing
    if existing is not None:  # staff took the name for something else: ours gets the campaign key too
        name = clean(f"{name} ({occurrence.key})")[: segments.NAME_MAX_CHARS]
        again = session.scalar(select(Segment).where(func.lower(Segment.name) == name.lower()))
        if again is not None and again.archived_at is None and segments.filters_of(again) == filters:
            return again
    return segments.create(
        session, name=name, description=texts.CAMPAIGN_SEGMENT_DESCRIPTION, filters=filters, actor=ACTOR
    )


def _draft(occurrence: Occurrence, config: CampaignSettings, segment_id: int) -> compose.DraftInput:
    if occurrence.campaign == ANNIVERSARY:
        values = {"years": occurrence.years, "grad_year": occurrence.grad_year}
        title = texts.CAMPAIGN_ANNIVERSARY_TITLE.format(**values)
        greeting = texts.CAMPAIGN_ANNIVERSARY_GREETING.format(**values)
    else:
        name = texts.CAMPAIGN_FESTIVAL_NAMES[occurrence.festival]
        title = texts.CAMPAIGN_FESTIVAL_TITLE.format(name=name, year=occurrence.send_on.year)
        greeting = texts.CAMPAIGN_FESTIVAL_GREETINGS[occurrence.festival]
    return compose.DraftInput(
        title=title,
        segment_id=str(segment_id),
        channels=list(config.channels),
        kind="text",
        text=greeting,
        scheduled_at=_send_at(config, occurrence.send_on).strftime("%Y-%m-%d %H:%M"),
    )


def create(
    session: Session, settings: Settings, occurrence: Occurrence, *, now: datetime, usage: dict[str, int] | None = None
) -> Broadcast | None:
    """The occurrence's broadcast, saved and confirmed (awaiting approval, or scheduled); None when it exists
    already. A broadcast that cannot be confirmed (nobody reachable) stays a draft."""
    if session.scalar(select(Broadcast.id).where(Broadcast.campaign_key == occurrence.key)) is not None:
        return None
    config = settings.broadcasts.campaigns
    segment = _segment(session, occurrence)
    broadcast = compose.save_draft(session, _draft(occurrence, config, segment.id), actor=ACTOR, now=now)
    broadcast.campaign_key = occurrence.key
    session.flush()
    threshold = 0 if config.approval == "always" else None
    try:
        with session.begin_nested():
            control.confirm(session, settings, broadcast.id, actor=ACTOR, now=now, usage=usage, threshold=threshold)
    except (Conflict, ValidationFailed) as exc:
        log.warning("campaign %s: broadcast %s left a draft (%s)", occurrence.key, broadcast.id, exc)
    return broadcast


def run(
    session: Session,
    settings: Settings,
    festivals: Mapping[str, Festival],
    *,
    now: datetime | None = None,
    usage: dict[str, int] | None = None,
) -> CampaignReport:
    """Create every due occurrence that does not exist yet (in the caller's transaction). Does nothing while
    ``broadcasts.campaigns.enabled`` is off."""
    report = CampaignReport()
    config = settings.broadcasts.campaigns
    if not config.enabled:
        return report
    now = now or utcnow()
    today = now.astimezone(BEIJING).date()
    occurrences, report.missing_dates = due(config, festivals, today)
    for missing in report.missing_dates:
        log.warning("campaign festival %s has no date for that year: add it to jobs/campaigns.py", missing)
    for occurrence in occurrences:
        if _send_at(config, occurrence.send_on) <= now:
            continue  # its time today has passed: never late
        broadcast = create(session, settings, occurrence, now=now, usage=usage)
        if broadcast is None:
            report.existing += 1
            continue
        report.created.append(broadcast.id)
        status = broadcast.status
        if status == "awaiting_approval":
            report.awaiting_approval += 1
        elif status == "scheduled":
            report.scheduled += 1
        else:
            report.drafts += 1
    return report


__all__ = ["ACTOR", "CampaignReport", "Festival", "Occurrence", "create", "due", "label", "run"]
