"""Outreach to international graduates (issue 15): a campaign over the international graduates of some graduation
years asking "where are you now?", the answer recorded to the person's profile, and the report of who answered.

- :func:`launch` builds the audience as an ordinary broadcast segment (``international`` education records of the
  years, the ``news`` consent required), saves the greeting (Chinese and English in one text) through
  ``broadcasts.compose`` and confirms it through ``broadcasts.control`` like any broadcast (so approval, quiet hours,
  quotas and the outbox are the broadcasts' own: there is no second sender). Its campaign key is
  ``outreach:<from>-<to>:<broadcast id>`` (prefix ``core.redis_keys.OUTREACH_CAMPAIGN``). Nobody is marked at launch:
  the broadcast may wait for approval or its time, and a window open now may be closed then. The broadcast sender
  (``services.broadcasts.delivery``) marks each recipient as awaiting an answer when their greeting's
  customer-service message is actually sent: a Redis key per openid (``core.redis_keys.outreach_awaiting``, holding
  the campaign key, a month's TTL). A Redis key rather than a bot conversation state: writing conversation state from
  the sender would overwrite a conversation the user is in; the bot's ``handlers/outreach.py`` turns the key into its
  named conversation at the user's first reply. ``Launched.reachable`` is only a forecast: the recipients the
  customer-service message could reach at launch (subscribed, window open).
- :func:`locate` reads an answer ("London, UK", "伦敦", "in Toronto") with the associations' gazetteer
  (``services.associations.places.resolve_text``), trying the whole answer, then each comma-separated part.
- :func:`record_answer` writes it to the databank as a correction of source ``self_reported`` (a ``DatabankBatch``
  through ``databank.contacts``' helper): the current employment's city and country are set through
  ``databank.privacy``'s change bookkeeping (a ``FieldChange`` keeps the values overwritten) or, without one, a new
  current employment is created; either way its provenance says ``{"source": "self", "outreach": <campaign>}`` and
  points city and country at the batch. Audited as ``outreach.answered`` (the country's ISO code, never the city).
- :func:`report` counts the responders (distinct people, their latest answer) by country and graduation year.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import i18n, redis_keys, texts
from core.errors import Conflict, NotFound
from core.settings import Settings
from models import AuditEntry, EducationRecord, Employment, Person, utcnow
from models.broadcast import CUSTOM
from models.person import ACTIVE
from services.associations import places
from services.broadcasts import compose, control, segments
from services.databank import audit
from services.databank.contacts import _batch
from services.databank.privacy import _apply, ensure_processable

CAMPAIGN = redis_keys.OUTREACH_CAMPAIGN  # the campaign keys' prefix: the broadcast sender marks their recipients
ANSWERED = "outreach.answered"  # the audit action of an answer
SOURCE = "self_reported"  # the databank batch's source: the person's own word
_PARTS = re.compile(r"[,，、/;；]+")
_LEAD = re.compile(  # "I'm in", "now in", "in", "我在", "我现在住在", "现在在"
    r"^(?:i\s*(?:'m|am)\s+(?:now\s+)?(?:living\s+)?(?:in|at)\s+|(?:now\s+)?(?:in|at)\s+|我(?:现在)?住?在|现在在)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Launched:
    broadcast_id: int
    campaign: str
    status: str
    reachable: int  # recipients the greeting could reach at launch (a forecast: the sender marks whom it reaches)


def filters_for(year_from: int | str, year_to: int | str) -> segments.Filters:
    return segments.parse_filters(
        {"grad_year_from": year_from, "grad_year_to": year_to, "international": True, "require_news_consent": True}
    )


def greeting() -> str:
    """The greeting in both languages: a broadcast is one text for everyone, and its readers read either."""
    with i18n.use("zh_CN"):
        chinese = texts.OUTREACH_GREETING
    with i18n.use("en"):
        english = texts.OUTREACH_GREETING
    return f"{chinese}\n\n{english}"


def launch(
    session: Session,
    settings: Settings,
    *,
    year_from: int | str,
    year_to: int | str,
    actor: str,
    now: datetime | None = None,
) -> Launched:
    """The campaign's broadcast, saved and confirmed (scheduled, or awaiting approval); its recipients are marked by
    the sender as their greetings go. Raises ``ValidationFailed`` (bad years) and ``Conflict`` (nobody reachable:
    nothing is kept)."""
    now = now or utcnow()
    filters = filters_for(year_from, year_to)
    name = texts.OUTREACH_SEGMENT.format(low=filters.grad_year_from, high=filters.grad_year_to)
    with session.begin_nested():
        segment = segments.create(
            session,
            name=f"{name} ({now:%Y%m%d%H%M%S})"[: segments.NAME_MAX_CHARS],
            description=texts.OUTREACH_SEGMENT_DESCRIPTION,
            filters=filters,
            actor=actor,
        )
        draft = compose.DraftInput(
            title=name, segment_id=str(segment.id), channels=[CUSTOM], kind="text", text=greeting()
        )
        broadcast = compose.save_draft(session, draft, actor=actor, now=now)
        campaign = f"{CAMPAIGN}:{filters.grad_year_from}-{filters.grad_year_to}:{broadcast.id}"
        broadcast.campaign_key = campaign
        session.flush()
        confirmed = control.confirm(session, settings, broadcast.id, actor=actor, now=now)
    # A forecast for staff: those the customer-service message could reach now (subscribed, window open). Nobody is
    # marked here: the sender marks each recipient when their greeting is sent (services.broadcasts.delivery).
    window_start = now - timedelta(seconds=settings.customer_service.message_window_seconds)
    reachable = sum(
        1
        for r in session.execute(segments.recipients(session, filters, now=now))
        if r.subscribed and r.last_interaction_at is not None and _aware(r.last_interaction_at) >= window_start
    )
    audit.record(session, actor=actor, action="outreach.launched", broadcast_id=broadcast.id, reachable=reachable)
    return Launched(broadcast.id, campaign, confirmed.status, reachable)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def awaiting(store: redis.Redis, openid: str) -> str | None:
    """The campaign whose greeting ``openid`` has not answered yet, or None."""
    value = store.get(redis_keys.outreach_awaiting(openid))
    return value.decode() if isinstance(value, bytes) else value


def mark_awaiting(store: redis.Redis, openid: str, campaign: str) -> None:
    """The mark the broadcast sender sets when it sends ``openid`` the greeting, set by hand."""
    store.set(redis_keys.outreach_awaiting(openid), campaign, ex=redis_keys.OUTREACH_AWAIT_TTL)


def answered(store: redis.Redis, openid: str) -> None:
    store.delete(redis_keys.outreach_awaiting(openid))


def locate(text: str) -> places.Place | None:
    """Where an answer says the person is, or None when the gazetteer cannot place it."""
    cleaned = unicodedata.normalize("NFKC", text).strip().rstrip("?？!！。.")
    cleaned = _LEAD.sub("", cleaned, count=1).strip()
    if not cleaned:
        return None
    found = places.resolve_text(cleaned)
    if found is not None:
        return found
    parts = [p.strip() for p in _PARTS.split(cleaned) if p.strip()]
    for part in parts:  # the first part that places: "London, UK" is London; "Ontario, Canada" is Canada
        found = places.resolve_text(part)
        if found is not None:
            return found
    return None


def record_answer(session: Session, person_id: int, place: places.Place, *, campaign: str, actor: str) -> int:
    """Record the place as the person's current city and country (see the module docstring); returns the batch id.
    Raises ``NotFound``, ``Conflict`` (merged or anonymised) and ``ProcessingRestricted``."""
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise NotFound(f"person {person_id}")
    if person.status != ACTIVE:
        raise Conflict(f"person {person_id} is {person.status}", user_message=texts.OUTREACH_CANNOT_RECORD)
    ensure_processable(person)
    with i18n.use("zh_CN"):  # the databank holds places in Chinese, as rosters write them
        values = {"city": place.city, "country": places.country_name(place.country)}
    job = session.scalar(
        select(Employment)
        .where(Employment.person_id == person_id, Employment.current.is_(True))
        .order_by(Employment.id)  # the current employment, as imports pick it
        .limit(1)
    )
    label = texts.OUTREACH_BATCH_LABEL.format(campaign=campaign)
    batch = _batch(session, SOURCE, actor, label, inserted=int(job is None), updated=int(job is not None))
    mark = {"source": "self", "outreach": campaign}
    if job is None:
        job = Employment(person_id=person_id, current=True, batch_id=batch.id, **values)
        job.provenance = {**mark, "city": batch.id, "country": batch.id}
        session.add(job)
    else:
        _apply(session, batch.id, "employments", job, values)
        job.provenance = {**(job.provenance or {}), **mark}
    person.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action=ANSWERED,
        person_id=person_id,
        batch_id=batch.id,
        campaign=campaign,
        country=place.country or "",
    )
    session.flush()
    return batch.id


@dataclass(frozen=True)
class Report:
    rows: list[tuple[str, int, int]]  # (country ISO code, graduation year, responders), most responders first
    by_country: list[tuple[str, int]]  # (country ISO code, responders), most first
    responders: int


def report(session: Session, *, campaign_prefix: str = CAMPAIGN) -> Report:
    """Responders (distinct people, their latest answer) by country and graduation year (their international
    education record's; the latest when several)."""
    latest: dict[int, str] = {}
    entries = session.execute(
        select(AuditEntry.person_id, AuditEntry.detail).where(AuditEntry.action == ANSWERED).order_by(AuditEntry.id)
    )
    for person_id, detail in entries:
        if person_id is not None and str((detail or {}).get("campaign", "")).startswith(campaign_prefix):
            latest[person_id] = str((detail or {}).get("country") or "")
    years = (
        dict(
            session.execute(
                select(EducationRecord.person_id, func.max(EducationRecord.grad_year))
                .where(EducationRecord.person_id.in_(list(latest)), EducationRecord.international.is_(True))
                .group_by(EducationRecord.person_id)
            ).all()
        )
        if latest
        else {}
    )
    cells = Counter((country, int(years.get(person_id) or 0)) for person_id, country in latest.items())
    countries = Counter(latest.values())
    rows = sorted(((c, y, n) for (c, y), n in cells.items()), key=lambda r: (-r[2], r[0], r[1]))
    return Report(rows, sorted(countries.items(), key=lambda r: (-r[1], r[0])), len(latest))


__all__ = [
    "ANSWERED",
    "Launched",
    "Report",
    "answered",
    "awaiting",
    "filters_for",
    "greeting",
    "launch",
    "locate",
    "mark_awaiting",
    "record_answer",
    "report",
]
