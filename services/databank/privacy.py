"""Privacy of the databank (China's PIPL; the GDPR for alumni abroad): masking, audited reveals and exports,
data-subject requests (access, correction, erasure, restriction) and the consent ledger.

Every staff view and export masks phones, emails and addresses unless a reveal is asked for, and every reveal and
every export is written to the audit log first. Erasure anonymises: the person's row and education records stay
(college, major, years and level: the association's aggregate counts do not change) but everything that identifies
them goes, and their student number becomes a token that keeps a later re-import from bringing them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound, ProcessingRestricted, ValidationFailed
from models import (
    AuditEntry,
    Consent,
    ContactPoint,
    DatabankBatch,
    EducationRecord,
    Employment,
    FieldChange,
    Person,
    PersonMerge,
    PersonName,
    VerificationClaim,
    WeChatIdentity,
    utcnow,
)
from models.databank import CORRECTION, SOURCES
from models.person import ACTIVE, ANONYMISED, LEVELS
from services.databank import audit, names
from services.databank.keys import Keyring, mask
from services.databank.roster import erased_key, normalise_email, normalise_phone

T = texts.CONSOLE  # staff act on these rules (the console, the CLI); a refusal says what to change


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id}")
    return person


def _education(e: EducationRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "institution": e.institution,
        "student_no": e.student_no,
        "college": e.college,
        "major": e.major,
        "class_name": e.class_name,
        "entry_year": e.entry_year,
        "grad_year": e.grad_year,
        "level": e.level,
        "international": e.international,
    }


def _employment(j: Employment) -> dict[str, Any]:
    return {
        "id": j.id,
        "employer": j.employer,
        "title": j.title,
        "industry": j.industry,
        "city": j.city,
        "country": j.country,
        "current": j.current,
    }


def provenance(session: Session, record: Person | EducationRecord | Employment, fields: list[str]) -> dict[str, Any]:
    """Each field's source and batch: the change set that last set it, or the one that created the record."""
    batch_ids = {fieldname: (record.provenance or {}).get(fieldname, record.batch_id) for fieldname in fields}
    wanted = {batch_id for batch_id in batch_ids.values() if batch_id is not None}
    sources = (
        dict(session.execute(select(DatabankBatch.id, DatabankBatch.source).where(DatabankBatch.id.in_(wanted))).all())
        if wanted
        else {}
    )
    return {
        fieldname: {"batch_id": batch_id, "source": sources.get(batch_id) if batch_id is not None else None}
        for fieldname, batch_id in batch_ids.items()
    }


PERSON_FIELDS = ["name", "gender", "birth_date", "nationality", "id_number", "deceased"]
EDUCATION_FIELDS = ["college", "major", "class_name", "grad_year"]
EMPLOYMENT_FIELDS = ["employer", "title", "city"]


def staff_view(session: Session, keyring: Keyring, person_id: int) -> dict[str, Any]:
    """What staff see of a person: contact values masked, ID number never (it is not stored); each record with
    its fields' provenance (the source and change set that set them)."""
    person = _person(session, person_id)
    contacts = session.scalars(
        select(ContactPoint).where(ContactPoint.person_id == person_id).order_by(ContactPoint.id)
    )
    educations = session.scalars(
        select(EducationRecord).where(EducationRecord.person_id == person_id).order_by(EducationRecord.id)
    )
    jobs = session.scalars(select(Employment).where(Employment.person_id == person_id).order_by(Employment.id))
    return {
        "id": person.id,
        "name": person.name,
        "name_traditional": person.name_traditional,
        "name_pinyin": person.name_pinyin,
        "former_names": [n.name for n in session.scalars(select(PersonName).where(PersonName.person_id == person_id))],
        "gender": person.gender,
        "birth_year": person.birth_date.year if person.birth_date else None,
        "has_id_number": person.id_hmac is not None,
        "deceased": person.deceased,
        "restricted": person.restricted,
        "status": person.status,
        "merged_into_id": person.merged_into_id,
        "provenance": provenance(session, person, PERSON_FIELDS),
        "education": [{**_education(e), "provenance": provenance(session, e, EDUCATION_FIELDS)} for e in educations],
        "employment": [{**_employment(j), "provenance": provenance(session, j, EMPLOYMENT_FIELDS)} for j in jobs],
        "contacts": [_masked_contact(keyring, c) for c in contacts],
    }


def _masked_contact(keyring: Keyring, contact: ContactPoint) -> dict[str, Any]:
    return {
        "id": contact.id,
        "kind": contact.kind,
        "value": mask(contact.kind, keyring.decrypt(contact.kind, contact.value_encrypted)),
    }


def contact_view(session: Session, keyring: Keyring, contact_id: int, *, person_id: int) -> dict[str, Any]:
    """One of the person's contact points as :func:`staff_view` shows it (masked); ``NotFound`` if not theirs."""
    contact = session.get(ContactPoint, contact_id)
    if contact is None or contact.person_id != person_id:
        raise NotFound(f"contact {contact_id}")
    return _masked_contact(keyring, contact)


def reveal_contact(
    session: Session, keyring: Keyring, contact_id: int, *, actor: str, reason: str, person_id: int | None = None
) -> str:
    """The clear value of one contact point; the reveal is audited (who, whose, which, why) before it is returned.
    With ``person_id``, a contact point of anyone else is not found (a page reveals only what it shows)."""
    if not reason.strip():
        raise ValidationFailed("a reason is required to reveal a value", user_message=T["alumni_reason_required"])
    contact = session.get(ContactPoint, contact_id)
    if contact is None or (person_id is not None and contact.person_id != person_id):
        raise NotFound(f"contact {contact_id}")
    audit.record(
        session,
        actor=actor,
        action="contact.reveal",
        person_id=contact.person_id,
        contact_id=contact.id,
        kind=contact.kind,
        reason=reason[:200],
    )
    return keyring.decrypt(contact.kind, contact.value_encrypted)


EXPORT_COLUMNS = [
    "id",
    "name",
    "institution",
    "student_no",
    "college",
    "major",
    "class_name",
    "entry_year",
    "grad_year",
    "level",
    "international",
    "deceased",
    "phone",
    "email",
    "city",
    "employer",
]


def export_rows(
    session: Session,
    keyring: Keyring,
    *,
    actor: str,
    reveal: bool = False,
    reason: str = "",
    batch_size: int = 2000,
) -> Iterator[list[Any]]:
    """Every active, unrestricted person's education records, masked unless ``reveal``. Streamed; audited first."""
    if reveal and not reason.strip():
        raise ValidationFailed("a reason is required for an export with clear values")
    audit.record(session, actor=actor, action="databank.export", reveal=reveal, reason=reason[:200])
    session.commit()  # the export is on record even if the caller never finishes reading it
    yield EXPORT_COLUMNS
    last = 0
    while True:
        people = list(
            session.scalars(
                select(Person)
                .where(Person.id > last, Person.status == ACTIVE, Person.restricted.is_(False))
                .order_by(Person.id)
                .limit(batch_size)
            )
        )
        if not people:
            return
        ids = [p.id for p in people]
        last = ids[-1]
        educations: dict[int, list[EducationRecord]] = {}
        for e in session.scalars(select(EducationRecord).where(EducationRecord.person_id.in_(ids))):
            educations.setdefault(e.person_id, []).append(e)
        contacts: dict[tuple[int, str], str] = {}
        for c in session.scalars(
            select(ContactPoint).where(ContactPoint.person_id.in_(ids), ContactPoint.kind.in_(("phone", "email")))
        ):
            if (c.person_id, c.kind) not in contacts:
                value = keyring.decrypt(c.kind, c.value_encrypted)
                contacts[(c.person_id, c.kind)] = value if reveal else mask(c.kind, value)
        jobs: dict[int, Employment] = {}
        for j in session.scalars(select(Employment).where(Employment.person_id.in_(ids), Employment.current.is_(True))):
            jobs.setdefault(j.person_id, j)
        for p in people:
            job = jobs.get(p.id)
            for e in educations.get(p.id, []):
                yield [
                    p.id,
                    p.name,
                    e.institution,
                    e.student_no,
                    e.college,
                    e.major,
                    e.class_name,
                    e.entry_year,
                    e.grad_year,
                    e.level,
                    e.international,
                    p.deceased,
                    contacts.get((p.id, "phone"), ""),
                    contacts.get((p.id, "email"), ""),
                    job.city if job else "",
                    job.employer if job else "",
                ]
        session.expunge_all()


# --- data-subject requests ----------------------------------------------------------------------------------------


def subject_export(session: Session, keyring: Keyring, person_id: int, *, actor: str) -> dict[str, Any]:
    """Everything held about a person, in clear, with each field's provenance: the answer to an access request."""
    person = _person(session, person_id)
    audit.record(session, actor=actor, action="subject.export", person_id=person_id)
    educations = list(session.scalars(select(EducationRecord).where(EducationRecord.person_id == person_id)))
    jobs = list(session.scalars(select(Employment).where(Employment.person_id == person_id)))
    return {
        "person": {
            "id": person.id,
            "name": person.name,
            "name_simplified": person.name_simplified,
            "name_traditional": person.name_traditional,
            "name_pinyin": person.name_pinyin,
            "gender": person.gender,
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
            "nationality": person.nationality,
            "id_number": "stored only as a keyed hash" if person.id_hmac else None,
            "deceased": person.deceased,
            "restricted": person.restricted,
            "status": person.status,
            "created_at": person.created_at.isoformat(),
            "provenance": provenance(session, person, PERSON_FIELDS),
        },
        "former_names": [n.name for n in session.scalars(select(PersonName).where(PersonName.person_id == person_id))],
        "education": [{**_education(e), "provenance": provenance(session, e, EDUCATION_FIELDS)} for e in educations],
        "employment": [_employment(j) for j in jobs],
        "contacts": [
            {"kind": c.kind, "value": keyring.decrypt(c.kind, c.value_encrypted), "batch_id": c.batch_id}
            for c in session.scalars(select(ContactPoint).where(ContactPoint.person_id == person_id))
        ],
        "wechat_identities": [
            {"kind": w.kind, "value": w.value, "bound_at": w.bound_at.isoformat()}
            for w in session.scalars(select(WeChatIdentity).where(WeChatIdentity.person_id == person_id))
        ],
        "consents": [
            {
                "purpose": c.purpose,
                "version": c.version,
                "channel": c.channel,
                "granted_at": c.granted_at.isoformat(),
                "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            }
            for c in session.scalars(select(Consent).where(Consent.person_id == person_id))
        ],
        "processing_log": [
            {"at": a.at.isoformat(), "action": a.action, "actor": a.actor}
            for a in session.scalars(
                select(AuditEntry).where(AuditEntry.person_id == person_id).order_by(AuditEntry.id)
            )
        ],
    }


def subject_export_document(session: Session, keyring: Keyring, person_id: int, *, actor: str) -> str:
    """:func:`subject_export` as the JSON document handed to the person (UTF-8 text, indented). Audited."""
    return json.dumps(subject_export(session, keyring, person_id, actor=actor), ensure_ascii=False, indent=2)


PERSON_CORRECTABLE = {"name", "gender", "birth_date", "nationality", "deceased"}
EDUCATION_CORRECTABLE = {"college", "major", "class_name", "entry_year", "grad_year", "level", "international"}
TRUE_WORDS, FALSE_WORDS = frozenset({"1", "true", "yes", "是"}), frozenset({"", "0", "false", "no", "否"})
GENDERS = {"m": "M", "男": "M", "f": "F", "女": "F"}


def _flag(value: str) -> bool:
    if value.lower() not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(value)
    return value.lower() in TRUE_WORDS


def _year(value: str) -> int:
    if not (value.isdigit() and 1900 <= int(value) <= 2100):
        raise ValueError(value)
    return int(value)


def _level(value: str) -> str:
    if value not in LEVELS:
        raise ValueError(value)
    return value


# How a correction typed in as text becomes the column's value; a field not here is text of at most 64 characters.
PARSERS: dict[str, Any] = {
    "deceased": _flag,
    "international": _flag,
    "gender": lambda value: GENDERS[value.lower()],
    "birth_date": date.fromisoformat,
    "entry_year": _year,
    "grad_year": _year,
    "level": _level,
}
REQUIRED = frozenset({"name", "level", "deceased", "international"})  # blank does not clear these


def _check_correctable(person: Mapping[str, Any], education: Mapping[int, Mapping[str, Any]] | None) -> None:
    unknown = set(person) - PERSON_CORRECTABLE
    for changes in (education or {}).values():
        unknown |= set(changes) - EDUCATION_CORRECTABLE
    if unknown:
        raise ValidationFailed(
            f"cannot correct: {', '.join(sorted(unknown))}", user_message=T["alumni_not_correctable"]
        )


def _typed(fieldname: str, text: str) -> Any:
    """One correction typed in as text, as the column holds it; blank clears an optional field."""
    value = text.strip()
    if not value and fieldname not in REQUIRED:
        return None
    try:
        return PARSERS.get(fieldname, lambda v: v[:64])(value)
    except (KeyError, ValueError):
        raise ValidationFailed(
            f"not a valid {fieldname}", user_message=T["alumni_bad_value"].format(field=T[f"alumni_field_{fieldname}"])
        ) from None


def correct_from_text(
    session: Session,
    person_id: int,
    *,
    actor: str,
    person: Mapping[str, str],
    education: Mapping[int, Mapping[str, str]] | None = None,
    source: str = "self_reported",
    blank_keeps: bool = False,
) -> int:
    """A correction as typed (the console's form, the CLI's ``FIELD=VALUE``): each value checked and typed, the
    ones equal to what is held dropped, the rest applied by :func:`correct`. Nothing left to change is refused.
    A blank value clears an optional field, or with ``blank_keeps`` (a form that shows every field) changes nothing.
    """
    record = _person(session, person_id)
    _check_correctable(person, education)
    if blank_keeps:
        person = {f: t for f, t in person.items() if t.strip()}
        education = {i: {f: t for f, t in c.items() if t.strip()} for i, c in (education or {}).items()}
    person_changes = {f: v for f, t in person.items() if (v := _typed(f, t)) != getattr(record, f)}
    education_changes: dict[int, dict[str, Any]] = {}
    for education_id, changes in (education or {}).items():
        target = session.get(EducationRecord, education_id)
        if target is None or target.person_id != person_id:
            raise NotFound(f"education record {education_id} of person {person_id}")
        changed = {f: v for f, t in changes.items() if (v := _typed(f, t)) != getattr(target, f)}
        if changed:
            education_changes[education_id] = changed
    if not person_changes and not education_changes:
        raise ValidationFailed("nothing to correct", user_message=T["alumni_nothing_to_correct"])
    return correct(session, person_id, actor=actor, person=person_changes, education=education_changes, source=source)


def correct(
    session: Session,
    person_id: int,
    *,
    actor: str,
    person: dict[str, Any] | None = None,
    education: dict[int, dict[str, Any]] | None = None,
    source: str = "self_reported",
) -> int:
    """Correct a record at the person's request (or staff's): a change set of its own, undoable, with provenance."""
    record = _person(session, person_id)
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {', '.join(SOURCES)}", user_message=T["alumni_bad_source"])
    _check_correctable(person or {}, education)
    batch = DatabankBatch(
        kind=CORRECTION, source=source, actor=actor, label="correction", status="completed", finished_at=utcnow()
    )
    session.add(batch)
    session.flush()
    _apply(session, batch.id, "persons", record, _person_values(person or {}))
    for education_id, changes in (education or {}).items():
        target = session.get(EducationRecord, education_id)
        if target is None or target.person_id != person_id:
            raise NotFound(f"education record {education_id} of person {person_id}")
        _apply(session, batch.id, "education_records", target, changes)
    audit.record(
        session,
        actor=actor,
        action="subject.correct",
        person_id=person_id,
        batch_id=batch.id,
        fields=sorted(set(person or {}) | {f for c in (education or {}).values() for f in c}),
    )
    session.flush()
    return batch.id


def _person_values(changes: dict[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    if "name" in values:
        cleaned = names.clean(str(values["name"]))
        if not names.is_valid_name(cleaned):
            raise ValidationFailed("not a valid name", user_message=T["alumni_bad_name"])
        forms = names.forms(cleaned)
        values.update(
            name=forms.name,
            name_simplified=forms.simplified,
            name_traditional=forms.traditional,
            name_pinyin=forms.pinyin,
            name_initials=forms.initials,
        )
    if isinstance(values.get("birth_date"), str):
        values["birth_date"] = date.fromisoformat(values["birth_date"])
    return values


def _apply(session: Session, batch_id: int, table: str, record: Any, values: dict[str, Any]) -> None:
    if not values:
        return
    before: dict[str, Any] = {"__provenance__": dict(record.provenance or {})}
    provenance_map = dict(record.provenance or {})
    for column, value in values.items():
        old = getattr(record, column)
        before[column] = old.isoformat() if isinstance(old, date) else old
        setattr(record, column, value)
        key = "name" if column.startswith("name") else column
        provenance_map[key] = batch_id
    record.provenance = provenance_map
    session.add(FieldChange(batch_id=batch_id, table_name=table, row_id=record.id, before=before))


def restrict(session: Session, person_id: int, *, restricted: bool, actor: str) -> None:
    """Restrict (or lift the restriction of) processing: the person leaves search, exports, merges and verification."""
    _person(session, person_id).restricted = restricted
    audit.record(
        session, actor=actor, action="subject.restrict" if restricted else "subject.unrestrict", person_id=person_id
    )


def anonymise(session: Session, keyring: Keyring, person_id: int, *, actor: str) -> None:
    """Erase what identifies the person and keep what the association counts (college, major, years, level)."""
    person = _person(session, person_id)
    if person.status == ANONYMISED:
        return
    for e in session.scalars(select(EducationRecord).where(EducationRecord.person_id == person_id)):
        e.student_no = erased_key(keyring, e.institution, e.student_no)
        e.class_name = None
        e.provenance = {}
    _forget_history(session, person_id, education=False)
    for model in (ContactPoint, PersonName, WeChatIdentity, Employment):
        session.execute(delete(model).where(model.person_id == person_id))
    session.execute(update(VerificationClaim).where(VerificationClaim.person_id == person_id).values(claim={}))
    anonymous = names.forms(texts.ANONYMISED_NAME)
    person.name, person.name_simplified, person.name_traditional = anonymous.name, "", anonymous.name
    person.name_pinyin = person.name_initials = ""
    person.gender = person.nationality = person.id_hmac = person.id_last4_hmac = None
    person.birth_date = None
    person.provenance = {}
    person.status = ANONYMISED
    person.updated_at = utcnow()
    audit.record(session, actor=actor, action="subject.anonymise", person_id=person_id)
    session.flush()


def _forget_history(session: Session, person_id: int, *, education: bool) -> None:
    """Drop the values change sets kept for rollback: they would bring erased data back."""
    rows: dict[str, list[int]] = {
        "persons": [person_id],
        "employments": list(session.scalars(select(Employment.id).where(Employment.person_id == person_id))),
    }
    if education:
        rows["education_records"] = list(
            session.scalars(select(EducationRecord.id).where(EducationRecord.person_id == person_id))
        )
    for table, ids in rows.items():
        if ids:
            session.execute(delete(FieldChange).where(FieldChange.table_name == table, FieldChange.row_id.in_(ids)))


def delete_person(session: Session, person_id: int, *, actor: str) -> None:
    """Remove the person and everything about them (aggregate counts drop too). The audit trail keeps the id only."""
    person = _person(session, person_id)
    session.execute(
        delete(PersonMerge).where((PersonMerge.kept_id == person_id) | (PersonMerge.merged_id == person_id))
    )
    session.execute(update(Person).where(Person.merged_into_id == person_id).values(merged_into_id=None))
    _forget_history(session, person_id, education=True)
    session.delete(person)
    audit.record(session, actor=actor, action="subject.delete", person_id=person_id)
    session.flush()


def ensure_processable(person: Person) -> None:
    if person.restricted:
        raise ProcessingRestricted(
            f"person {person.id} has restricted processing", user_message=T["alumni_restricted_refused"]
        )


# --- consent ledger ---------------------------------------------------------------------------------------------


def grant_consent(session: Session, person_id: int, *, purpose: str, version: str, channel: str) -> Consent:
    _person(session, person_id)
    consent = Consent(person_id=person_id, purpose=purpose, version=version, channel=channel)
    session.add(consent)
    session.flush()
    return consent


def withdraw_consent(session: Session, person_id: int, *, purpose: str) -> int:
    """Withdraw every open consent for ``purpose``; the ledger keeps the rows, with the time of withdrawal."""
    result = session.execute(
        update(Consent)
        .where(Consent.person_id == person_id, Consent.purpose == purpose, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def has_consent(session: Session, person_id: int, purpose: str) -> bool:
    return (
        session.scalar(
            select(Consent.id).where(
                Consent.person_id == person_id, Consent.purpose == purpose, Consent.withdrawn_at.is_(None)
            )
        )
        is not None
    )


def find_by_contact(session: Session, keyring: Keyring, kind: str, value: str) -> list[int]:
    """People with this phone or email, found by blind index (the value is never compared in clear)."""
    normalised = normalise_phone(value) if kind == "phone" else normalise_email(value)
    if normalised is None:
        raise ValidationFailed(f"not a valid {kind}")
    indexes = keyring.blind_indexes(kind, normalised)
    rows = session.scalars(
        select(ContactPoint.person_id).where(ContactPoint.kind == kind, ContactPoint.blind_index.in_(indexes))
    )
    return sorted(set(rows))
