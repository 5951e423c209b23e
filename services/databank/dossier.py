"""What staff see of people in the databank, by who is reading: search results, a person's record (with its
duplicate candidates, merges and audit history) and two people side by side.

A reader who may not reveal personal data (``clear=False``: the console's viewer role) gets every name, former
name, pinyin and student number masked (``keys.mask``); contact values are masked for everyone (one is revealed
only through ``privacy.reveal_contact``, audited). Opening a person's record, or comparing two, is a read of personal
data: each person read is audited (``person.view``, ids only) in the caller's unit of work. This module does not
decide who may reveal (the caller passes ``clear`` from the role policy) and adds no rule of search, merge or
privacy: it calls those modules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.settings import DatabankSettings
from models import AuditEntry
from services.databank import audit, merge, privacy, search
from services.databank.keys import Keyring, mask

CANDIDATE_LIMIT = 20  # a person's own duplicate candidates, on their page
VIEW = "person.view"


@dataclass(frozen=True)
class Pair:
    """A duplicate candidate: two people (lower id first) and every rule that paired them."""

    first: search.PersonSummary
    second: search.PersonSummary
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PersonRecord:
    view: dict[str, Any]  # privacy.staff_view, masked for the reader
    candidates: list[Pair]  # pairs with this person
    merges: list[merge.MergeSummary]  # merges this person was kept or merged in
    history: list[AuditEntry] | None  # the person's audit trail, newest first; None: not for this reader


@dataclass(frozen=True)
class Duplicates:
    pairs: list[Pair]
    merges: list[merge.MergeSummary]


def _name(value: str | None, clear: bool) -> str:
    return (value or "") if clear else mask("name", value or "")


def _summary(person: search.PersonSummary, clear: bool) -> search.PersonSummary:
    if clear:
        return person
    return replace(
        person,
        name=_name(person.name, False),
        matched=_name(person.matched, False),
        education=[replace(e, student_no=mask("student_no", e.student_no)) for e in person.education],
    )


def _view(view: dict[str, Any], clear: bool) -> dict[str, Any]:
    if clear:
        return view
    return {
        **view,
        "name": _name(view["name"], False),
        "name_traditional": _name(view["name_traditional"], False),
        "name_pinyin": _name(view["name_pinyin"], False),
        "former_names": [_name(n, False) for n in view["former_names"]],
        "education": [{**e, "student_no": mask("student_no", e["student_no"])} for e in view["education"]],
    }


def find(session: Session, settings: DatabankSettings, *, clear: bool, **filters: Any) -> search.SearchPage:
    """``search.search`` with ``filters``, its people masked unless ``clear``."""
    found = search.search(session, settings, **filters)
    return replace(found, items=[_summary(p, clear) for p in found.items])


def _pairs(session: Session, candidates: list[merge.Candidate], clear: bool) -> list[Pair]:
    ids = sorted({i for c in candidates for i in (c.first_id, c.second_id)})
    people = {p.person_id: _summary(p, clear) for p in search.summaries(session, ids)}
    return [
        Pair(people[c.first_id], people[c.second_id], c.reasons)
        for c in candidates
        if c.first_id in people and c.second_id in people
    ]


def open_person(
    session: Session,
    keyring: Keyring,
    person_id: int,
    *,
    actor: str,
    clear: bool,
    history_limit: int | None,
    undo_days: int,
    audit_view: bool = True,
) -> PersonRecord:
    """A person as the reader may see them, with their duplicate candidates, merges and (``history_limit`` given)
    their newest audit entries. Audited as ``person.view`` unless ``audit_view`` is False (the caller audits the
    read otherwise, e.g. a reveal). ``NotFound`` for no such person, before anything is written."""
    view = privacy.staff_view(session, keyring, person_id)
    if audit_view:
        audit.record(session, actor=actor, action=VIEW, person_id=person_id)
    candidates = merge.find_candidates(session, limit=CANDIDATE_LIMIT, person_id=person_id)
    history = None
    if history_limit is not None:
        history = audit.search(session, audit.AuditQuery(person_id=person_id), limit=history_limit)
    return PersonRecord(
        view=_view(view, clear),
        candidates=_pairs(session, candidates, clear),
        merges=merge.recent_merges(session, undo_days=undo_days, limit=CANDIDATE_LIMIT, person_id=person_id),
        history=history,
    )


def compare(
    session: Session, keyring: Keyring, first_id: int, second_id: int, *, actor: str, clear: bool
) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """Two people side by side (as :func:`open_person` shows each) and the rules that pair them (none: the pair is
    not a current candidate). Each person read is audited."""
    if first_id == second_id:
        raise ValidationFailed("a person compared with themself", user_message=privacy.T["alumni_merge_self"])
    views = []
    for person_id, other_id in ((first_id, second_id), (second_id, first_id)):
        views.append(privacy.staff_view(session, keyring, person_id))
        audit.record(session, actor=actor, action=VIEW, person_id=person_id, compared_with=other_id)
    low, high = sorted((first_id, second_id))
    reasons: tuple[str, ...] = ()
    for candidate in merge.find_candidates(session, limit=CANDIDATE_LIMIT, person_id=low):
        if candidate.second_id == high:
            reasons = candidate.reasons
    return _view(views[0], clear), _view(views[1], clear), reasons


def duplicates(session: Session, *, clear: bool, limit: int, undo_days: int, now: datetime | None = None) -> Duplicates:
    """The duplicate candidates (the strongest first) with both people summarised, and the newest merges."""
    return Duplicates(
        pairs=_pairs(session, merge.find_candidates(session, limit=limit), clear),
        merges=merge.recent_merges(session, undo_days=undo_days, limit=limit, now=now),
    )
