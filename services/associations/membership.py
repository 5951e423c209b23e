"""Joining an association, with consent, and the introduction that consent allows; approving, declining, leaving,
withdrawing; the members and requests the console lists.

The rules (issue 14, PIPL Art. 14/39):

- Only a **databank person** joins (the consent ledger is per person): a caller whose WeChat is not bound to one is
  refused (``Forbidden``) with how to verify (the alumni card application).
- Joining **records a consent** first (purpose ``association_introduction:<id>``, ``CONSENT_VERSION``; the
  cross-border version for an ``abroad`` association, whose notice says the data leaves mainland China). Without
  ``consent=True`` nothing is written: ``ValidationFailed`` whose message *is* the notice to show.
- The **join policy**: ``open`` → a member at once; ``approval`` → a request for the branch; ``closed`` → refused
  (``Conflict`` with a clear message). One row per association and person: asking again while a member or
  requested answers the same row (``new=False``) and records nothing more; a person who left or was declined asks
  again on the same row.
- The **introduction**: the branch admins (``AssociationAdmin``) whose WeChat is linked (``StaffAccount.openid``)
  get a template message through the outbox (the staff work-notice template, ``inquiries.staff_template_id``,
  keyed by membership, consent and admin, so it is queued once); it names the alumnus, their college and year, and
  what they asked. With no linked admin or no template, nothing is sent: the request waits in the console's list
  (``introduced_at`` stays empty, so the page says it was not sent). A decision is told to the alumnus as a
  customer-service message through the outbox (when their 48-hour window has closed it fails quietly; the
  mini-program shows the status).
- **Withdrawing** the consent (or leaving, which withdraws it) stops introductions: queued, unsent ones are
  cancelled (``failed:withdrawn``), none is queued again, a request cannot be approved, and the console shows the
  member without a name.

Every function commits nothing: the caller's unit of work does (as ``services.classes.membership``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import i18n, texts
from core.clock import beijing_minutes
from core.errors import Conflict, FieldProblem, Forbidden, NotFound, ValidationFailed
from models import Consent, EducationRecord, OutboundMessage, Person, StaffAccount
from models.association import (
    INTRODUCTION_PURPOSE,
    JOIN_CLOSED,
    JOIN_OPEN,
    MEMBER_ACTIVE,
    MEMBER_DECLINED,
    MEMBER_LEFT,
    MEMBER_REQUESTED,
    MEMBER_STATUSES,
    Association,
    AssociationAdmin,
    AssociationMember,
)
from models.base import utcnow
from services import followers, outbox
from services.associations import directory
from services.associations.scope import ensure_in_scope
from services.databank import audit
from services.databank.privacy import ensure_processable, grant_consent, has_consent, withdraw_consent

CONSENT_VERSION = "2026-12"  # the version of the introduction notice (texts.ASSOCIATION_CONSENT*)
CROSS_BORDER_VERSION = CONSENT_VERSION + "+abroad"  # the notice that says the data goes abroad (PIPL Art. 39)
CHANNELS = ("bot", "miniprogram", "console")
INTRO_KEY, DECISION_KEY = "association-intro:", "association-decision:"
WITHDRAWN_STATUS = "failed:withdrawn"
PAGE = 50


@dataclass(frozen=True)
class JoinOutcome:
    member: AssociationMember
    association: Association
    new: bool  # False: the same request or membership as before, nothing recorded
    introduced: int  # introductions queued now (0: none linked, or asked before)


@dataclass(frozen=True)
class MemberRow:
    id: int
    person_id: int
    name: str | None  # None: the consent is withdrawn, the branch no longer sees who
    status: str
    channel: str
    requested_at: datetime
    decided_at: datetime | None
    introduced_at: datetime | None
    consented: bool


def purpose(association_id: int) -> str:
    return f"{INTRODUCTION_PURPOSE}:{association_id}"


def consent_notice(association: Association) -> str:
    """What the alumnus agrees to (shown before the join; the cross-border notice for an abroad association)."""
    if association.abroad:
        return texts.ASSOCIATION_CONSENT_ABROAD.format(
            association=directory.shown_name(association), contact=association.contact or "-"
        )
    return texts.ASSOCIATION_CONSENT.format(association=directory.shown_name(association))


def _live(session: Session, association_id: int) -> Association:
    association = session.get(Association, association_id)
    if association is None or association.archived_at is not None:
        raise NotFound(f"no association {association_id}", user_message=texts.ASSOCIATION_ERRORS["not_found"])
    return association


def _consented(session: Session, member: AssociationMember) -> bool:
    return member.consent_id is not None and has_consent(session, member.person_id, purpose(member.association_id))


def join(
    session: Session,
    association_id: int,
    *,
    person_id: int | None,
    channel: str,
    consent: bool,
    openid: str | None = None,
    template_id: str = "",
    now: datetime | None = None,
) -> JoinOutcome:
    """Ask to join (see the module docstring for every rule). ``template_id``: the staff template the introduction
    goes by ("" = none: the console only)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    association = _live(session, association_id)
    if person_id is None:
        raise Forbidden("join by an unbound user", user_message=texts.ASSOCIATION_NEEDS_PERSON)
    person = session.get(Person, person_id)
    if person is None:
        raise Forbidden(f"no person {person_id}", user_message=texts.ASSOCIATION_NEEDS_PERSON)
    ensure_processable(person)
    member = session.scalar(
        select(AssociationMember).where(
            AssociationMember.association_id == association_id, AssociationMember.person_id == person_id
        )
    )
    if member is not None and member.status in (MEMBER_ACTIVE, MEMBER_REQUESTED) and _consented(session, member):
        return JoinOutcome(member, association, new=False, introduced=0)
    if association.join_policy == JOIN_CLOSED:
        raise Conflict(
            "closed", user_message=texts.ASSOCIATION_CLOSED.format(association=directory.shown_name(association))
        )
    if not consent:
        notice = consent_notice(association)
        raise ValidationFailed(
            "consent required", user_message=notice, fields=[FieldProblem("consent", "required", notice)]
        )
    now = now or utcnow()
    status = MEMBER_ACTIVE if association.join_policy == JOIN_OPEN else MEMBER_REQUESTED
    if member is None:
        member = _first_row(session, association_id, person_id, channel, now)
        if member.status != "":  # the same person's other request (a double tap) wrote it first: that one stands
            return JoinOutcome(member, association, new=False, introduced=0)
    elif member.status not in (MEMBER_ACTIVE, MEMBER_REQUESTED):  # left or declined: asking again, on the same row
        member.requested_at, member.left_at, member.decided_by, member.decided_at = now, None, None, None
    else:
        status = member.status  # consent given again by a member or requester who had withdrawn it
    version = CROSS_BORDER_VERSION if association.abroad else CONSENT_VERSION
    granted = grant_consent(session, person_id, purpose=purpose(association_id), version=version, channel=channel)
    member.status, member.consent_id, member.channel = status, granted.id, channel
    member.openid = openid or member.openid
    if status == MEMBER_ACTIVE and member.decided_at is None:
        member.decided_at, member.decided_by = now, "policy:open"
    session.flush()
    introduced = _introduce(session, member, association, person, granted.id, template_id, now)
    return JoinOutcome(member, association, new=True, introduced=introduced)


def _first_row(session: Session, association_id: int, person_id: int, channel: str, now: datetime) -> AssociationMember:
    """Insert the person's row for this association (``status`` "" until the caller sets it), or, when a concurrent
    join of the same person committed one first (the unique constraint), that row: a SAVEPOINT keeps the rest of
    the transaction."""
    member = AssociationMember(
        association_id=association_id, person_id=person_id, status="", channel=channel, requested_at=now
    )
    try:
        with session.begin_nested():
            session.add(member)
            session.flush()
    except IntegrityError:
        existing = session.scalar(
            select(AssociationMember).where(
                AssociationMember.association_id == association_id, AssociationMember.person_id == person_id
            )
        )
        assert existing is not None  # the row that made the insert fail
        return existing
    return member


def _education(session: Session, person_id: int) -> str:
    record = session.scalar(
        select(EducationRecord)
        .where(EducationRecord.person_id == person_id)
        .order_by(EducationRecord.grad_year.desc().nulls_last(), EducationRecord.id.desc())
        .limit(1)
    )
    if record is None:
        return ""
    return " ".join(
        str(p)
        for p in (record.college, texts.COHORT_YEAR["grad"].format(year=record.grad_year) if record.grad_year else None)
        if p
    )


def admins_reachable(session: Session, association_id: int) -> list[StaffAccount]:
    """The association's current branch admins whose WeChat is linked and whose account is enabled."""
    return list(
        session.scalars(
            select(StaffAccount)
            .join(AssociationAdmin, AssociationAdmin.staff_account_id == StaffAccount.id)
            .where(
                AssociationAdmin.association_id == association_id,
                AssociationAdmin.ended_at.is_(None),
                StaffAccount.disabled_at.is_(None),
                StaffAccount.openid.is_not(None),
            )
            .order_by(StaffAccount.id)
        )
    )


def _introduce(  # noqa: PLR0917 - private, one call site
    session: Session,
    member: AssociationMember,
    association: Association,
    person: Person,
    consent_id: int,
    template_id: str,
    now: datetime,
) -> int:
    """Queue the introduction to each reachable branch admin (module docstring); returns the rows queued now."""
    admins = admins_reachable(session, association.id) if template_id else []
    if not admins or not has_consent(session, person.id, purpose(association.id)):
        return 0
    queued = 0
    for admin in admins:
        # In the admin's own language (their WeChat follows the account), not that of the alumnus whose push joined.
        with i18n.use(followers.language_of(session, admin.openid or "")):
            education = _education(session, person.id)
            data = {
                "first": texts.ASSOCIATION_INTRO_TITLE[member.status].format(
                    association=directory.shown_name(association)
                ),
                "keyword1": texts.WITH_DETAIL.format(name=person.name, detail=education) if education else person.name,
                "keyword2": directory.shown_name(association),
                "keyword3": beijing_minutes(now),
                "remark": texts.ASSOCIATION_INTRO_REMARK,
            }
        key = f"{INTRO_KEY}{member.id}:{consent_id}:{admin.id}"
        payload = {"template_id": template_id, "client_msg_id": key, "data": {k: {"value": v} for k, v in data.items()}}
        queued += len(outbox.enqueue(session, key, admin.openid or "", [payload], channel=outbox.TEMPLATE))
    if queued:
        member.introduced_at = now
        audit.record(
            session, actor="system", action="association.introduce", person_id=person.id, association_id=association.id
        )
    return queued


def _cancel_introductions(session: Session, member_id: int) -> int:
    """Queued, unsent introductions of this membership end ``failed:withdrawn`` (the outbox job skips them)."""
    result = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.idempotency_key.startswith(f"{INTRO_KEY}{member_id}:", autoescape=True),
            OutboundMessage.status == "pending",
        )
        .values(status=WITHDRAWN_STATUS)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _own(session: Session, association_id: int, person_id: int | None) -> AssociationMember:
    member = (
        session.scalar(
            select(AssociationMember).where(
                AssociationMember.association_id == association_id, AssociationMember.person_id == person_id
            )
        )
        if person_id is not None
        else None
    )
    if member is None:
        raise NotFound("not a member", user_message=texts.ASSOCIATION_NOT_MEMBER)
    return member


def withdraw(session: Session, association_id: int, person_id: int | None) -> AssociationMember:
    """Withdraw the introduction consent: no introduction goes to this association any more (module docstring)."""
    member = _own(session, association_id, person_id)
    withdraw_consent(session, member.person_id, purpose=purpose(association_id))
    _cancel_introductions(session, member.id)
    audit.record(
        session, actor=f"person:{member.person_id}", action="association.withdraw", person_id=member.person_id,
        association_id=association_id,
    )  # fmt: skip
    return member


def leave(
    session: Session, association_id: int, person_id: int | None, *, now: datetime | None = None
) -> AssociationMember:
    """Leave (a request is taken back the same way); the consent goes with it."""
    member = withdraw(session, association_id, person_id)
    if member.status in (MEMBER_ACTIVE, MEMBER_REQUESTED):
        member.status, member.left_at = MEMBER_LEFT, now or utcnow()
    return member


def association_of(session: Session, member_id: int) -> int:
    """The association a membership row belongs to (``NotFound`` if there is none)."""
    found = session.scalar(select(AssociationMember.association_id).where(AssociationMember.id == member_id))
    if found is None:
        raise NotFound(f"no membership {member_id}", user_message=texts.ASSOCIATION_ERRORS["member_not_found"])
    return int(found)


def decide(
    session: Session, member_id: int, *, approve: bool, actor: str, within: frozenset[int] | None
) -> AssociationMember:
    """A branch admin (within their ``within`` scope: 403 outside it) or staff approves or declines a request. An
    approval needs the consent still given; the alumnus is told either way (a customer-service message)."""
    member = session.get(AssociationMember, member_id, with_for_update=True)
    if member is None:
        raise NotFound(f"no membership {member_id}", user_message=texts.ASSOCIATION_ERRORS["member_not_found"])
    ensure_in_scope(member.association_id, within)
    if member.status != MEMBER_REQUESTED:
        raise Conflict("not requested", user_message=texts.ASSOCIATION_ERRORS["not_requested"])
    if approve and not _consented(session, member):
        raise Conflict("consent withdrawn", user_message=texts.ASSOCIATION_ERRORS["consent_withdrawn"])
    member.status = MEMBER_ACTIVE if approve else MEMBER_DECLINED
    member.decided_at, member.decided_by = utcnow(), actor[:64]
    association = session.get(Association, member.association_id)
    assert association is not None
    if member.openid:  # told in their language (not the deciding admin's), the branch under its name in it
        with i18n.use(followers.language_of(session, member.openid)):
            said = (texts.ASSOCIATION_APPROVED if approve else texts.ASSOCIATION_DECLINED).format(
                association=directory.shown_name(association),
                contact=association.contact or "-",
            )
        key = f"{DECISION_KEY}{member.id}:{member.status}:{member.consent_id}"
        outbox.enqueue(session, key, member.openid, [{"msgtype": "text", "content": said}])
    audit.record(
        session, actor=actor, action="association.approve" if approve else "association.decline",
        person_id=member.person_id, association_id=member.association_id,
    )  # fmt: skip
    session.flush()
    return member


def mine(session: Session, person_id: int | None) -> list[tuple[AssociationMember, Association, bool]]:
    """A person's memberships and requests (left and declined ones too), with whether the consent still holds."""
    if person_id is None:
        return []
    rows = session.execute(
        select(AssociationMember, Association)
        .join(Association, Association.id == AssociationMember.association_id)
        .where(AssociationMember.person_id == person_id)
        .order_by(AssociationMember.requested_at.desc(), AssociationMember.id.desc())
    ).all()
    return [(m, a, _consented(session, m)) for m, a in rows]


def members(
    session: Session, association_id: int, *, status: str, after_id: int = 0, limit: int = PAGE
) -> tuple[list[MemberRow], bool]:
    """One page of an association's members (or requests, …) by id, and whether there are more. Names of members
    whose consent is withdrawn are not given (the branch was introduced to them under that consent)."""
    if status not in MEMBER_STATUSES:
        raise ValidationFailed("status", user_message=texts.ASSOCIATION_ERRORS["status"])
    live_consent = and_(Consent.id == AssociationMember.consent_id, Consent.withdrawn_at.is_(None))
    rows = session.execute(
        select(AssociationMember, Person.name, Consent.id)
        .join(Person, Person.id == AssociationMember.person_id)
        .outerjoin(Consent, live_consent)
        .where(
            AssociationMember.association_id == association_id,
            AssociationMember.status == status,
            AssociationMember.id > after_id,
        )
        .order_by(AssociationMember.id)
        .limit(limit + 1)
    ).all()
    page = [
        MemberRow(
            id=m.id,
            person_id=m.person_id,
            name=name if consent_id is not None else None,
            status=m.status,
            channel=m.channel,
            requested_at=m.requested_at,
            decided_at=m.decided_at,
            introduced_at=m.introduced_at,
            consented=consent_id is not None,
        )
        for m, name, consent_id in rows[:limit]
    ]
    return page, len(rows) > limit


def counts(session: Session, association_id: int) -> dict[str, int]:
    rows = session.execute(
        select(AssociationMember.status, func.count())
        .where(AssociationMember.association_id == association_id)
        .group_by(AssociationMember.status)
    )
    found = {status: 0 for status in MEMBER_STATUSES}
    found.update({status: int(n) for status, n in rows})
    return found
