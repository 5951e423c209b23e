"""A person's new phone, email, city or employer, as the databank checks and records it (a self-report confirmed by
staff or the class liaison: ``services.classes.reports``).

:func:`checked` is the one rule for such a value, the roster's rule for the same column (``services.databank.roster``:
NFKC-normalised and trimmed, phones by phonenumbers and stored as the roster stores them, emails with a lower-case
domain, employer at most 128 characters and city 64), so a value reported by a classmate matches what a registrar
import of the same value would hold, and its blind index finds it.

:func:`apply` writes one checked value as a change set of its own (a ``DatabankBatch`` of kind ``correction`` and
source ``self_reported`` or ``liaison``), with the bookkeeping corrections use (``services.databank.privacy``): a phone
or email the person does not hold yet becomes a new ``ContactPoint`` (encrypted, with its blind index) carrying the
batch id; a city or employer is set on the person's current employment through ``privacy._apply``, which keeps the
value it overwrote in a ``FieldChange`` and points the field's provenance at the batch, or a new current employment
carrying the batch id is created. A value the person already holds changes nothing and makes no batch. Audited.

This module does not decide who may confirm a report, or notify anyone: the caller does.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from models import ContactPoint, DatabankBatch, Employment, Person, utcnow
from models.databank import CORRECTION
from models.person import ACTIVE, EMAIL, PHONE
from services.databank import audit
from services.databank.keys import Keyring
from services.databank.privacy import _apply, ensure_processable
from services.databank.roster import MAX_LEN, PhoneRejected, normalise_email, parse_phone

KINDS = (PHONE, EMAIL, "city", "employer")
SOURCES = ("self_reported", "liaison")  # who vouches for a classmate's own report: staff, or the liaison
LIMITS = {PHONE: 32, EMAIL: MAX_LEN["email"], "city": 64, "employer": MAX_LEN["employer"]}
_SPACES = re.compile(r"\s+")
T = texts.CONTACT_CHANGE_ERRORS


def _refuse(problem: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"value: {problem}", user_message=message, fields=[FieldProblem("value", problem, message)])


def checked(kind: str, value: str) -> str:
    """``value`` as the databank stores a ``kind`` (phone, email, city, employer). Raises ``ValidationFailed``
    naming the field (``kind`` or ``value``) and what is wrong with it."""
    if kind not in KINDS:
        message = T["kind"]
        raise ValidationFailed(
            f"kind {kind!r}", user_message=message, fields=[FieldProblem("kind", "not_allowed", message)]
        )
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    label = texts.CONTACT_CHANGE_KINDS[kind]
    if not text:
        raise _refuse("empty", T["empty"].format(kind=label))
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise _refuse("bad_characters", T["bad_characters"].format(kind=label))
    if (len(text.encode()) if kind == EMAIL else len(text)) > LIMITS[kind]:  # an address's limit is in octets
        raise _refuse("too_long", T["too_long"].format(kind=label, limit=LIMITS[kind]))
    if kind == PHONE:
        try:
            return parse_phone(text)
        except PhoneRejected as exc:
            raise _refuse("invalid", T["phone"].format(reason=texts.IMPORT_PHONE_REASONS[exc.reason])) from None
    if kind == EMAIL:
        email = normalise_email(text)
        if email is None:
            raise _refuse("invalid", T["email"])
        return email
    return text


def apply(
    session: Session, keyring: Keyring, person_id: int, *, kind: str, value: str, source: str, actor: str, label: str
) -> int | None:
    """Record ``value`` as the person's ``kind`` in a change set of ``source`` (see the module docstring); returns
    the batch id, or None when the person already holds the value. ``label`` names the change set (no PII).
    Raises ``ValidationFailed`` (a bad kind, value or source), ``NotFound`` (no such person), ``Conflict`` (merged
    or anonymised since), ``ProcessingRestricted``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    value = checked(kind, value)
    person = session.get(Person, person_id, with_for_update=True)
    if person is None:
        raise NotFound(f"person {person_id}")
    if person.status != ACTIVE:
        raise Conflict(f"person {person_id} is {person.status}", user_message=T["person_gone"])
    ensure_processable(person)
    if kind in (PHONE, EMAIL):
        held = session.scalar(
            select(ContactPoint.id).where(
                ContactPoint.person_id == person_id,
                ContactPoint.kind == kind,
                ContactPoint.blind_index.in_(keyring.blind_indexes(kind, value)),
            )
        )
        if held is not None:
            return None
        batch = _batch(session, source, actor, label, inserted=1)
        session.add(
            ContactPoint(
                person_id=person_id,
                kind=kind,
                value_encrypted=keyring.encrypt(kind, value),
                blind_index=keyring.blind_index(kind, value),
                batch_id=batch.id,
            )
        )
    else:
        job = session.scalar(
            select(Employment)
            .where(Employment.person_id == person_id, Employment.current.is_(True))
            .order_by(Employment.id)  # the current employment, as imports pick it
            .limit(1)
        )
        if job is not None and getattr(job, kind) == value:
            return None
        batch = _batch(session, source, actor, label, inserted=int(job is None), updated=int(job is not None))
        if job is None:
            session.add(
                Employment(person_id=person_id, current=True, batch_id=batch.id, provenance={}, **{kind: value})
            )
        else:
            _apply(session, batch.id, "employments", job, {kind: value})
    person.updated_at = utcnow()
    audit.record(
        session, actor=actor, action="subject.contact_change", person_id=person_id, batch_id=batch.id, kind=kind
    )
    session.flush()
    return batch.id


def _batch(
    session: Session, source: str, actor: str, label: str, *, inserted: int = 0, updated: int = 0
) -> DatabankBatch:
    now = utcnow()
    batch = DatabankBatch(
        kind=CORRECTION,
        source=source,
        actor=actor,
        label=label[:255],
        status="completed",
        rows_total=1,
        rows_inserted=inserted,
        rows_updated=updated,
        created_at=now,
        finished_at=now,
    )
    session.add(batch)
    session.flush()
    return batch
