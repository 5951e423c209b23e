"""Class liaisons: appointments to cohorts, the contact classmates are given, and a liaison's scope.

A university appoints a liaison for a class or a grade by letter (the letter's date is kept). An appointment is to
one cohort; a liaison serving several cohorts has one appointment each. A cohort has at most one current primary
liaison and any number of deputies. The contact a liaison agreed to share with classmates is encrypted at rest and
opened only to be sent to a classmate who asked to join.

A liaison's **scope** is the cohorts they are appointed to now, with the classes of an appointed grade. A staff
account whose roles are all scoped (``class_liaison``, ``branch_admin``) sees only its scope; any other role sees
every cohort. Everything a liaison may do is checked against this one function, so "another class's roster" is a
``NotFound`` wherever it is asked for (the API, the console, the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, NotFound, ValidationFailed
from models.base import utcnow
from models.classes import DEPUTY, PRIMARY, ClassCohort, ClassLiaison
from services.databank import audit
from services.databank.keys import Keyring
from services.staff.policy import SCOPED_ROLES

T = texts.CLASS_LIAISON_ERRORS
LANGUAGES = ("zh", "en")


def _refuse(key: str) -> ValidationFailed:
    return ValidationFailed(key, user_message=T[key])


def _current(today: date) -> list[ColumnElement[bool]]:
    return [
        ClassLiaison.ended_at.is_(None),
        ClassLiaison.term_start <= today,
        or_(ClassLiaison.term_end.is_(None), ClassLiaison.term_end >= today),
    ]


def appoint(
    session: Session,
    keyring: Keyring,
    cohort_id: int,
    *,
    name: str,
    role: str,
    term_start: date,
    term_end: date | None = None,
    letter_date: date | None = None,
    language: str = "zh",
    contact: str | None = None,
    openid: str | None = None,
    staff_account_id: int | None = None,
    person_id: int | None = None,
    actor: str,
) -> ClassLiaison:
    """Appoint a liaison to a cohort (audited). Raises ``ValidationFailed`` for a bad field, ``Conflict`` when the
    cohort already has a current primary liaison, ``NotFound`` for an unknown cohort."""
    name, contact = name.strip(), (contact or "").strip() or None
    if not 0 < len(name) <= 64:
        raise _refuse("name")
    if role not in (PRIMARY, DEPUTY):
        raise _refuse("role")
    if language not in LANGUAGES:
        raise _refuse("language")
    if term_end is not None and term_end < term_start:
        raise _refuse("term")
    if contact is not None and len(contact) > 128:
        raise _refuse("contact")
    if session.get(ClassCohort, cohort_id) is None:
        raise NotFound(f"no cohort {cohort_id}")
    if role == PRIMARY:
        taken = session.scalar(
            select(ClassLiaison.id).where(
                ClassLiaison.cohort_id == cohort_id, ClassLiaison.role == PRIMARY, *_current(term_start)
            )
        )
        if taken is not None:
            raise Conflict("cohort has a primary liaison", user_message=T["primary_taken"])
    liaison = ClassLiaison(
        cohort_id=cohort_id,
        name=name,
        role=role,
        term_start=term_start,
        term_end=term_end,
        letter_date=letter_date,
        language=language,
        contact_encrypted=keyring.encrypt("liaison_contact", contact) if contact else None,
        openid=openid,
        staff_account_id=staff_account_id,
        person_id=person_id,
        appointed_by=actor,
    )
    session.add(liaison)
    session.flush()
    audit.record(session, actor=actor, action="class.liaison_appoint", person_id=person_id, liaison_id=liaison.id)
    return liaison


def end(session: Session, liaison_id: int, *, actor: str, now: datetime | None = None) -> ClassLiaison:
    """End an appointment now (audited); ending one already ended changes nothing."""
    liaison = session.get(ClassLiaison, liaison_id)
    if liaison is None:
        raise NotFound(f"no liaison appointment {liaison_id}")
    if liaison.ended_at is None:
        liaison.ended_at = now or utcnow()
        audit.record(
            session, actor=actor, action="class.liaison_end", person_id=liaison.person_id, liaison_id=liaison.id
        )
    return liaison


def current(session: Session, cohort_id: int, *, today: date | None = None) -> list[ClassLiaison]:
    """The cohort's liaisons serving today, primary first. Without any, the grade's (for a class)."""
    today = today or utcnow().date()
    cohort = session.get(ClassCohort, cohort_id)
    for candidate in (cohort_id, cohort.parent_id if cohort else None):
        if candidate is None:
            continue
        found = list(
            session.scalars(
                select(ClassLiaison)
                .where(ClassLiaison.cohort_id == candidate, *_current(today))
                .order_by(ClassLiaison.role.desc(), ClassLiaison.id)  # "primary" > "deputy": primary first
            )
        )
        if found:
            return found
    return []


def contact(keyring: Keyring, liaison: ClassLiaison) -> str | None:
    """The contact the liaison agreed to share with classmates, in clear (to send to one classmate)."""
    return keyring.decrypt("liaison_contact", liaison.contact_encrypted) if liaison.contact_encrypted else None


def scope(
    session: Session, account_id: int, roles: Iterable[str], *, today: date | None = None
) -> frozenset[int] | None:
    """The cohorts a staff account may see and act on: None (every cohort) unless all its roles are scoped; then
    the cohorts it is appointed to today, with the classes of an appointed grade."""
    if any(role not in SCOPED_ROLES for role in roles):
        return None
    today = today or utcnow().date()
    appointed = select(ClassLiaison.cohort_id).where(ClassLiaison.staff_account_id == account_id, *_current(today))
    ids = set(session.scalars(appointed))
    ids |= set(session.scalars(select(ClassCohort.id).where(ClassCohort.parent_id.in_(appointed))))
    return frozenset(ids)


def ensure_in_scope(cohort_id: int, cohorts: frozenset[int] | None) -> None:
    """Raise ``NotFound`` (never a hint that the cohort exists) unless ``cohort_id`` is within ``cohorts``."""
    if cohorts is not None and cohort_id not in cohorts:
        raise NotFound(f"cohort {cohort_id} is outside this liaison's scope")
