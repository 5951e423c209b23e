"""Building class cohorts from the databank, and the rules about a cohort's shown fields.

``build`` groups every education record by its cohort key (institution, folded college, level, year, folded class
label: ``models.classes``), creates the grades and classes it has not seen, refreshes the shown fields and roster
sizes of those it has, and places every education record in its cohort (``ClassCohortRecord``). It is idempotent:
a second run changes nothing but ``built_at``. It reads the records grouped by cohort key and label (a few tens of
thousands of rows at a million alumni), decides in Python, writes cohorts by executemany, places records (below),
and counts each cohort's people in two grouped scans of the placements.

Placing records. A placement is a row of the narrow ``class_cohort_records`` table (record, cohort), not a column of
``education_records``. The column (``UPDATE education_records SET cohort_id … FROM class_cohorts``) made the first
build at a million alumni take 80-180 s (bench-classes, ``bench/RESULTS.md``): every one of the million wide rows got
a new version (not HOT: the column is indexed) written into all eight of the table's indexes, about 2 GB of WAL.
So a build first deletes the placements that no longer hold (a record without a year any more, a record whose key
now names another cohort), each DELETE driven by the placements (a join from ``class_cohort_records``, skipped while
the table is empty, read-only when nothing moved), then inserts every record's placement with one ``INSERT … SELECT
… ON CONFLICT (education_record_id) DO NOTHING``: the placements that still hold are skipped at the primary key
without a write, so a rebuild with nothing moved writes nothing, and the first build writes a million two-column rows
(255 MB of WAL; the whole first build 44-56 s on a quiet machine, 105-183 s on a loaded one, of which the two
foreign-key checks per row are about 42 s). The missing placements are deliberately not found by ``WHERE NOT EXISTS
(SELECT … FROM class_cohort_records …)``: planned while the table was (analysed) empty, that anti-join became a
nested loop rescanning the very table the statement fills, quadratic, and ran for minutes (commit bc8c363,
reverted). For the same reason PostgreSQL analyses ``class_cohorts`` after new cohorts are added, so the join that
finds each record's cohort is planned with the real number of cohorts.

Roster sizes count active people (merged and anonymised people are nobody's classmates any more). A cohort whose
people all left keeps its row (its group, liaisons and members hang off it) with a roster size of 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, insert, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import texts
from core.db import rowcount
from core.errors import NotFound, ValidationFailed
from models.base import utcnow
from models.classes import CLASS, ENTRY, GRADE, GRADUATION, ClassCohort, ClassCohortRecord
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
    """The name people read, in the current language: 计算机学院 本科 2015级, or 计算机学院 2015级 计科1503班 (in
    English "计科1503班, 计算机学院, 2015 entry": the college and class names are the databank's, as written)."""
    kind, _institution, _college, level, basis, year, _class = key
    return texts.COHORT_LABELS[kind].format(
        college=college or texts.COHORT_NO_COLLEGE,
        level=texts.EDUCATION_LEVEL_NAMES.get(level, level),
        year=texts.COHORT_YEAR[basis].format(year=year),
        class_name=class_name or "",
    )


def shown_label(cohort: ClassCohort) -> str:
    """The cohort's label for the reader at hand. A build stores the label in the source language (the console and
    search use that one); unless staff edited it, it is composed again here from the same fields, so a reader of
    English does not get "2015级" in the middle of an English sentence. Staff's own wording is theirs and stays."""
    if cohort.edited:
        return cohort.label
    return label(_key_of(cohort), cohort.college, cohort.class_name)


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
    """Create and refresh every cohort from the education records and place each record in its cohort."""
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
    if created and session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE class_cohorts"))  # the placing join is planned with the real cohorts
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
    e, c, r = EducationRecord, ClassCohort, ClassCohortRecord
    placed = (
        select(r.cohort_id, e.person_id)
        .join(e, e.id == r.education_record_id)
        .join(Person, Person.id == e.person_id)
        .where(Person.status == ACTIVE)
        .subquery()
    )
    people = func.count(func.distinct(placed.c.person_id))
    own = session.execute(select(placed.c.cohort_id, people).group_by(placed.c.cohort_id))
    sizes: dict[int, int] = {cohort_id: n for cohort_id, n in own}
    grade = func.coalesce(c.parent_id, c.id)
    in_grade = session.execute(select(grade, people).join_from(placed, c, c.id == placed.c.cohort_id).group_by(grade))
    sizes.update({grade_id: n for grade_id, n in in_grade})
    return sizes


def _key_matches() -> Any:
    """An education record's key equals a cohort's: its class, else its grade (NULL for a record without a year)."""
    e, c = EducationRecord, ClassCohort
    return and_(
        c.institution == e.institution,
        c.college_key == func.coalesce(e.college_folded, ""),
        c.level == e.level,
        c.year_basis == _year_basis(),
        c.year == _year(),
        c.class_key == func.coalesce(e.class_name_folded, ""),  # '' only for a grade, never for a class
    )


def _placements() -> Select[int, int]:
    """(education record, cohort) for every record with a year: its class, else its grade, matched by the key."""
    return select(EducationRecord.id, ClassCohort.id).join(ClassCohort, _key_matches())


def _assign(session: Session) -> int:
    """Place each education record in its cohort (``ClassCohortRecord``): drop the placements that no longer hold,
    then add the missing ones (module docstring: why ``ON CONFLICT DO NOTHING``, not an anti-join). Returns how many
    records' cohort changed: placed anew or moved, plus unplaced (no year any more)."""
    r = ClassCohortRecord
    postgres = session.get_bind().dialect.name == "postgresql"
    unplaced = 0
    if session.scalar(select(r.education_record_id).limit(1)) is not None:  # nothing to drop before a first build
        unplaced = rowcount(session.execute(_drop(postgres, _year().is_(None), with_cohort=False)))
        session.execute(_drop(postgres, ~_key_matches(), with_cohort=True))
    insert_into = postgresql.insert if postgres else sqlite.insert
    # SQLite parses INSERT … SELECT … ON CONFLICT only when the SELECT has a WHERE (else ON reads as a join's).
    every = _placements().where(true())
    placing = (
        insert_into(r)
        .from_select([r.education_record_id, r.cohort_id], every)
        .on_conflict_do_nothing(index_elements=[r.education_record_id])
    )
    added = session.execute(placing.execution_options(preserve_rowcount=True))  # an INSERT's count only if asked
    return rowcount(added) + unplaced


def _drop(postgres: bool, gone: Any, *, with_cohort: bool) -> Any:
    """DELETE the placements whose record (and cohort) meet ``gone``, driven by the placements: a join on
    PostgreSQL (``DELETE … USING``: primary-key look-ups per placement, or one hash join when there are many),
    a correlated ``EXISTS`` on SQLite (no multi-table DELETE)."""
    e, c, r = EducationRecord, ClassCohort, ClassCohortRecord
    joined = [e.id == r.education_record_id, *([c.id == r.cohort_id] if with_cohort else []), gone]
    statement = delete(r).where(*joined) if postgres else delete(r).where(select(e.id).where(*joined).exists())
    return statement.execution_options(synchronize_session=False)


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
