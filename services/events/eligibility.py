"""Who may register for an event: everyone, verified alumni card holders, or the people of a saved segment.

Owns the eligibility rule only (registration asks it before it takes a place; the bot and the mini-program ask it
to list the events a user may register for). A card holder is a databank person holding an **active** card that
has not expired (a suspended, revoked, lost or expired card does not count). A segment's eligibility is its saved
filter applied to the one person: the same criteria, built by ``services.broadcasts.segments`` (read only here), so
an event "for the 2015 computer science graduates" admits exactly whom a broadcast to that segment would reach. A
registrant the databank does not know (not bound yet) is eligible only for an event open to everyone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from models import Card, Follower, Person, Segment, WeChatIdentity
from models.base import utcnow
from models.card import CARD_ACTIVE
from models.event import ELIGIBLE_CARD_HOLDERS, ELIGIBLE_EVERYONE, ELIGIBLE_SEGMENT, Event
from models.person import ACTIVE, OA_OPENID
from services.broadcasts import segments


def has_active_card(session: Session, person_id: int, *, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        session.scalar(
            select(Card.id)
            .where(
                Card.person_id == person_id,
                Card.status == CARD_ACTIVE,
                or_(Card.expires_at.is_(None), Card.expires_at > now),
            )
            .limit(1)
        )
        is not None
    )


def in_segment(session: Session, segment_id: int, person_id: int) -> bool:
    """Whether the person meets the saved segment's filter (an archived or missing segment admits nobody)."""
    segment = session.get(Segment, segment_id)
    if segment is None or segment.archived_at is not None:
        return False
    filters = segments.filters_of(segment)
    conditions = segments._person_conditions(filters, Person.id, with_withdrawn=False)
    if not filters.databank_criteria:
        conditions = [*conditions, Person.status == ACTIVE, Person.deceased.is_(False)]
    if filters.follower_status != "any":  # through the person's official-account openid
        followed = exists().where(
            WeChatIdentity.person_id == Person.id,
            WeChatIdentity.kind == OA_OPENID,
            Follower.openid == WeChatIdentity.value,
            Follower.subscribed.is_(filters.follower_status == "subscribed"),
        )
        conditions.append(followed)
    found = session.scalar(select(Person.id).where(Person.id == person_id, *conditions).limit(1))
    return found is not None


def eligible(session: Session, event: Event, person_id: int | None, *, now: datetime | None = None) -> bool:
    if event.eligibility == ELIGIBLE_EVERYONE:
        return True
    if person_id is None:
        return False
    if event.eligibility == ELIGIBLE_CARD_HOLDERS:
        return has_active_card(session, person_id, now=now)
    if event.eligibility == ELIGIBLE_SEGMENT:
        return event.segment_id is not None and in_segment(session, event.segment_id, person_id)
    return False
