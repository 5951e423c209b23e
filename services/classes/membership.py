"""Finding a cohort and joining it: the search the bot and the mini-program walk, and the join's verification rule.

Search goes by graduation year (what a graduate knows and what the bot asks first), then college, then class, or by
free text over the folded labels. A grade cohort is offered only where the roster names no class for some of its
people; otherwise a person picks their class.

Joining records a ``ClassMembership`` (once per cohort and person, or per cohort and openid for someone the databank
does not know yet). The rule, from the issue and the liaison's duties:

- a person whose WeChat identity is bound (verified through the card application) and who holds a card, joining a
  cohort their own education record is in (their class, or the grade of their class), is **verified** by card;
- a bound person joining a cohort their record is *not* in is accepted but **unverified and flagged** for the
  liaison: never silently verified (they may have studied twice, or may be guessing);
- anyone else is accepted unverified, for the liaison to vouch for.

A self-service join (the bot, the mini-program) is capped: someone who already joined ``max_memberships`` cohorts
(``classes.max_memberships_per_person``, counted over their person and their openid) gets
``MembershipLimitReached`` for one more, while asking again for a cohort they joined still answers as before. The
count is exact under concurrency: a capped join first serialises on the person and the openid
(``core.db.serialise_on``), so two joins of the same user at the same instant, from the bot and the mini-program
alike, are counted one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from core import texts
from core.db import serialise_on
from core.errors import MembershipLimitReached, NotFound, ValidationFailed
from models.base import utcnow
from models.classes import BY_CARD, BY_LIAISON, CLASS, GRADE, ClassCohort, ClassCohortRecord, ClassMembership
from models.person import EducationRecord
from services.cards.lifecycle import held_card
from services.databank import audit
from services.databank.names import label_key

MAX_RESULTS = 50
JOIN_CHANNELS = ("bot", "miniprogram", "invite", "roster")


@dataclass(frozen=True)
class CollegeChoice:
    college_key: str
    college: str  # as most of its records name it
    people: int


@dataclass(frozen=True)
class JoinOutcome:
    membership: ClassMembership
    cohort: ClassCohort
    new: bool  # False: they had joined already (the same answer again)


def colleges(session: Session, grad_year: int) -> list[CollegeChoice]:
    """The colleges with cohorts graduating in ``grad_year``, largest first (the bot numbers them)."""
    rows = session.execute(
        select(ClassCohort.college_key, func.min(ClassCohort.college), func.sum(ClassCohort.roster_size))
        .where(ClassCohort.grad_year == grad_year, ClassCohort.kind == GRADE, ClassCohort.roster_size > 0)
        .group_by(ClassCohort.college_key)
        .order_by(func.sum(ClassCohort.roster_size).desc(), ClassCohort.college_key)
        .limit(MAX_RESULTS)
    )
    return [CollegeChoice(key, college or key, int(people or 0)) for key, college, people in rows]


def cohorts(
    session: Session, *, grad_year: int | None = None, college: str | None = None, q: str | None = None
) -> list[ClassCohort]:
    """Classes to choose from (and grades, for people the roster names no class for), by graduation year, college
    (a label or a folded key) and free text; at least one is required. Classes first, then by label."""
    if grad_year is None and not college and not q:
        raise ValidationFailed("give a year, a college or words to search for")
    query = select(ClassCohort).where(ClassCohort.roster_size > 0)
    if grad_year is not None:
        query = query.where(ClassCohort.grad_year == grad_year)
    if college:
        query = query.where(ClassCohort.college_key == (label_key(college) or ""))
    for word in (label_key(q) or "").split() if q else ():
        pattern = f"%{word.replace('%', '').replace('_', '')}%"
        query = query.where(or_(ClassCohort.class_key.like(pattern), ClassCohort.college_key.like(pattern)))
    # A grade is offered only when some of its people have no class: the records placed in the grade itself.
    classless = select(ClassCohortRecord.cohort_id).where(ClassCohortRecord.cohort_id == ClassCohort.id).exists()
    query = query.where(or_(ClassCohort.kind == CLASS, classless))
    grades_last = case((ClassCohort.kind == GRADE, 1), else_=0)
    return list(session.scalars(query.order_by(grades_last, ClassCohort.label).limit(MAX_RESULTS)))


def own_cohorts(session: Session, person_id: int) -> list[ClassCohort]:
    """The cohorts a person's education records are in (their classes, or grades where no class is named)."""
    ids = (
        select(ClassCohortRecord.cohort_id)
        .join(EducationRecord, EducationRecord.id == ClassCohortRecord.education_record_id)
        .where(EducationRecord.person_id == person_id)
    )
    return list(session.scalars(select(ClassCohort).where(ClassCohort.id.in_(ids)).order_by(ClassCohort.year)))


def _in_cohort(session: Session, person_id: int, cohort: ClassCohort) -> bool:
    """Whether one of the person's records is in the cohort: in it, or in one of its classes (for a grade)."""
    return any(cohort.id in (own.id, own.parent_id) for own in own_cohorts(session, person_id))


def join(
    session: Session,
    cohort_id: int,
    *,
    channel: str,
    person_id: int | None = None,
    openid: str | None = None,
    max_memberships: int | None = None,
) -> JoinOutcome:
    """Record that someone asked to join a cohort's group (see the module docstring for the verification rule).
    Idempotent per cohort and person (or openid). Raises ``NotFound`` for an unknown cohort, and
    ``MembershipLimitReached`` for a new membership of someone holding ``max_memberships`` already (None: no cap,
    for staff-side writes)."""
    if channel not in JOIN_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if person_id is None and not openid:
        raise ValueError("a person or an openid joins")
    if max_memberships is not None:  # before any read: see serialise_on
        who = ([f"class_join:person:{person_id}"] if person_id is not None else []) + (
            [f"class_join:openid:{openid}"] if openid else []
        )
        serialise_on(session, *who)
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    same = [ClassMembership.person_id == person_id] if person_id is not None else []
    same += [ClassMembership.openid == openid] if openid else []
    # The person's own row first: an openid-only row from before they were bound may exist beside it (joined in the
    # mini-program, then through the bot), and binding that one too would collide with the person's.
    existing = session.scalar(
        select(ClassMembership)
        .where(ClassMembership.cohort_id == cohort_id, or_(*same))
        .order_by(ClassMembership.person_id.is_(None), ClassMembership.id)
        .limit(1)
    )
    if existing is not None:
        if existing.person_id is None and person_id is not None:  # the openid was bound since: they are known now
            existing.person_id = person_id
            _verify(session, existing, cohort)
        return JoinOutcome(existing, cohort, new=False)
    if max_memberships is not None:
        held = session.scalar(select(func.count(func.distinct(ClassMembership.cohort_id))).where(or_(*same))) or 0
        if held >= max_memberships:
            raise MembershipLimitReached(
                f"{held} memberships held, the cap is {max_memberships}",
                user_message=texts.CLASS_MEMBERSHIP_LIMIT.format(limit=max_memberships),
            )
    member = ClassMembership(cohort_id=cohort_id, person_id=person_id, openid=openid, channel=channel)
    _count(session, cohort_id, joined=1)
    _verify(session, member, cohort)
    session.add(member)
    session.flush()
    return JoinOutcome(member, cohort, new=True)


def _count(session: Session, cohort_id: int, *, joined: int = 0, verified: int = 0) -> None:
    """Move the cohort's membership counters in the same transaction as the membership (one atomic UPDATE, so two
    joins at once both count)."""
    session.execute(
        update(ClassCohort)
        .where(ClassCohort.id == cohort_id)
        .values(
            joined_count=ClassCohort.joined_count + joined,
            verified_count=ClassCohort.verified_count + verified,
        )
        .execution_options(synchronize_session=False)
    )


def _verify(session: Session, member: ClassMembership, cohort: ClassCohort) -> None:
    """Apply the verification rule (module docstring) to a membership whose person is known."""
    member.updated_at = utcnow()
    if member.person_id is None or member.verified:
        return
    if not _in_cohort(session, member.person_id, cohort):
        member.flagged = True  # a known person claiming another class: the liaison looks
    elif held_card(session, member.person_id) is not None:
        member.verified, member.verified_by, member.flagged = True, BY_CARD, False
        _count(session, cohort.id, verified=1)


def vouch(session: Session, membership_id: int, *, actor: str, cohort_ids: frozenset[int] | None) -> ClassMembership:
    """A liaison (or staff) vouches that this member is a classmate: the membership becomes verified, its flag
    cleared. ``cohort_ids``: the cohorts the actor may act on (None: all); any other membership is ``NotFound``."""
    member = session.get(ClassMembership, membership_id, with_for_update=True)
    if member is None or (cohort_ids is not None and member.cohort_id not in cohort_ids):
        raise NotFound(f"no membership {membership_id}")
    if not member.verified:
        member.verified, member.verified_by, member.vouched_by, member.flagged = True, BY_LIAISON, actor, False
        member.updated_at = utcnow()
        _count(session, member.cohort_id, verified=1)
        audit.record(session, actor=actor, action="class.vouch", person_id=member.person_id, membership_id=member.id)
        session.flush()
    return member
