"""Nominations: a liaison (or the office) nominates an outstanding classmate with evidence, kept for the magazine and
the honour roll.

A nomination names a person whose education record is in the cohort (its class, or one of a grade's classes), a
citation, and evidence files checked by their bytes like card evidence (JPEG, PNG or PDF:
``services.cards.applications.sniff``), capped in size and number by the card settings' evidence limits. Everything
is checked before anything is written; the nomination is audited (ids only). ``cohorts`` is the caller's scope
(``services.classes.liaisons.scope``): a cohort outside it is ``NotFound``.

Evidence may hold personal data (a certificate with a name, a news clipping with a photo), so reading a file's bytes
(:func:`evidence`) is audited with the reader, like a card application's evidence; listing only names the files.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import NotFound, ValidationFailed
from models.classes import ClassCohort, Nomination, NominationEvidence
from models.person import Person
from services.cards.applications import sniff
from services.classes.liaisons import ensure_in_scope
from services.classes.membership import own_cohorts
from services.databank import audit

T = texts.CLASS_NOMINATION_ERRORS
MAX_CITATION = 2000


@dataclass(frozen=True)
class EvidenceRef:
    """An evidence file as a list shows it: never its bytes."""

    id: int
    media_type: str
    size: int


@dataclass(frozen=True)
class NominationView:
    id: int
    person_id: int
    name: str
    citation: str
    nominated_by: str
    created_at: datetime
    files: int
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class EvidenceFile:
    nomination_id: int
    evidence_id: int
    media_type: str
    content: bytes


def _refuse(key: str, **params: object) -> ValidationFailed:
    return ValidationFailed(key, user_message=T[key].format(**params))


def nominate(
    session: Session,
    cohort_id: int,
    person_id: int,
    citation: str,
    evidence: Sequence[bytes],
    *,
    actor: str,
    cohorts: frozenset[int] | None,
    max_bytes: int,
    max_files: int,
) -> Nomination:
    """Record a nomination with its evidence (audited). Raises ``NotFound`` (no cohort, or outside ``cohorts``) and
    ``ValidationFailed`` (a person not in the cohort, an empty or long citation, a file that is not a JPEG, PNG or
    PDF within ``max_bytes``, more than ``max_files`` files)."""
    ensure_in_scope(cohort_id, cohorts)
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    citation = citation.strip()
    if not 0 < len(citation) <= MAX_CITATION:
        raise _refuse("citation")
    person = session.get(Person, person_id)
    if person is None or not any(cohort.id in (own.id, own.parent_id) for own in own_cohorts(session, person_id)):
        raise _refuse("person")
    if len(evidence) > max_files:
        raise _refuse("too_many", max_files=max_files)
    typed = []
    for content in evidence:
        media_type = sniff(content) if 0 < len(content) <= max_bytes else None
        if media_type is None:
            raise _refuse("evidence", max_mb=max_bytes // (1024 * 1024) or 1)
        typed.append((media_type, content))
    nomination = Nomination(cohort_id=cohort_id, person_id=person_id, citation=citation, nominated_by=actor[:64])
    session.add(nomination)
    session.flush()
    for media_type, content in typed:
        session.add(
            NominationEvidence(nomination_id=nomination.id, media_type=media_type, size=len(content), content=content)
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="class.nominate",
        person_id=person_id,
        cohort_id=cohort_id,
        nomination_id=nomination.id,
        files=len(typed),
    )
    return nomination


def list(
    session: Session, cohort_id: int, *, cohorts: frozenset[int] | None, limit: int = 50
) -> builtins.list[NominationView]:
    """The cohort's nominations, newest first, each with its evidence files (ids, types and sizes; not their bytes).
    ``NotFound`` outside scope."""
    ensure_in_scope(cohort_id, cohorts)
    rows = session.execute(
        select(Nomination, Person.name)
        .join(Person, Person.id == Nomination.person_id)
        .where(Nomination.cohort_id == cohort_id)
        .order_by(Nomination.id.desc())
        .limit(limit)
    ).all()
    files: dict[int, builtins.list[EvidenceRef]] = {n.id: [] for n, _name in rows}
    if files:
        for nomination_id, evidence_id, media_type, size in session.execute(
            select(NominationEvidence.nomination_id, NominationEvidence.id, NominationEvidence.media_type,
                   NominationEvidence.size)
            .where(NominationEvidence.nomination_id.in_(files))
            .order_by(NominationEvidence.id)
        ):  # fmt: skip
            files[nomination_id].append(EvidenceRef(evidence_id, media_type, size))
    return [
        NominationView(
            n.id, n.person_id, name, n.citation, n.nominated_by, n.created_at, len(files[n.id]), tuple(files[n.id])
        )
        for n, name in rows
    ]


def evidence(
    session: Session, nomination_id: int, evidence_id: int, *, actor: str, cohorts: frozenset[int] | None
) -> EvidenceFile:
    """One evidence file of a nomination, for staff to read; every read is audited with the reader (the file may
    hold personal data). ``NotFound`` for no such nomination or file, a file of another nomination, or a nomination
    of a cohort outside ``cohorts`` (the same answer, so a liaison learns nothing of other cohorts)."""
    found = session.execute(
        select(NominationEvidence, Nomination.cohort_id, Nomination.person_id)
        .join(Nomination, Nomination.id == NominationEvidence.nomination_id)
        .where(NominationEvidence.id == evidence_id, NominationEvidence.nomination_id == nomination_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"no evidence {evidence_id} of nomination {nomination_id}")
    file, cohort_id, person_id = found
    ensure_in_scope(cohort_id, cohorts)
    audit.record(
        session,
        actor=actor,
        action="class.nomination_evidence_view",
        person_id=person_id,
        cohort_id=cohort_id,
        nomination_id=nomination_id,
        evidence_id=evidence_id,
    )
    return EvidenceFile(nomination_id, evidence_id, file.media_type, file.content)
