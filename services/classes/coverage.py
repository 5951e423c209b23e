"""Coverage: how much of a cohort its group reaches, the classmates not reached yet, and the office's overview.

A cohort's roster size comes from the databank (the cohort build); joined and verified are the cohort's membership
counters (kept with every membership write), so the office's page of 20,000 cohorts sorts on stored columns instead
of counting memberships. A roster is read through the cohort's placements (``class_cohort_records``, indexed by
cohort) a page at a time by person id, so newest joins never re-shuffle a page. Names leave this module in clear
only for a caller that may reveal them; the edges mask them otherwise (``services.databank.keys.mask``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Exists, Select, and_, case, exists, func, literal, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from models.classes import ClassCohort, ClassCohortRecord, ClassLiaison, ClassMembership
from models.person import ACTIVE, EducationRecord, Person

SORTS = ("coverage", "-coverage", "roster", "-roster", "label")


@dataclass(frozen=True)
class Coverage:
    cohort_id: int
    label: str
    roster: int
    joined: int
    verified: int
    has_liaison: bool

    @property
    def percent(self) -> float:
        """Joined as a share of the roster (0 for an empty roster), one decimal."""
        return round(100 * self.joined / self.roster, 1) if self.roster else 0.0


@dataclass(frozen=True)
class Classmate:
    person_id: int
    name: str
    student_no: str
    joined: bool
    verified: bool
    flagged: bool


def _coverage(row: Any) -> Coverage:
    cohort_id, label, roster_size, joined, verified, has_liaison = row
    return Coverage(cohort_id, label, roster_size, joined, verified, bool(has_liaison))


def _ratio() -> ColumnElement[float]:
    return case(
        (ClassCohort.roster_size > 0, ClassCohort.joined_count * literal(1.0) / ClassCohort.roster_size), else_=0
    )


def _with_liaison() -> Exists:
    return (
        exists().where(ClassLiaison.cohort_id == ClassCohort.id, ClassLiaison.ended_at.is_(None)).correlate(ClassCohort)
    )


def _coverage_query(cohorts: frozenset[int] | None, *, without_liaison: bool) -> Select[int, str, int, int, int, bool]:
    has = _with_liaison()
    query = select(
        ClassCohort.id,
        ClassCohort.label,
        ClassCohort.roster_size,
        ClassCohort.joined_count,
        ClassCohort.verified_count,
        has,
    ).where(ClassCohort.roster_size > 0)
    if cohorts is not None:
        query = query.where(ClassCohort.id.in_(cohorts))
    if without_liaison:
        query = query.where(~has)
    return query


def overview(
    session: Session,
    *,
    cohorts: frozenset[int] | None = None,
    sort: str = "coverage",
    without_liaison: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Coverage], bool]:
    """A page of cohorts with their coverage (``cohorts``: the caller's scope, None for all), and whether another
    page follows. ``sort``: one of :data:`SORTS` (a leading ``-`` sorts descending)."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    keys: dict[str, ColumnElement[Any] | InstrumentedAttribute[Any]] = {
        "coverage": _ratio(),
        "roster": ClassCohort.roster_size,
        "label": ClassCohort.label,
    }
    key = keys[sort.lstrip("-")]
    ordered = key.desc() if sort.startswith("-") else key.asc()
    query = _coverage_query(cohorts, without_liaison=without_liaison).order_by(ordered, ClassCohort.id)
    rows = session.execute(query.offset(offset).limit(limit + 1)).all()
    return [_coverage(row) for row in rows[:limit]], len(rows) > limit


def all_rows(session: Session, *, cohorts: frozenset[int] | None = None) -> Iterator[Coverage]:
    """Every cohort's coverage, by label (the office's .xlsx export), streamed."""
    query = _coverage_query(cohorts, without_liaison=False).order_by(ClassCohort.label, ClassCohort.id)
    for row in session.execute(query.execution_options(yield_per=2000)):
        yield _coverage(row)


def of_cohort(session: Session, cohort_id: int) -> Coverage | None:
    row = session.execute(_coverage_query(frozenset({cohort_id}), without_liaison=False)).first()
    return _coverage(row) if row else None


def _members_of(cohort: ClassCohort) -> ColumnElement[bool]:
    """Placements in the cohort: its own, and for a grade its classes' too."""
    if cohort.kind == "grade":
        classes = select(ClassCohort.id).where(ClassCohort.parent_id == cohort.id)
        return ClassCohortRecord.cohort_id.in_(classes.union(select(literal(cohort.id))))
    return ClassCohortRecord.cohort_id == cohort.id


def roster(
    session: Session, cohort: ClassCohort, *, after_person_id: int = 0, limit: int = 50, not_joined: bool = False
) -> tuple[list[Classmate], bool]:
    """A page of the cohort's classmates (active people, by person id after ``after_person_id``) with whether each
    joined, and whether another page follows. ``not_joined``: only those the group has not reached yet."""
    member = ClassMembership
    joined_here = and_(member.person_id == Person.id, member.cohort_id == cohort.id)
    query = (
        select(
            Person.id,
            Person.name,
            func.min(EducationRecord.student_no),
            func.count(member.id),
            func.max(case((member.verified, 1), else_=0)),
            func.max(case((member.flagged, 1), else_=0)),
        )
        .join(EducationRecord, EducationRecord.person_id == Person.id)
        .join(ClassCohortRecord, ClassCohortRecord.education_record_id == EducationRecord.id)
        .outerjoin(member, joined_here)
        .where(_members_of(cohort), Person.status == ACTIVE, Person.id > after_person_id)
        .group_by(Person.id, Person.name)
        .order_by(Person.id)
        .limit(limit + 1)
    )
    if not_joined:
        query = query.having(func.count(member.id) == 0)
    rows = session.execute(query).all()
    people = [Classmate(pid, name, no, bool(n), bool(v), bool(f)) for pid, name, no, n, v, f in rows[:limit]]
    return people, len(rows) > limit
