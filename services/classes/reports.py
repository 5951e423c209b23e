"""Contact-change reports: a classmate reports their own new phone, email, city or employer; the class liaison or the
office confirms it into the databank, or turns it down.

- :func:`report`: a databank person (the caller's bound WeChat identity: the edge resolves it) reports a value. It is
  checked as the roster checks the same column (``services.databank.contacts.checked``), encrypted at rest, and tied
  to one of the person's own cohorts (their class, or the grade where the roster names no class). A second report of
  the same kind while the first waits replaces its value instead of queuing another, so a classmate cannot flood
  their liaison. The cohort's current liaisons who have a WeChat identity are told through the outbox, in their own
  language (once per report); the office sees every pending report in the console (:func:`pending`).
- :func:`decide`: the liaison (``as_liaison``) or staff apply it or turn it down. Applying writes the databank change
  set through ``services.databank.contacts.apply`` with source ``liaison`` when the liaison confirms and
  ``self_reported`` when staff confirm the person's own report (the registrar > self_reported > liaison ranking of
  ``models.databank.SOURCES``). Audited either way.

Scope: ``cohorts`` is the caller's scope (``services.classes.liaisons.scope``: None for the office, else the cohorts a
liaison may act on). A report outside it, or tied to no cohort when the caller is scoped, is ``NotFound``, exactly as
one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import i18n, texts
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from models import ClassCohort, ContactChangeReport, Person, utcnow
from models.classes import REPORT_APPLIED, REPORT_PENDING, REPORT_REJECTED
from models.person import ACTIVE
from services import outbox
from services.classes import liaisons
from services.classes.cohorts import shown_label
from services.classes.membership import own_cohorts
from services.databank import audit, contacts
from services.databank.keys import Keyring, mask
from services.databank.privacy import ensure_processable

CHANNELS = ("miniprogram", "bot", "console")
_SEALED = "contact_change"  # associated data of the encrypted value: it opens as nothing else


@dataclass(frozen=True)
class Report:
    """A report as the console and the CLI show it: the value in clear and masked (the edge picks which)."""

    id: int
    person_id: int
    name: str
    cohort_id: int | None
    cohort_label: str
    kind: str
    value: str
    masked: str
    status: str
    channel: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class Decision:
    report: ContactChangeReport
    batch_id: int | None  # the databank change set that applied it; None when turned down or nothing changed


def _sealed(keyring: Keyring, kind: str, value: str) -> str:
    return keyring.encrypt(f"{_SEALED}:{kind}", value)


def value_of(keyring: Keyring, report: ContactChangeReport) -> str:
    """The reported value in clear."""
    return keyring.decrypt(f"{_SEALED}:{report.kind}", report.value_encrypted)


def _cohort_for(session: Session, person_id: int, cohort_id: int | None) -> ClassCohort | None:
    """The person's cohort the report goes to: ``cohort_id`` if it is one of theirs (or the grade of one), else their
    latest. None when the person is in no cohort yet (the office still sees the report)."""
    own = own_cohorts(session, person_id)
    if cohort_id is None:
        return own[-1] if own else None
    for cohort in own:
        if cohort_id == cohort.id:
            return cohort
        if cohort_id == cohort.parent_id:
            return session.get(ClassCohort, cohort_id)
    message = texts.CONTACT_CHANGE_ERRORS["cohort"]
    raise ValidationFailed(
        f"cohort {cohort_id} is not the person's",
        user_message=message,
        fields=[FieldProblem("cohort_id", "invalid", message)],
    )


def report(
    session: Session,
    keyring: Keyring,
    *,
    person_id: int,
    kind: str,
    value: str,
    channel: str,
    cohort_id: int | None = None,
) -> ContactChangeReport:
    """Record a person's report of their own new ``kind`` (see the module docstring) and tell their liaisons.
    Raises ``ValidationFailed`` (a bad kind or value, a cohort not theirs), ``NotFound`` (no such active person),
    ``ProcessingRestricted``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    clean = contacts.checked(kind, value)
    person = session.get(Person, person_id)
    if person is None or person.status != ACTIVE:
        raise NotFound(f"no active person {person_id}")
    ensure_processable(person)
    cohort = _cohort_for(session, person_id, cohort_id)
    waiting = session.scalar(
        select(ContactChangeReport)
        .where(
            ContactChangeReport.person_id == person_id,
            ContactChangeReport.kind == kind,
            ContactChangeReport.status == REPORT_PENDING,
        )
        .with_for_update()
    )
    if waiting is None:
        waiting = ContactChangeReport(person_id=person_id, kind=kind, status=REPORT_PENDING)
        session.add(waiting)
    waiting.cohort_id = cohort.id if cohort is not None else None
    waiting.value_encrypted = _sealed(keyring, kind, clean)
    waiting.channel = channel
    waiting.created_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=f"person:{person_id}",
        action="class.contact_report",
        person_id=person_id,
        report_id=waiting.id,
        kind=kind,
    )
    if cohort is not None:
        _tell_liaisons(session, waiting, cohort, person.name)
    return waiting


def _tell_liaisons(session: Session, report: ContactChangeReport, cohort: ClassCohort, name: str) -> None:
    """Queue a notice to each current liaison of the cohort who has a WeChat identity, once per report (the outbox's
    idempotency key): the name and the kind, never the value (it is read in the console)."""
    for liaison in liaisons.current(session, cohort.id):
        if not liaison.openid:
            continue
        with i18n.use(liaison.language):  # the liaison's, not the language of the classmate whose request queued it
            content = texts.CONTACT_CHANGE_NOTICE.format(
                cohort=shown_label(cohort), name=name, kind=texts.CONTACT_CHANGE_KINDS[report.kind]
            )
        key = f"class-contact-report:{report.id}:{liaison.id}"
        outbox.enqueue(session, key, liaison.openid, [{"msgtype": "text", "content": content}])


def _in_scope(report: ContactChangeReport | None, cohorts: frozenset[int] | None) -> bool:
    if report is None:
        return False
    return cohorts is None or (report.cohort_id is not None and report.cohort_id in cohorts)


def pending(
    session: Session, keyring: Keyring, *, cohorts: frozenset[int] | None, after_id: int = 0, limit: int = 50
) -> tuple[list[Report], bool]:
    """A page of pending reports in the caller's scope, oldest first (by id after ``after_id``), and whether another
    page follows."""
    query = (
        select(ContactChangeReport, Person.name, ClassCohort.label)
        .join(Person, Person.id == ContactChangeReport.person_id)
        .outerjoin(ClassCohort, ClassCohort.id == ContactChangeReport.cohort_id)
        .where(ContactChangeReport.status == REPORT_PENDING, ContactChangeReport.id > after_id)
        .order_by(ContactChangeReport.id)
        .limit(limit + 1)
    )
    if cohorts is not None:
        query = query.where(ContactChangeReport.cohort_id.in_(cohorts))
    rows = session.execute(query).all()
    return [_view(keyring, r, name, label) for r, name, label in rows[:limit]], len(rows) > limit


def get(session: Session, keyring: Keyring, report_id: int, *, cohorts: frozenset[int] | None) -> Report:
    """One report in the caller's scope; ``NotFound`` otherwise."""
    found = session.get(ContactChangeReport, report_id)
    if found is None or not _in_scope(found, cohorts):
        raise NotFound(f"no contact-change report {report_id}")
    person = session.get(Person, found.person_id)
    cohort = session.get(ClassCohort, found.cohort_id) if found.cohort_id is not None else None
    return _view(keyring, found, person.name if person else "", cohort.label if cohort else None)


def _view(keyring: Keyring, r: ContactChangeReport, name: str, label: str | None) -> Report:
    value = value_of(keyring, r)
    shown = mask(r.kind, value) if r.kind in ("phone", "email") else value
    return Report(
        r.id, r.person_id, name, r.cohort_id, label or "", r.kind, value, shown, r.status, r.channel, r.created_at,
        r.decided_by, r.decided_at,
    )  # fmt: skip


def decide(
    session: Session,
    keyring: Keyring,
    report_id: int,
    *,
    apply: bool,
    actor: str,
    as_liaison: bool,
    cohorts: frozenset[int] | None,
) -> Decision:
    """Apply a pending report to the databank (source ``liaison`` when ``as_liaison``, else ``self_reported``) or
    turn it down; audited. Raises ``NotFound`` (unknown or outside ``cohorts``), ``Conflict`` (decided already, or
    the person was merged or anonymised since), ``ProcessingRestricted``."""
    found = session.get(ContactChangeReport, report_id, with_for_update=True)
    if found is None or not _in_scope(found, cohorts):
        raise NotFound(f"no contact-change report {report_id}")
    if found.status != REPORT_PENDING:
        status = texts.CONTACT_CHANGE_STATUS_NAMES.get(found.status, found.status)
        raise Conflict(
            f"report {report_id} is {found.status}",
            user_message=texts.CONTACT_CHANGE_ERRORS["decided"].format(status=status),
        )
    batch_id = None
    if apply:
        batch_id = contacts.apply(
            session,
            keyring,
            found.person_id,
            kind=found.kind,
            value=value_of(keyring, found),
            source="liaison" if as_liaison else "self_reported",
            actor=actor,
            label=f"contact-change report {found.id}",
        )
    found.status = REPORT_APPLIED if apply else REPORT_REJECTED
    found.decided_by, found.decided_at = actor[:64], utcnow()
    audit.record(
        session,
        actor=actor,
        action="class.contact_report_apply" if apply else "class.contact_report_reject",
        person_id=found.person_id,
        report_id=found.id,
        kind=found.kind,
        batch_id=batch_id,
        as_liaison=as_liaison,
    )
    session.flush()
    return Decision(found, batch_id)
