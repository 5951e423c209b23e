"""Duplicates and merges of people in the databank.

Duplicate candidates are pairs of active people who share a student number (at different institutions), an ID
number (by its HMAC), a phone (by its blind index), or a name with graduation year and college; the name is
compared in its simplified form (so 張偉 meets 张伟) and by pinyin (so 张伟 meets 张玮), the college folded (so
計算機學院 meets 计算机学院). Each rule is one indexed
self-join, so the search stays practical at a million people.

A merge keeps one person and folds the other into it. For each field it keeps the value from the more trusted
source (registrar > self_reported > liaison > other; the kept person wins a tie), moves every child record
across, and remembers enough to be undone within ``databank.merge_undo_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from core import texts
from core.errors import Conflict, NotFound, UndoExpired, ValidationFailed
from models import (
    Consent,
    ContactPoint,
    DatabankBatch,
    EducationRecord,
    Employment,
    Person,
    PersonMerge,
    PersonName,
    WeChatIdentity,
    utcnow,
)
from models.databank import MERGE, SOURCES
from models.person import ACTIVE, MERGED
from services.databank import audit
from services.databank.privacy import ensure_processable

T = texts.CONSOLE  # staff merge (the console, the CLI); a refusal says why
TRUST = {source: rank for rank, source in enumerate(SOURCES)}
# provenance key -> the columns it covers
FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name", "name_simplified", "name_traditional", "name_pinyin", "name_initials"),
    "gender": ("gender",),
    "birth_date": ("birth_date",),
    "nationality": ("nationality",),
    "id_number": ("id_hmac", "id_last4_hmac"),
    "deceased": ("deceased",),
}
CHILDREN: dict[str, Any] = {
    "education_records": EducationRecord,
    "employments": Employment,
    "person_names": PersonName,
    "wechat_identities": WeChatIdentity,
    "consents": Consent,
    "contact_points": ContactPoint,
}


@dataclass(frozen=True)
class Candidate:
    first_id: int
    second_id: int
    reasons: tuple[str, ...]


def find_candidates(session: Session, *, limit: int = 100, person_id: int | None = None) -> list[Candidate]:
    """Pairs (lower id first) that may be one person, with every rule that pairs them."""
    p1, p2 = aliased(Person), aliased(Person)
    e1, e2 = aliased(EducationRecord), aliased(EducationRecord)
    c1, c2 = aliased(ContactPoint), aliased(ContactPoint)
    active = [p1.status == ACTIVE, p2.status == ACTIVE, p1.restricted.is_(False), p2.restricted.is_(False)]
    # One person's pairs: each rule asked twice, with the person on either side. An equality (rather than one
    # "either side" OR) lets the database start from that person's rows by index instead of joining everyone.
    sides: list[tuple[ColumnElement[bool], ...]] = (
        [(p1.id == person_id,), (p2.id == person_id,)] if person_id is not None else [()]
    )
    same_class = [e1.grad_year == e2.grad_year, e1.college_folded == e2.college_folded]  # 計算機學院 = 计算机学院

    def pairs(query: Any, *conditions: ColumnElement[bool]) -> list[Any]:
        return [query.where(p1.id < p2.id, *active, *conditions, *side).distinct().limit(limit) for side in sides]

    by_education = (
        select(p1.id, p2.id)
        .select_from(e1)
        .join(e2, e1.person_id != e2.person_id)
        .join(p1, p1.id == e1.person_id)
        .join(p2, p2.id == e2.person_id)
    )
    rules: dict[str, list[Any]] = {
        "student_no": pairs(by_education, e1.student_no == e2.student_no),
        "name_year_college": pairs(by_education, p1.name_simplified == p2.name_simplified, *same_class),
        "pinyin_year_college": pairs(
            by_education, p1.name_pinyin == p2.name_pinyin, p1.name_simplified != p2.name_simplified, *same_class
        ),
        "id_number": pairs(select(p1.id, p2.id).join(p2, p1.id_hmac == p2.id_hmac), p1.id_hmac.is_not(None)),
        "phone": pairs(
            select(p1.id, p2.id)
            .select_from(c1)
            .join(c2, and_(c1.blind_index == c2.blind_index, c1.kind == c2.kind))
            .join(p1, p1.id == c1.person_id)
            .join(p2, p2.id == c2.person_id),
            c1.kind == "phone",
        ),
    }
    found: dict[tuple[int, int], list[str]] = {}
    for reason, queries in rules.items():
        for query in queries:
            for first, second in session.execute(query):
                found.setdefault((first, second), []).append(reason)
    # A name written in traditional characters on one record and simplified on the other is worth saying.
    if found:
        ids = {i for pair in found for i in pair}
        names = {pid: name for pid, name in session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))}
        for (first, second), reasons in found.items():
            if "name_year_college" in reasons and names[first] != names[second]:
                reasons.append("simplified_traditional")
    ranked = sorted(found.items(), key=lambda item: (-len(item[1]), item[0]))
    return [Candidate(a, b, tuple(r)) for (a, b), r in ranked[:limit]]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _source(session: Session, cache: dict[int | None, str], batch_id: int | None) -> str:
    if batch_id not in cache:
        cache[batch_id] = (
            session.scalar(select(DatabankBatch.source).where(DatabankBatch.id == batch_id)) if batch_id else None
        ) or "other"
    return cache[batch_id]


def merge(session: Session, keep_id: int, other_id: int, *, actor: str) -> PersonMerge:  # noqa: PLR0912
    """Fold ``other_id`` into ``keep_id``, field by field by source trust. Undo with :func:`undo_merge`."""
    if keep_id == other_id:
        raise ValidationFailed("cannot merge a person with themself", user_message=T["alumni_merge_self"])
    keep, other = session.get(Person, keep_id), session.get(Person, other_id)
    if keep is None or other is None:
        raise NotFound(f"person {keep_id if keep is None else other_id}")
    for person in (keep, other):
        if person.status != ACTIVE:
            raise Conflict(
                f"person {person.id} is {person.status}", user_message=T["alumni_merge_inactive"].format(id=person.id)
            )
        ensure_processable(person)
    batch = DatabankBatch(
        kind=MERGE,
        source="other",
        actor=actor,
        label=f"merge {other_id} into {keep_id}",
        status="completed",
        finished_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    kept_before = {c: _jsonable(getattr(keep, c)) for cols in FIELDS.values() for c in cols}
    snapshot: dict[str, Any] = {
        "kept": kept_before,
        "provenance": dict(keep.provenance or {}),
        "moved": {},
        "added_names": [],
    }
    cache: dict[int | None, str] = {}
    provenance = dict(keep.provenance or {})
    old_name = (keep.name, keep.name_simplified, keep.name_pinyin, keep.name_initials)
    for key, columns in FIELDS.items():
        mine, theirs = getattr(keep, columns[0]), getattr(other, columns[0])
        if theirs is None or theirs == mine:
            continue
        their_batch = (other.provenance or {}).get(key, other.batch_id)
        my_rank = TRUST[_source(session, cache, provenance.get(key, keep.batch_id))]
        if mine is None or TRUST[_source(session, cache, their_batch)] < my_rank:
            for column in columns:
                setattr(keep, column, getattr(other, column))
            provenance[key] = their_batch
    keep.provenance = provenance
    keep.updated_at = utcnow()

    for table, model in CHILDREN.items():
        query = select(model.id).where(model.person_id == other_id)
        if model is ContactPoint:  # the kept person already has this value: leave the copy with the merged one
            mine_indexes = select(ContactPoint.blind_index).where(ContactPoint.person_id == keep_id)
            query = query.where(ContactPoint.blind_index.not_in(mine_indexes))
        ids = list(session.scalars(query))
        if ids:
            session.execute(update(model).where(model.id.in_(ids)).values(person_id=keep_id))
        snapshot["moved"][table] = ids

    # Both names stay searchable on the kept person.
    existing = set(session.scalars(select(PersonName.name_simplified).where(PersonName.person_id == keep_id)))
    for name, simplified, pinyin, initials in {
        old_name,
        (other.name, other.name_simplified, other.name_pinyin, other.name_initials),
    }:
        if simplified != keep.name_simplified and simplified not in existing:
            alias = PersonName(
                person_id=keep_id,
                kind="merged",
                name=name,
                name_simplified=simplified,
                name_pinyin=pinyin,
                name_initials=initials,
                batch_id=batch.id,
            )
            session.add(alias)
            session.flush()
            snapshot["added_names"].append(alias.id)
            existing.add(simplified)

    other.status = MERGED
    other.merged_into_id = keep_id
    record = PersonMerge(kept_id=keep_id, merged_id=other_id, batch_id=batch.id, actor=actor, snapshot=snapshot)
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="person.merge", person_id=keep_id, merged_id=other_id, merge_id=record.id)
    return record


def undo_merge(session: Session, merge_id: int, *, actor: str, undo_days: int, now: datetime | None = None) -> None:
    record = session.get(PersonMerge, merge_id)
    if record is None:
        raise NotFound(f"merge {merge_id}")
    if record.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone", user_message=T["alumni_unmerge_done"])
    now = now or utcnow()
    if now - record.merged_at > timedelta(days=undo_days):
        raise UndoExpired(
            f"merge {merge_id} is older than {undo_days} days",
            user_message=T["alumni_unmerge_expired"].format(days=undo_days),
        )
    keep, other = session.get(Person, record.kept_id), session.get(Person, record.merged_id)
    assert keep is not None and other is not None
    if keep.status != ACTIVE or other.status != MERGED or other.merged_into_id != keep.id:
        raise UndoExpired(
            f"merge {merge_id}: a later merge or erasure depends on it", user_message=T["alumni_unmerge_depends"]
        )
    snapshot = record.snapshot
    for column, value in snapshot["kept"].items():
        setattr(keep, column, date.fromisoformat(value) if column == "birth_date" and value else value)
    keep.provenance = snapshot["provenance"]
    for table, ids in snapshot["moved"].items():
        model = CHILDREN[table]
        if ids:
            session.execute(
                update(model).where(model.id.in_(ids), model.person_id == keep.id).values(person_id=other.id)
            )
    for alias_id in snapshot["added_names"]:
        alias = session.get(PersonName, alias_id)
        if alias is not None:
            session.delete(alias)
    other.status = ACTIVE
    other.merged_into_id = None
    record.undone_at = now
    audit.record(
        session, actor=actor, action="person.merge_undone", person_id=keep.id, merged_id=other.id, merge_id=record.id
    )
    session.flush()


@dataclass(frozen=True)
class MergeSummary:
    id: int
    kept_id: int
    merged_id: int
    actor: str
    merged_at: datetime
    undone_at: datetime | None
    undoable: bool  # not undone and within ``undo_days`` (undoing may still find a later change depends on it)


def recent_merges(
    session: Session, *, undo_days: int, limit: int, person_id: int | None = None, now: datetime | None = None
) -> list[MergeSummary]:
    """The newest merges first (those of ``person_id``, kept or merged, when given), each saying whether the undo
    window is still open."""
    now = now or utcnow()
    query = select(PersonMerge).order_by(PersonMerge.id.desc()).limit(limit)
    if person_id is not None:
        query = query.where(or_(PersonMerge.kept_id == person_id, PersonMerge.merged_id == person_id))
    return [
        MergeSummary(
            m.id,
            m.kept_id,
            m.merged_id,
            m.actor,
            m.merged_at,
            m.undone_at,
            m.undone_at is None and now - m.merged_at <= timedelta(days=undo_days),
        )
        for m in session.scalars(query)
    ]
