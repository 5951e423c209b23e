"""The follower record: follows, unfollows, last interaction (the customer-service window), last location, and the
language the bot answers in (the user's choice, else WeChat's language of the user, else their databank record)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import i18n
from core.errors import ValidationFailed
from models import EducationRecord, Follower, Person, WeChatIdentity
from models.person import OA_OPENID

SCENE_MAX = 64
# The console's test followers (services.chat_simulator) have openids that start with this. WeChat's openids are 28
# characters of [A-Za-z0-9_-] and never hold a dot, so no real follower can. Counts of real followers leave them out.
TEST_OPENID_PREFIX = "test."


def is_real(openid_column: Any) -> Any:
    """A condition on an openid column: a real WeChat user, not a console test follower."""
    return ~openid_column.startswith(TEST_OPENID_PREFIX, autoescape=True)


def _get_or_create(session: Session, openid: str) -> Follower:
    follower = session.scalar(select(Follower).where(Follower.openid == openid))
    if follower is None:
        # Someone who followed before Xiaoyou existed can message us without a subscribe event on record.
        follower = Follower(openid=openid, subscribed=True)
        session.add(follower)
    return follower


def subscribe(session: Session, openid: str, at: datetime, scene: str | None = None) -> Follower:
    """Record a follow (or re-follow). ``scene`` is the QR scene without WeChat's ``qrscene_`` prefix."""
    follower = _get_or_create(session, openid)
    follower.subscribed = True
    follower.subscribed_at = at
    follower.subscribe_scene = (scene or "")[:SCENE_MAX] or None
    follower.last_interaction_at = at
    return follower


def unsubscribe(session: Session, openid: str, at: datetime) -> Follower:
    """Mark an unfollow; the row and its history stay."""
    follower = _get_or_create(session, openid)
    follower.subscribed = False
    follower.unsubscribed_at = at
    return follower


@cache
def _touch_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` moving ``last_interaction_at`` forward only; built once per dialect."""
    table = cast(Table, Follower.__table__)
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(table).values(openid=bindparam("openid"), subscribed=True, last_interaction_at=bindparam("at"))
    later, current = stmt.excluded.last_interaction_at, table.c.last_interaction_at
    return stmt.on_conflict_do_update(
        index_elements=[table.c.openid],
        set_={"last_interaction_at": case((current.is_(None) | (current < later), later), else_=current)},
    ).returning(table.c.language_choice, table.c.language)


def touch(session: Session, openid: str, at: datetime) -> tuple[str | None, str | None]:
    """Note that the user just wrote to us or used the menu: one upsert, since it runs on every push. Returns the
    follower's language choice and WeChat language, read by the same statement (no second round trip).

    A user we have no row for (they followed before Xiaoyou existed) gets one; ``last_interaction_at`` only moves
    forward (pushes can arrive out of order).
    """
    connection = session.connection()
    row = connection.execute(_touch_statement(connection.dialect.name), {"openid": openid, "at": at}).one()
    return row[0], row[1]


def choose_language(session: Session, openid: str, language: str) -> Follower:
    """The user asked for ``language`` (one of ``core.i18n.LANGUAGES``): it wins over WeChat's from now on."""
    if language not in i18n.LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    follower = _get_or_create(session, openid)
    follower.language_choice = language
    return follower


# Built once, run on the connection: this probe runs on every push of a follower whose WeChat language is not known
# (until the follow linker or the nightly sync has it), and building the ORM selects each time cost more than the
# rest of the push's language choice (bench/RESULTS.md, issue 17).
_PERSONS = cast(Table, Person.__table__)
_IDENTITIES = cast(Table, WeChatIdentity.__table__)
_EDUCATION = cast(Table, EducationRecord.__table__)
_RECORD_PROBE = (
    select(
        _PERSONS.c.nationality,
        exists()
        .where(_EDUCATION.c.person_id == _PERSONS.c.id, _EDUCATION.c.international.is_(True))
        .label("international"),
    )
    .select_from(_PERSONS.join(_IDENTITIES, _IDENTITIES.c.person_id == _PERSONS.c.id))
    .where(_IDENTITIES.c.kind == OA_OPENID, _IDENTITIES.c.value == bindparam("openid"))
    .limit(1)
)


def _record_language(session: Session, openid: str) -> str | None:
    """English for a person the databank records as an international graduate or of a nationality other than
    China; None when the follower is not bound to a person or the record says nothing. One indexed query."""
    found = session.connection().execute(_RECORD_PROBE, {"openid": openid}).first()
    if found is None:
        return None
    nationality = (found.nationality or "").strip().lower()
    if found.international or (nationality and nationality not in CHINESE_NATIONALITIES):
        return "en"
    return None


CHINESE_NATIONALITIES = frozenset({"中国", "中华人民共和国", "china", "cn", "chn", "prc", "chinese"})


def language_for(session: Session, openid: str, choice: str | None, wechat: str | None) -> str:
    """The language to answer ``openid`` in: their choice, else WeChat's language of the user (when we have it in
    both languages), else their databank record, else the source language. Only the last asks the database."""
    chosen = i18n.normalise(choice) or i18n.normalise(wechat)
    if chosen is None and wechat is None:
        chosen = _record_language(session, openid)
    return chosen or i18n.SOURCE


def language_of(session: Session, openid: str) -> str:
    """The language to write to ``openid`` in outside a push (a job, a staff action): :func:`language_for` on what
    their follower row holds (nothing for someone who never wrote to us: their databank record then decides)."""
    return languages_of(session, [openid])[openid]


def languages_of(session: Session, openids: Iterable[str]) -> dict[str, str]:
    """:func:`language_of` for many openids: one query for their follower rows, then the record only for those
    WeChat has told us nothing about."""
    wanted = sorted(set(openids))
    found: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Follower.openid, Follower.language_choice, Follower.language).where(
                Follower.openid.in_(wanted[start : start + 500])
            )
        )
        found.update({row[0]: (row[1], row[2]) for row in rows})
    return {openid: language_for(session, openid, *found.get(openid, (None, None))) for openid in wanted}


def record_location(session: Session, openid: str, latitude: float, longitude: float, at: datetime) -> Follower:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed("latitude/longitude out of range")
    follower = _get_or_create(session, openid)
    follower.last_latitude = latitude
    follower.last_longitude = longitude
    follower.last_location_at = at
    return follower


# A follow: the pipeline has the follower's profile (their unionid) fetched once the push is committed.
FOLLOW_EVENTS = frozenset({"subscribe", "subscribe_scan"})
# Pushes that open the customer-service window: any user message (48 h), and these events (1 minute).
WINDOW_EVENTS = frozenset({"subscribe", "subscribe_scan", "scan", "click"})
# Pushes that are not the user doing anything: they neither open the window nor create a follower.
NOT_INTERACTIONS = frozenset({"unsubscribe", "masssendjobfinish", "templatesendjobfinish", "location"})


def interaction_kind(msg_type: str, event: str | None) -> str | None:
    """``message``, ``event`` (a click, follow or scan) or None: what this push does to the customer-service window."""
    if msg_type != "event":
        return "message"
    return "event" if (event or "") in WINDOW_EVENTS else None


def note_push(session: Session, openid: str, msg_type: str, event: str | None, at: datetime) -> str:
    """Every push from a user passes here before routing: messages, clicks, follows and scans are interactions.
    Returns the language to answer in (:func:`language_for`)."""
    if msg_type == "event" and (event or "") in NOT_INTERACTIONS:
        found = session.execute(
            select(Follower.language_choice, Follower.language).where(Follower.openid == openid)
        ).first()
        choice, wechat = found if found is not None else (None, None)
    else:
        choice, wechat = touch(session, openid, at)
    return language_for(session, openid, choice, wechat)
