"""The card's life: issue, suspend, reinstate, revoke, expire, report lost, and whose card it is.

Owns every rule about a card's status. A person holds at most one card, active or suspended (a partial unique index
backs the check here): a suspended card is reinstated or revoked, never replaced by issuing beside it. Cards past
``expires_at`` answer "expired" at verification at once and are marked expired by :func:`expire_due` (a scheduled
job). Every status change bumps ``Card.version``, so every QR code signed for the previous version stops verifying
(``services/cards/codes.py``), and is written to the audit log. No Flask here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import CardSettings
from models import Card, Follower, Person, WeChatIdentity, utcnow
from models.card import (
    CARD_ACTIVE,
    CARD_EXPIRED,
    CARD_HELD,
    CARD_LOST,
    CARD_REVOKED,
    CARD_STATUSES,
    CARD_SUSPENDED,
)
from models.person import MP_OPENID, OA_OPENID, UNIONID
from services.cards.numbers import new_number
from services.databank import audit
from services.databank.keys import mask

log = logging.getLogger(__name__)


# --- identities -----------------------------------------------------------------------------------------------


def person_id_for(
    session: Session, *, mp_openid: str | None = None, oa_openid: str | None = None, unionid: str | None = None
) -> int | None:
    """The databank person bound to any of these WeChat identities (OA and MP openids share the unionid)."""
    wanted = [(k, v) for k, v in ((MP_OPENID, mp_openid), (OA_OPENID, oa_openid), (UNIONID, unionid)) if v]
    for kind, value in wanted:
        found = session.scalar(
            select(WeChatIdentity.person_id).where(WeChatIdentity.kind == kind, WeChatIdentity.value == value)
        )
        if found is not None:
            return int(found)
    return None


def person_id_for_follower(session: Session, oa_openid: str) -> int | None:
    """The databank person an official-account follower is: bound by the openid itself, or by the unionid the
    follower shares with their mini-program openid (recorded by the follow link or the follower sync)."""
    unionid = session.scalar(select(Follower.unionid).where(Follower.openid == oa_openid))
    return person_id_for(session, oa_openid=oa_openid, unionid=unionid)


# --- issuance and status --------------------------------------------------------------------------------------


def active_card(session: Session, person_id: int) -> Card | None:
    return session.scalar(select(Card).where(Card.person_id == person_id, Card.status == CARD_ACTIVE))


def by_number(session: Session, number: str) -> Card:
    """The card with this number (what staff read off it). Raises ``NotFound``."""
    card = session.scalar(select(Card).where(Card.number == number.strip()))
    if card is None:
        raise NotFound(f"no card numbered {number.strip()}")
    return card


def held_card(session: Session, person_id: int) -> Card | None:
    """The person's current card: active or suspended (at most one)."""
    return session.scalar(select(Card).where(Card.person_id == person_id, Card.status.in_(CARD_HELD)))


def current_card(session: Session, person_id: int) -> Card | None:
    """The held card, else the most recent one (to show why it cannot be used)."""
    return held_card(session, person_id) or session.scalar(
        select(Card).where(Card.person_id == person_id).order_by(Card.id.desc()).limit(1)
    )


def _refuse_if_held(session: Session, person_id: int) -> None:
    held = held_card(session, person_id)
    if held is None:
        return
    if held.status == CARD_SUSPENDED:
        raise Conflict(
            f"the person holds suspended card {held.id}: reinstate or revoke it instead of issuing another",
            user_message=texts.CARD_NOT_ACTIVE.format(status=texts.CARD_STATUS_NAMES[CARD_SUSPENDED]),
        )
    raise Conflict("the person already has an active card", user_message=texts.CARD_ALREADY_ISSUED)


def issue(
    session: Session,
    settings: CardSettings,
    person_id: int,
    *,
    actor: str,
    tier: str | None = None,
    application_id: int | None = None,
) -> Card:
    """Issue a card to a person who holds none. Raises ``Conflict`` if they hold an active or a suspended one."""
    tier = tier or settings.default_tier
    if tier not in settings.tiers:
        raise ValidationFailed(f"unknown tier {tier!r}", user_message=texts.CARD_TIER_UNKNOWN)
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id}")
    _refuse_if_held(session, person_id)
    now = utcnow()
    expires = now.replace(year=now.year + settings.valid_years) if settings.valid_years else None
    for _ in range(5):
        number = new_number(now.year)
        if session.scalar(select(Card.id).where(Card.number == number)) is None:
            break
    card = Card(
        person_id=person_id,
        number=number,
        tier=tier,
        status=CARD_ACTIVE,
        version=1,
        application_id=application_id,
        issued_at=now,
        expires_at=expires,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(card)
            session.flush()
    except IntegrityError:
        # The partial unique index: another request issued a card to this person at the same moment.
        raise Conflict("the person already holds a card", user_message=texts.CARD_ALREADY_ISSUED) from None
    audit.record(session, actor=actor, action="card.issue", person_id=person_id, card_id=card.id, tier=tier)
    log.info("card %d issued", card.id)
    return card


def _get(session: Session, card_id: int) -> Card:
    card = session.get(Card, card_id, with_for_update=True)
    if card is None:
        raise NotFound(f"card {card_id}")
    return card


def _change(session: Session, card: Card, status: str, *, actor: str, reason: str) -> Card:
    before = card.status
    card.status = status
    card.status_reason = reason[:255] or None
    card.version += 1  # every code signed for the previous version stops verifying now
    card.updated_at = utcnow()
    session.flush()
    audit.record(
        session, actor=actor, action=f"card.{status}", person_id=card.person_id, card_id=card.id, before=before
    )
    return card


def suspend(session: Session, card_id: int, *, actor: str, reason: str) -> Card:
    card = _get(session, card_id)
    if card.status != CARD_ACTIVE:
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_SUSPENDED, actor=actor, reason=reason)


def reinstate(session: Session, card_id: int, *, actor: str, reason: str = "") -> Card:
    card = _get(session, card_id)
    if card.status != CARD_SUSPENDED:
        raise Conflict(f"card {card_id} is {card.status}")
    if card.expires_at is not None and card.expires_at <= utcnow():
        raise Conflict(f"card {card_id} expired on {card.expires_at:%Y-%m-%d} while suspended: issue a new card")
    return _change(session, card, CARD_ACTIVE, actor=actor, reason=reason)


def revoke(session: Session, card_id: int, *, actor: str, reason: str) -> Card:
    card = _get(session, card_id)
    if card.status in (CARD_REVOKED, CARD_LOST):
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_REVOKED, actor=actor, reason=reason)


def expire(session: Session, card_id: int, *, actor: str) -> Card:
    card = _get(session, card_id)
    if card.status not in CARD_HELD:
        raise Conflict(f"card {card_id} is {card.status}")
    return _change(session, card, CARD_EXPIRED, actor=actor, reason="")


def expire_due(
    session_factory: Callable[[], AbstractContextManager[Session]],
    *,
    now: datetime | None = None,
    batch: int = 500,
) -> int:
    """Mark every held card past its ``expires_at`` expired (the scheduled job; idempotent). One unit of work per
    batch, so a crash half-way keeps what was done and the next run finishes the rest. Returns how many."""
    now = now or utcnow()
    due = (
        select(Card.id)
        .where(Card.status.in_(CARD_HELD), Card.expires_at.is_not(None), Card.expires_at <= now)
        .order_by(Card.expires_at)
        .limit(batch)
    )
    expired = 0
    while True:
        with session_factory() as session:
            ids = list(session.scalars(due))
            for card_id in ids:
                card = _get(session, card_id)
                if card.status in CARD_HELD:  # a staff change may have won the race
                    _change(session, card, CARD_EXPIRED, actor="job:card.expire", reason="validity ended")
                    expired += 1
        if len(ids) < batch:
            break
    if expired:
        log.info("%d cards expired", expired)
    return expired


def report_lost(session: Session, settings: CardSettings, card_id: int, *, actor: str) -> Card:
    """Mark a card lost and issue its replacement (a new number, the same tier). Returns the new card."""
    card = _get(session, card_id)
    if card.status not in (CARD_ACTIVE, CARD_SUSPENDED):
        raise Conflict(f"card {card_id} is {card.status}")
    _change(session, card, CARD_LOST, actor=actor, reason="lost")
    new = issue(session, settings, card.person_id, actor=actor, tier=card.tier)
    card.replaced_by_id = new.id
    session.flush()
    return new


@dataclass(frozen=True)
class CardRow:
    """A card in the staff list: its holder's name masked (the console's rule: the first character stays)."""

    id: int
    number: str
    status: str
    status_reason: str | None
    tier: str
    person_id: int
    holder: str  # masked
    issued_at: datetime
    expires_at: datetime | None


def card_list(
    session: Session, *, status: str | None = None, number: str = "", limit: int, before_id: int | None = None
) -> list[CardRow]:
    """Cards newest first, ``limit`` older than ``before_id`` (keyset paging: a deep page costs no more), of one
    ``status`` (any if None), or the one card with ``number``. An unknown status is ``ValidationFailed``."""
    if status is not None and status not in CARD_STATUSES:
        raise ValidationFailed(f"unknown card status {status!r}")
    query = select(Card, Person.name).join(Person, Person.id == Card.person_id).order_by(Card.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Card.status == status)
    if number.strip():
        query = query.where(Card.number == number.strip())
    if before_id is not None:
        query = query.where(Card.id < before_id)
    return [
        CardRow(
            id=card.id,
            number=card.number,
            status=card.status,
            status_reason=card.status_reason,
            tier=card.tier,
            person_id=card.person_id,
            holder=mask("name", name or ""),
            issued_at=card.issued_at,
            expires_at=card.expires_at,
        )
        for card, name in session.execute(query)
    ]


@dataclass(frozen=True)
class UsersCard:
    """A mini-program user's card as they see it: the card and the holder's name."""

    card: Card
    holder_name: str


def card_of_user(session: Session, *, mp_openid: str, unionid: str | None) -> UsersCard:
    """The user's held card, else their most recent one (to show why it cannot be used). ``NotFound`` if none."""
    person_id = person_id_for(session, mp_openid=mp_openid, unionid=unionid)
    card = current_card(session, person_id) if person_id is not None else None
    if card is None:
        raise NotFound("no card", user_message=texts.CARD_NOT_ISSUED)
    person = session.get(Person, card.person_id)
    return UsersCard(card, person.name if person is not None else "")
