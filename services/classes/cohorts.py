"""Building class cohorts from the databank, and the rules about a cohort's shown fields.

``build`` groups every education record by its cohort key (institution, folded college, level, year, folded class
label: ``models.classes``), creates the grades and classes it has not seen, refreshes the shown fields and roster
sizes of those it has, and points every education record at its cohort. It is idempotent: a second run changes
nothing but ``built_at``. It reads the records grouped by cohort key and label (a few tens of thousands of rows at
a million alumni), decides in Python, writes cohorts by executemany, assigns records with one ``UPDATE … FROM`` that
touches only records whose cohort changed (a rebuild after a small import writes little), and counts each cohort's
people in two grouped scans.

Roster sizes count active people (merged and anonymised people are nobody's classmates any more). A cohort whose
people all left keeps its row (its group, liaisons and members hang off it) with a roster size of 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from core import texts
from core.db import rowcount
from core.errors import NotFound, ValidationFailed
from models.base import utcnow
from models.classes import CLASS, ENTRY, GRADE, GRADUATION, ClassCohort
from models.person import ACTIVE, EducationRecord, Person
from services.databank import audit, names
from services.databank.names import label_key

Key = tuple[str, str, str, str, str, int, str]  # kind, institution, college key, level, year basis, year, class key


@dataclass(frozen=True)
class BuildReport:
    grades: int  # grade cohorts with at least one record
    classes: int  # class cohorts with at least one record
    created: int  # cohorts new in this build
    records_moved: int  # education records whose cohort changed
    emptied: int  # cohorts that had people and have none now


@dataclass
class _Group:
    """What the records of one cohort key say about it. Its shown labels are the ones most of its records use
    (ties: a simplified-Chinese label, then the smallest), so a build is deterministic and 计算机学院 wins a tie
    with 計算機學院."""

    colleges: Counter[str] = field(default_factory=Counter)
    majors: Counter[str] = field(default_factory=Counter)
    class_names: Counter[str] = field(default_factory=Counter)
    grad_year: int | None = None

    def add(self, college: str | None, major: str | None, class_name: str | None, records: int) -> None:
        for counter, value in ((self.colleges, college), (self.majors, major), (self.class_names, class_name)):
            if value:
                counter[value] += records

    def absorb(self, other: _Group) -> None:
        self.colleges.update(other.colleges)
        self.majors.update(other.majors)
        self.grad_year = _least(self.grad_year, other.grad_year)

    def shown(self) -> tuple[str | None, str | None, str | None]:
        """College, major (none when its records name several majors) and class label."""
        one_major = len({label_key(m) for m in self.majors}) == 1
        return _usual(self.colleges), _usual(self.majors) if one_major else None, _usual(self.class_names)


def _usual(counter: Counter[str]) -> str | None:
    if not counter:
        return None
    return min(counter.items(), key=lambda item: (-item[1], not names.is_simplified(item[0]), item[0]))[0]


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def label(key: Key, college: str | None, class_name: str | None) -> str:
    """The name people read: 计算机学院 本科 2015级, or 计算机学院 2015级 计科1503班."""
    kind, _institution, _college, level, basis, year, _class = key
    suffix = texts.COHORT_YEAR_SUFFIX[basis]
    template = texts.COHORT_LABELS[kind]
    return template.format(
        college=college or texts.COHORT_NO_COLLEGE,
        level=texts.EDUCATION_LEVEL_NAMES.get(level, level),
        year=f"{year}{suffix}",
        class_name=class_name or "",
    )


def _year_basis() -> Any:
    return case((EducationRecord.entry_year.is_not(None), ENTRY), else_=GRADUATION)


def _year() -> Any:
    return func.coalesce(EducationRecord.entry_year, EducationRecord.grad_year)


def _grouped(session: Session) -> dict[Key, _Group]:
    """Each class key (and the grade key of records that name no class) with what its records say."""
    e = EducationRecord
    college_key, class_key = func.coalesce(e.college_folded, ""), func.coalesce(e.class_name_folded, "")
    columns = (e.institution, college_key, e.level, _year_basis(), _year(), class_key)
    rows = session.execute(
        select(
            *columns,
            e.college,
            e.major,
            e.class_name,
            func.count(),
            func.min(e.grad_year),
        )
        .where(_year().is_not(None))
        .group_by(*columns, e.college, e.major, e.class_name)
    )
    groups: dict[Key, _Group] = defaultdict(_Group)
    for institution, college, level, basis, year, klass, *values in rows:
        college_label, major, class_name, records, grad_year = values
        group = groups[(CLASS if klass else GRADE, institution, college, level, basis, int(year), klass)]
        group.add(college_label, major, class_name, records)
        group.grad_year = _least(group.grad_year, grad_year)
    return groups


def _with_grades(groups: dict[Key, _Group]) -> dict[Key, _Group]:
    """Every class's grade, holding its classes' people and the records that name no class."""
    grades: dict[Key, _Group] = defaultdict(_Group)
    for key, group in groups.items():
        grades[(GRADE, *key[1:6], "")].absorb(group)
    return {**{k: g for k, g in groups.items() if k[0] == CLASS}, **grades}


def _key_of(c: ClassCohort) -> Key:
    return (c.kind, c.institution, c.college_key, c.level, c.year_basis, c.year, c.class_key)


def _shown(key: Key, group: _Group) -> dict[str, Any]:
    college, major, class_name = group.shown()
    class_name = class_name if key[0] == CLASS else None
    return {
        "label": label(key, college, class_name),
        "college": college,
        "major": major,
        "class_name": class_name,
        "grad_year": group.grad_year,
    }


def build(session: Session, *, now: datetime | None = None) -> BuildReport:
    """Create and refresh every cohort from the education records and point each record at its cohort."""
    now = now or utcnow()
    wanted = _with_grades(_grouped(session))
    existing = {_key_of(c): c for c in session.scalars(select(ClassCohort))}
    before = {c.id: c.roster_size for c in existing.values()}
    created = 0
    for kind in (GRADE, CLASS):  # grades first: a new class needs its grade's id
        new = [
            {
                "kind": kind,
                "institution": key[1],
                "college_key": key[2],
                "level": key[3],
                "year_basis": key[4],
                "year": key[5],
                "class_key": key[6],
                "parent_id": existing[(GRADE, *key[1:6], "")].id if kind == CLASS else None,
                "roster_size": 0,
                "joined_count": 0,
                "verified_count": 0,
                "built_at": now,
                "created_at": now,
                **_shown(key, group),
            }
            for key, group in wanted.items()
            if key[0] == kind and key not in existing
        ]
        if new:
            session.execute(insert(ClassCohort), new)
            created += len(new)
            added = session.scalars(select(ClassCohort).where(ClassCohort.kind == kind))
            existing.update({_key_of(c): c for c in added})
    moved = _assign(session)
    sizes = _roster_sizes(session)
    changes = []
    for key, cohort in existing.items():
        values = {"id": cohort.id, "roster_size": sizes.get(cohort.id, 0), "built_at": now}
        if key in wanted and not cohort.edited:
            values.update(_shown(key, wanted[key]))
        changes.append(values)
    if changes:
        session.execute(update(ClassCohort), changes)
    return BuildReport(
        grades=sum(1 for k in wanted if k[0] == GRADE),
        classes=sum(1 for k in wanted if k[0] == CLASS),
        created=created,
        records_moved=moved,
        emptied=sum(1 for i, size in before.items() if size and not sizes.get(i)),
    )


def _roster_sizes(session: Session) -> dict[int, int]:
    """Active people per cohort, each once: a class's own, and a grade's with its classes' (two grouped scans)."""
    e, c = EducationRecord, ClassCohort
    people = func.count(func.distinct(e.person_id))
    own = session.execute(
        select(e.cohort_id, people)
        .join(Person, Person.id == e.person_id)
        .where(Person.status == ACTIVE, e.cohort_id.is_not(None))
        .group_by(e.cohort_id)
    )
    sizes: dict[int, int] = {cohort_id: n for cohort_id, n in own if cohort_id is not None}
    grade = func.coalesce(c.parent_id, c.id)
    in_grade = session.execute(
        select(grade, people)
        .select_from(e)
        .join(c, c.id == e.cohort_id)
        .join(Person, Person.id == e.person_id)
        .where(Person.status == ACTIVE)
        .group_by(grade)
    )
    sizes.update({grade_id: n for grade_id, n in in_grade})
    return sizes


def _assign(session: Session) -> int:
    """Point each education record at its cohort (its class, else its grade); only records that change are written."""
    e, c = EducationRecord, ClassCohort
    matched = (
        update(e)
        .where(
            c.institution == e.institution,
            c.college_key == func.coalesce(e.college_folded, ""),
            c.level == e.level,
            c.year_basis == _year_basis(),
            c.year == _year(),
            c.class_key == func.coalesce(e.class_name_folded, ""),  # '' only for a grade, never for a class
            e.cohort_id.is_distinct_from(c.id),
        )
        .values(cohort_id=c.id)
        .execution_options(synchronize_session=False)
    )
    moved = rowcount(session.execute(matched))
    yearless = (
        update(e)
        .where(_year().is_(None), e.cohort_id.is_not(None))
        .values(cohort_id=None)
        .execution_options(synchronize_session=False)
    )
    return moved + rowcount(session.execute(yearless))


# --- staff edits ------------------------------------------------------------------------------------------------


def edit(
    session: Session,
    cohort_id: int,
    *,
    label: str,
    major: str | None,
    class_name: str | None,
    grad_year: int | None,
    actor: str,
) -> ClassCohort:
    """Staff set a cohort's shown fields (its key never changes); later builds keep them (``edited``). Audited."""
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    label = label.strip()
    major, class_name = (major or "").strip() or None, (class_name or "").strip() or None
    if not 0 < len(label) <= 160:
        raise ValidationFailed("label", user_message=texts.COHORT_EDIT_ERRORS["label"])
    if any(value is not None and len(value) > 64 for value in (major, class_name)):
        raise ValidationFailed("too long", user_message=texts.COHORT_EDIT_ERRORS["too_long"])
    if grad_year is not None and not 1900 <= grad_year <= 2100:
        raise ValidationFailed("grad_year", user_message=texts.COHORT_EDIT_ERRORS["grad_year"])
    after: dict[str, Any] = {"label": label, "major": major, "class_name": class_name, "grad_year": grad_year}
    changed = sorted(name for name, value in after.items() if getattr(cohort, name) != value)
    if changed:
        for name in changed:
            setattr(cohort, name, after[name])
        cohort.edited = True
        audit.record(session, actor=actor, action="class.cohort_edit", cohort_id=cohort_id, fields=changed)
    return cohort
