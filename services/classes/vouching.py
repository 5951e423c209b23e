"""What waits for a class liaison's vouch, within the caller's scope: a cohort's memberships not verified yet (waiting,
or flagged because the member's record names another class), and card applications (status ``vouching``).

Memberships: :func:`members_waiting` lists them (a person's name, or only an openid for someone the databank does not
know yet); the vouch itself is ``services.classes.membership.vouch``.

An application records the applicant's claim (``VerificationClaim.claim``: name, student number, graduation year,
college, class). Its cohort is that of the person the databank matched the claim to; else that of the education
record with the claimed student number; else the class whose graduation year, college and class match the claim,
compared folded like the cohort build compares labels (``services.databank.names.label_key``; without a class
named, the grade). An application tied to no cohort this way cannot be given to a liaison: only the office (an
unscoped caller) sees it. Deciding goes through ``services.cards.applications.approve`` / ``reject``; a scoped
caller may only decide an application of their cohorts (else ``NotFound``), and may only approve it for a person of
that cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound, ValidationFailed
from core.settings import CardSettings
from models import CardApplication, VerificationClaim
from models.card import APP_VOUCHING
from models.classes import CLASS, GRADE, ClassCohort, ClassCohortRecord, ClassMembership
from models.person import EducationRecord, Person
from services.cards import applications
from services.classes.liaisons import ensure_in_scope
from services.classes.membership import own_cohorts
from services.databank.names import label_key


@dataclass(frozen=True)
class WaitingMember:
    membership_id: int
    person_id: int | None
    name: str | None  # None: only an openid joined (the databank does not know them yet)
    channel: str
    flagged: bool
    created_at: datetime


def members_waiting(
    session: Session, cohort_id: int, *, cohorts: frozenset[int] | None, limit: int = 50
) -> list[WaitingMember]:
    """The cohort's memberships not verified yet, flagged first, then oldest first. ``NotFound`` outside scope."""
    ensure_in_scope(cohort_id, cohorts)
    rows = session.execute(
        select(ClassMembership, Person.name)
        .outerjoin(Person, Person.id == ClassMembership.person_id)
        .where(ClassMembership.cohort_id == cohort_id, ClassMembership.verified.is_(False))
        .order_by(ClassMembership.flagged.desc(), ClassMembership.id)
        .limit(limit)
    )
    return [WaitingMember(m.id, m.person_id, name, m.channel, m.flagged, m.created_at) for m, name in rows]


@dataclass(frozen=True)
class Waiting:
    item: applications.ReviewItem
    cohort_id: int | None  # None: the claim names no cohort (the office's alone)
    cohort_label: str | None


def claimed_cohort(session: Session, claim: dict[str, Any], person_id: int | None = None) -> ClassCohort | None:
    """The cohort a claim names, or None: the cohort of the person the databank matched it to, else of the
    education record with the claimed student number, else the class (or grade) of the claimed graduation year,
    college and class, folded."""
    if person_id is not None:
        own = own_cohorts(session, person_id)
        if own:
            return own[-1]
    student_no = claim.get("student_no")
    if student_no:
        found = session.scalars(
            select(ClassCohort)
            .join(ClassCohortRecord, ClassCohortRecord.cohort_id == ClassCohort.id)
            .join(EducationRecord, EducationRecord.id == ClassCohortRecord.education_record_id)
            .where(EducationRecord.student_no == str(student_no))
            .order_by(ClassCohort.id)
            .limit(1)
        ).first()
        if found is not None:
            return found
    year, college, class_name = claim.get("grad_year"), claim.get("college"), claim.get("class_name")
    if not isinstance(year, int) or not college:
        return None
    query = select(ClassCohort).where(
        ClassCohort.grad_year == year, ClassCohort.college_key == (label_key(str(college)) or "")
    )
    if class_name:
        query = query.where(ClassCohort.kind == CLASS, ClassCohort.class_key == (label_key(str(class_name)) or ""))
    else:
        query = query.where(ClassCohort.kind == GRADE)
    return session.scalars(query.order_by(ClassCohort.id).limit(1)).first()


def _cohort_of(session: Session, application: CardApplication) -> ClassCohort | None:
    claim = session.get(VerificationClaim, application.claim_id) if application.claim_id else None
    if claim is None:
        return None
    return claimed_cohort(session, dict(claim.claim), claim.person_id or application.person_id)


def waiting(session: Session, *, cohorts: frozenset[int] | None, limit: int = 50) -> list[Waiting]:
    """Vouching applications in the caller's scope, oldest first (``cohorts`` None: every one, tied or not)."""
    found = []
    query = select(CardApplication).where(CardApplication.status == APP_VOUCHING).order_by(CardApplication.id)
    for application in session.scalars(query):
        cohort = _cohort_of(session, application)
        if cohorts is not None and (cohort is None or cohort.id not in cohorts):
            continue
        item = applications.review_item(session, application.id)
        found.append(Waiting(item, cohort.id if cohort else None, cohort.label if cohort else None))
        if len(found) >= limit:
            break
    return found


def _in_scope(session: Session, application_id: int, cohorts: frozenset[int] | None) -> ClassCohort | None:
    application = session.get(CardApplication, application_id)
    if application is None or application.status != APP_VOUCHING:
        raise NotFound(f"no vouching application {application_id}")
    cohort = _cohort_of(session, application)
    if cohorts is not None and (cohort is None or cohort.id not in cohorts):
        raise NotFound(f"application {application_id} is outside this liaison's scope")
    return cohort


def approve(
    session: Session,
    settings: CardSettings,
    application_id: int,
    *,
    actor: str,
    cohorts: frozenset[int] | None,
    person_id: int | None = None,
) -> CardApplication:
    """Vouch for a waiting application: the card is issued (``applications.approve``). A scoped caller approves
    only for a person of the application's cohort."""
    cohort = _in_scope(session, application_id, cohorts)
    if cohorts is not None and cohort is not None and person_id is not None:
        own = own_cohorts(session, person_id)
        if not any(cohort.id in (mine.id, mine.parent_id) for mine in own):
            message = texts.CLASS_NOMINATION_ERRORS["person"]
            raise ValidationFailed("the person is not in the cohort", user_message=message)
    return applications.approve(session, settings, application_id, actor=actor, person_id=person_id)


def reject(
    session: Session, application_id: int, *, actor: str, reason: str, cohorts: frozenset[int] | None
) -> CardApplication:
    """Turn a waiting application down with a reason (``applications.reject``)."""
    _in_scope(session, application_id, cohorts)
    return applications.reject(session, application_id, actor=actor, reason=reason)
