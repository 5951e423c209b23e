"""Coverage: a cohort's counters as a percentage, the office's sorted overview, a roster and who is not reached."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from models import ClassCohort, Person
from services import classes
from services.classes import coverage, liaisons, membership
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import row, write_csv

ROSTER = [
    row("张伟", "2015001", 班级="软件1501"),
    row("李娜", "2015002", 班级="软件1501"),
    row("王芳", "2015003", 班级="软件1501"),
    row("赵强", "2015004", 班级="软件1501"),
    row("刘洋", "2015005", 班级="软件1502"),
    row("陈静", "2015006", 班级="软件1502"),
]


@pytest.fixture
def setup(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, int]:
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", ROSTER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    ids = {p.name: p.id for p in session.scalars(select(Person))}
    ids |= {c.label: c.id for c in session.scalars(select(ClassCohort))}
    one, two = ids["计算机学院 2015级 软件1501"], ids["计算机学院 2015级 软件1502"]
    membership.join(session, one, channel="bot", person_id=ids["张伟"])
    joined = membership.join(session, one, channel="bot", person_id=ids["李娜"])
    membership.vouch(session, joined.membership.id, actor="liaison:x", cohort_ids=None)
    membership.join(session, two, channel="bot", person_id=ids["刘洋"])
    membership.join(session, two, channel="bot", person_id=ids["陈静"])
    liaisons.appoint(session, keyring, one, name="王老师", role="primary", term_start=date(2026, 1, 1), actor="t")
    session.commit()
    return ids


def test_the_overview_sorts_by_coverage_and_finds_cohorts_without_a_liaison(session, setup) -> None:
    rows, more = coverage.overview(session, sort="coverage")
    assert not more
    assert [(r.label, r.roster, r.joined, r.verified, r.percent, r.has_liaison) for r in rows] == [
        ("计算机学院 本科 2015级", 6, 0, 0, 0.0, False),  # nobody joined the grade itself
        ("计算机学院 2015级 软件1501", 4, 2, 1, 50.0, True),
        ("计算机学院 2015级 软件1502", 2, 2, 0, 100.0, False),
    ]
    top, more = coverage.overview(session, sort="-coverage", limit=1)
    assert [r.label for r in top] == ["计算机学院 2015级 软件1502"] and more
    orphans, _ = coverage.overview(session, without_liaison=True, sort="label")
    assert [r.label for r in orphans] == ["计算机学院 2015级 软件1502", "计算机学院 本科 2015级"]
    scoped, _ = coverage.overview(session, cohorts=frozenset({setup["计算机学院 2015级 软件1501"]}))
    assert [r.label for r in scoped] == ["计算机学院 2015级 软件1501"]
    assert [r.label for r in coverage.all_rows(session)] == [
        "计算机学院 2015级 软件1501",
        "计算机学院 2015级 软件1502",
        "计算机学院 本科 2015级",
    ]
    with pytest.raises(ValueError, match="unknown sort"):
        coverage.overview(session, sort="name; drop table")


def test_a_roster_page_by_page_and_the_classmates_not_reached(session, setup) -> None:
    cohort = session.get(ClassCohort, setup["计算机学院 2015级 软件1501"])
    first, more = coverage.roster(session, cohort, limit=3)
    assert more and [(c.name, c.joined, c.verified) for c in first] == [
        ("张伟", True, False),
        ("李娜", True, True),
        ("王芳", False, False),
    ]
    rest, more = coverage.roster(session, cohort, after_person_id=first[-1].person_id, limit=3)
    assert not more and [c.name for c in rest] == ["赵强"]
    missing, _ = coverage.roster(session, cohort, not_joined=True)
    assert [(c.name, c.student_no) for c in missing] == [("王芳", "2015003"), ("赵强", "2015004")]
    grade = session.get(ClassCohort, cohort.parent_id)
    everyone, _ = coverage.roster(session, grade)
    assert len(everyone) == 6 and not any(c.joined for c in everyone)  # joined a class, not the grade
