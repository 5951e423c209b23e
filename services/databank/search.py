"""Databank search: by Chinese name (simplified or traditional), full pinyin, pinyin initials or student number,
filtered by graduation year, college, major, class and city, a page at a time.

Every query is a prefix match on one indexed key, walked in index order and cut at the page, so it costs the same
at a million people as at a thousand (on PostgreSQL the keys use the "C" collation: one b-tree serves LIKE and
ORDER BY). Former names are searched alongside current ones. College, major and class filters compare folded
labels (``names.label_key``, stored in ``EducationRecord.*_folded``), so 计算机学院 finds 計算機學院 and the reverse.
Filters alone walk the (folded college | major | class | year, person) indexes, newest classes first. Paging is by
offset, capped (``databank.search_max_offset``); a page says whether another follows instead of counting every
match.

Results carry no contact data; restricted, merged and anonymised people are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, union_all
from sqlalchemy.orm import Session

from core import texts
from core.errors import ValidationFailed
from core.settings import DatabankSettings
from models import EducationRecord, Employment, Person, PersonName
from models.person import ACTIVE
from services.databank import names

T = texts.CONSOLE  # staff search here (the console, the CLI); its refusals say what to change
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTERS = re.compile(r"^[a-z]+$")
_STUDENT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z\-_/]*$")


@dataclass(frozen=True)
class EducationSummary:
    institution: str
    student_no: str
    college: str | None
    major: str | None
    class_name: str | None
    entry_year: int | None
    grad_year: int | None
    level: str
    international: bool


@dataclass(frozen=True)
class PersonSummary:
    person_id: int
    name: str
    matched: str  # the key that matched: a name, former name, pinyin, initials or student number
    deceased: bool
    city: str | None
    education: list[EducationSummary] = field(default_factory=list)


@dataclass(frozen=True)
class SearchPage:
    items: list[PersonSummary]
    page: int
    per_page: int
    has_next: bool


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(
    session: Session,
    settings: DatabankSettings,
    *,
    q: str = "",
    year: int | None = None,
    college: str | None = None,
    major: str | None = None,
    class_name: str | None = None,
    city: str | None = None,
    page: int = 1,
    per_page: int = 20,
    include_restricted: bool = False,
) -> SearchPage:
    if page < 1 or not 1 <= per_page <= settings.search_max_page_size:
        raise ValidationFailed(
            f"page must be >= 1 and per_page 1..{settings.search_max_page_size}",
            user_message=T["alumni_bad_page"],
        )
    offset = (page - 1) * per_page
    if offset > settings.search_max_offset:
        raise ValidationFailed(
            f"results beyond {settings.search_max_offset} are not paged; narrow the search",
            user_message=T["alumni_too_deep"].format(limit=settings.search_max_offset),
        )
    want = offset + per_page + 1

    filters: list[ColumnElement[bool]] = []
    college_key, major_key, class_key = (names.label_key(label) for label in (college, major, class_name))
    education_filter = [
        c
        for c in (
            EducationRecord.grad_year == year if year else None,
            EducationRecord.college_folded == college_key if college_key else None,
            EducationRecord.major_folded == major_key if major_key else None,
            EducationRecord.class_name_folded == class_key if class_key else None,
        )
        if c is not None
    ]
    if education_filter:
        filters.append(exists().where(EducationRecord.person_id == Person.id, *education_filter))
    if city:
        filters.append(exists().where(Employment.person_id == Person.id, Employment.city == city))
    visible: list[ColumnElement[bool]] = [Person.status == ACTIVE]
    if not include_restricted:
        visible.append(Person.restricted.is_(False))

    query = names.clean(q)
    hits: list[tuple[str, int]]
    if not query:
        if not education_filter and not city:
            raise ValidationFailed(
                "give a name, pinyin, student number, or at least one filter", user_message=T["alumni_no_query"]
            )
        hits = _by_filters(session, education_filter, city, visible, want)
    elif _HAN.search(query):
        hits = _by_name(session, ["name_simplified"], names.search_key(query), filters + visible, want)
    elif _LETTERS.match(query.lower().replace(" ", "")):
        letters = query.lower().replace(" ", "")
        hits = _by_name(session, ["name_pinyin", "name_initials"], letters, filters + visible, want)
    elif _STUDENT.match(query):
        hits = _by_student_no(session, query, filters + visible, want)
    else:
        raise ValidationFailed("unrecognised search text", user_message=T["alumni_bad_query"])

    window = hits[offset : offset + per_page + 1]
    return SearchPage(_hydrate(session, window[:per_page]), page, per_page, len(window) > per_page)


def _by_name(
    session: Session, columns: list[str], prefix: str, conditions: list[ColumnElement[bool]], want: int
) -> list[tuple[str, int]]:
    """One round trip: each key column of current and former names walked in index order, cut at ``want``."""
    pattern = _escape(prefix) + "%"
    branches = []
    for column in columns:
        current_col = getattr(Person, column)
        branches.append(
            select(current_col.label("key"), Person.id.label("pid"))
            .where(current_col.like(pattern, escape="\\"), *conditions)
            .order_by(current_col, Person.id)
            .limit(want)
            .subquery()
        )
        other_col = getattr(PersonName, column)
        branches.append(
            select(other_col.label("key"), PersonName.person_id.label("pid"))
            .join(Person, Person.id == PersonName.person_id)
            .where(other_col.like(pattern, escape="\\"), *conditions)
            .order_by(other_col, PersonName.person_id)
            .limit(want)
            .subquery()
        )
    rows = session.execute(union_all(*(select(b.c.key, b.c.pid) for b in branches)))
    found: dict[int, str] = {}
    for key, person_id in rows:
        if person_id not in found or key < found[person_id]:
            found[person_id] = key
    return sorted((key, pid) for pid, key in found.items())[:want]


def _by_student_no(
    session: Session, prefix: str, conditions: list[ColumnElement[bool]], want: int
) -> list[tuple[str, int]]:
    rows = session.execute(
        select(EducationRecord.student_no, EducationRecord.person_id)
        .join(Person, Person.id == EducationRecord.person_id)
        .where(EducationRecord.student_no.like(_escape(prefix) + "%", escape="\\"), *conditions)
        .order_by(EducationRecord.student_no, EducationRecord.person_id)
        .limit(want)
    )
    seen: dict[int, str] = {}
    for student_no, person_id in rows:
        seen.setdefault(person_id, student_no)
    return [(key, pid) for pid, key in seen.items()]


def _by_filters(
    session: Session,
    education_filter: list[ColumnElement[bool]],
    city: str | None,
    visible: list[ColumnElement[bool]],
    want: int,
) -> list[tuple[str, int]]:
    if education_filter:
        query: Any = (
            select(EducationRecord.grad_year, EducationRecord.person_id)
            .join(Person, Person.id == EducationRecord.person_id)
            .where(*education_filter, *visible)
            .order_by(EducationRecord.grad_year.desc(), EducationRecord.person_id.desc())
        )
        if city:
            query = query.where(exists().where(Employment.person_id == Person.id, Employment.city == city))
    else:
        query = (
            select(Employment.city, Employment.person_id)
            .join(Person, Person.id == Employment.person_id)
            .where(Employment.city == city, *visible)
            .order_by(Employment.person_id.desc())
        )
    seen: dict[int, str] = {}
    for key, person_id in session.execute(query.limit(want)):
        seen.setdefault(person_id, str(key or ""))
    return [(key, pid) for pid, key in seen.items()]


def summaries(session: Session, person_ids: list[int]) -> list[PersonSummary]:
    """These people as a search lists them (in this order; ids that do not exist are left out), whatever their
    status: the duplicates page shows both sides of a pair with it."""
    return _hydrate(session, [("", pid) for pid in person_ids])


def _hydrate(session: Session, hits: list[tuple[str, int]]) -> list[PersonSummary]:
    """The page's people with their education and current city, in one round trip."""
    ids = [pid for _, pid in hits]
    if not ids:
        return []
    rows = session.execute(
        select(
            Person.id,
            Person.name,
            Person.deceased,
            EducationRecord.institution,
            EducationRecord.student_no,
            EducationRecord.college,
            EducationRecord.major,
            EducationRecord.class_name,
            EducationRecord.entry_year,
            EducationRecord.grad_year,
            EducationRecord.level,
            EducationRecord.international,
            Employment.city,
        )
        .outerjoin(EducationRecord, EducationRecord.person_id == Person.id)
        .outerjoin(Employment, and_(Employment.person_id == Person.id, Employment.current.is_(True)))
        .where(Person.id.in_(ids))
        .order_by(Person.id, EducationRecord.entry_year, EducationRecord.id, Employment.id)
    )
    people: dict[int, tuple[str, bool]] = {}
    educations: dict[int, dict[tuple[str, str], EducationSummary]] = {}
    cities: dict[int, str | None] = {}
    for pid, name, deceased, institution, student_no, *education, city in rows:
        people[pid] = (name, deceased)
        cities.setdefault(pid, city)
        if student_no is not None:
            educations.setdefault(pid, {}).setdefault(
                (institution, student_no), EducationSummary(institution, student_no, *education)
            )
    return [
        PersonSummary(pid, people[pid][0], key, people[pid][1], cities.get(pid), list(educations.get(pid, {}).values()))
        for key, pid in hits
        if pid in people
    ]
