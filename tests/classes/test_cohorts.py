"""Building grades and classes from the databank: keys, labels, roster sizes, idempotence, staff edits, moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli.commands import main
from core.runtime import Runtime
from core.settings import Settings
from jobs import JOBS, JobContext
from models import ClassCohort, ClassCohortRecord, EducationRecord, Person
from services import classes
from services.databank import importer, merge, privacy
from services.databank.keys import Keyring
from tests.databank.conftest import row, write_csv


def _import(session: Session, settings: Settings, keyring: Keyring, path: Path, rows: list[list[Any]]) -> None:
    importer.import_file(
        session, write_csv(path, rows), keyring=keyring, settings=settings.databank, actor="t", source="registrar"
    )


def _cohorts(session: Session) -> dict[str, ClassCohort]:
    return {c.label: c for c in session.scalars(select(ClassCohort))}


def _cohort_of(session: Session, student_no: str) -> ClassCohort:
    cohort = session.scalars(
        select(ClassCohort)
        .join(ClassCohortRecord, ClassCohortRecord.cohort_id == ClassCohort.id)
        .join(EducationRecord, EducationRecord.id == ClassCohortRecord.education_record_id)
        .where(EducationRecord.student_no == student_no)
    ).one_or_none()
    assert cohort is not None, f"{student_no} has no cohort"
    return cohort


ROSTER = [
    row("张伟", "2015001", 学院="计算机学院", 专业="软件工程", 班级="软件1501"),
    row("李娜", "2015002", 学院="計算機學院", 专业="軟件工程", 班级="軟件1501"),  # the same class, traditional
    row("王芳", "2015003", 学院="计算机学院", 专业="人工智能", 班级="智能1501"),
    row("赵强", "2015004", 学院="计算机学院", 专业="人工智能", 班级=""),  # no class: belongs to the grade
    row("刘洋", "2016001", 学院="计算机学院", 专业="软件工程", 班级="软件1601", 入学年份="2016", 毕业年份="2020"),
    row("陈静", "2012001", 学院="法学院", 专业="法学", 班级="", 入学年份="", 毕业年份="2016"),  # 2016届
    row("杨光", "2011001", 学院="法学院", 专业="法学", 班级="法学1101", 学历="硕士", 入学年份="2011", 毕业年份="2014"),
]


def test_build_derives_grades_and_classes_with_folded_keys(session, db_settings, keyring, tmp_path) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    report = classes.build(session)
    session.commit()
    cohorts = _cohorts(session)
    assert set(cohorts) == {
        "计算机学院 本科 2015级",
        "计算机学院 2015级 软件1501",
        "计算机学院 2015级 智能1501",
        "计算机学院 本科 2016级",
        "计算机学院 2016级 软件1601",
        "法学院 本科 2016届",
        "法学院 硕士 2011级",
        "法学院 2011级 法学1101",
    }
    assert (report.grades, report.classes, report.created, report.records_moved) == (4, 4, 8, 7)
    grade, software, ai = (
        cohorts["计算机学院 本科 2015级"],
        cohorts["计算机学院 2015级 软件1501"],
        cohorts["计算机学院 2015级 智能1501"],
    )
    assert (software.roster_size, ai.roster_size, grade.roster_size) == (2, 1, 4)
    assert software.parent_id == ai.parent_id == grade.id and grade.parent_id is None
    assert (software.major, ai.major, grade.major) == ("软件工程", "人工智能", None)  # a grade of two majors names none
    assert software.grad_year == 2019 and software.kind == "class" and grade.kind == "grade"
    assert _cohort_of(session, "2015002").id == software.id  # 計算機學院 / 軟件1501 is the same class
    assert _cohort_of(session, "2015004").id == grade.id  # no class named: the grade
    law = cohorts["法学院 本科 2016届"]
    assert (law.year_basis, law.year, law.roster_size) == ("grad", 2016, 1)


def test_a_second_build_changes_nothing_and_keeps_ids(session, db_settings, keyring, tmp_path) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    classes.build(session)
    session.commit()
    before = {label: (c.id, c.roster_size, c.parent_id) for label, c in _cohorts(session).items()}
    again = classes.build(session)
    session.commit()
    session.expire_all()
    assert (again.created, again.records_moved, again.emptied) == (0, 0, 0)
    assert {label: (c.id, c.roster_size, c.parent_id) for label, c in _cohorts(session).items()} == before


def test_staff_edits_survive_a_rebuild_but_roster_sizes_follow_the_databank(
    session, db_settings, keyring, tmp_path
) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    classes.build(session)
    software = _cohorts(session)["计算机学院 2015级 软件1501"]
    software.label, software.edited = "软件工程 2015级 1班", True
    session.commit()
    _import(session, db_settings, keyring, tmp_path / "more.csv", [row("周敏", "2015009", 班级="软件1501")])
    classes.build(session)
    session.commit()
    session.expire_all()
    edited = session.get(ClassCohort, software.id)
    assert edited is not None
    assert (edited.label, edited.roster_size) == ("软件工程 2015级 1班", 3)
    assert _cohort_of(session, "2015009").id == software.id


def test_a_moved_record_follows_and_an_emptied_cohort_stays_with_no_one(
    session, db_settings, keyring, tmp_path
) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    classes.build(session)
    session.commit()
    ai = _cohorts(session)["计算机学院 2015级 智能1501"]
    # The registrar's corrected roster puts 王芳 in the software class: the AI class is left empty.
    _import(
        session, db_settings, keyring, tmp_path / "fix.csv", [row("王芳", "2015003", 专业="人工智能", 班级="软件1501")]
    )
    report = classes.build(session)
    session.commit()
    session.expire_all()
    assert (report.records_moved, report.emptied, report.created) == (1, 1, 0)
    assert _cohort_of(session, "2015003").label == "计算机学院 2015级 软件1501"
    emptied = session.get(ClassCohort, ai.id)
    assert emptied is not None and emptied.roster_size == 0


def test_a_rebuild_moves_places_and_unplaces_records_together(session, db_settings, keyring, tmp_path) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    classes.build(session)
    session.commit()
    placed = session.scalar(select(func.count()).select_from(ClassCohortRecord))
    assert placed == len(ROSTER)
    # A correction moves 王芳 to the software class and adds 周敏; a record that loses both years leaves its grade.
    fix = [row("王芳", "2015003", 专业="人工智能", 班级="软件1501"), row("周敏", "2015009", 班级="软件1501")]
    _import(session, db_settings, keyring, tmp_path / "fix.csv", fix)
    yearless = session.scalars(select(EducationRecord).where(EducationRecord.student_no == "2015004")).one()
    yearless.entry_year = yearless.grad_year = None
    session.commit()
    report = classes.build(session)
    session.commit()
    session.expire_all()
    assert report.records_moved == 3  # moved, placed anew, unplaced: each once
    assert _cohort_of(session, "2015003").label == _cohort_of(session, "2015009").label == "计算机学院 2015级 软件1501"
    assert session.get(ClassCohortRecord, yearless.id) is None
    assert session.scalar(select(func.count()).select_from(ClassCohortRecord)) == placed  # +1 new, -1 yearless
    cohorts = _cohorts(session)
    assert cohorts["计算机学院 2015级 软件1501"].roster_size == 4
    assert cohorts["计算机学院 本科 2015级"].roster_size == 4  # 赵强 has no year now: not in the grade
    again = classes.build(session)
    assert again.records_moved == 0


def test_merged_and_anonymised_people_are_not_counted(session, db_settings, keyring, tmp_path) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    ids = {p.name: p.id for p in session.scalars(select(Person))}
    privacy.anonymise(session, keyring, ids["张伟"], actor="t")
    session.commit()
    merge.merge(session, ids["王芳"], ids["赵强"], actor="t")  # 赵强's record moves to 王芳, who stays counted once
    session.commit()
    classes.build(session)
    session.commit()
    software = _cohort_of(session, "2015002")  # 李娜's class: 张伟 (anonymised) left it
    assert software.roster_size == 1
    # The grade: 李娜, and 王芳 once although she now has 赵强's record too; not 张伟.
    assert session.get(ClassCohort, software.parent_id).roster_size == 2


def test_the_build_command_reports_what_it_did(session, db_settings, keyring, tmp_path, redis_url) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    session.commit()
    env = {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": db_settings.database_url,
        "REDIS_URL": redis_url,
    }
    first = CliRunner().invoke(main, ["classes", "build"], env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "4 grades and 4 classes (8 new); 7 education records moved" in first.output
    again = CliRunner().invoke(main, ["classes", "build"], env=env, catch_exceptions=False)
    assert "(0 new); 0 education records moved" in again.output
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ClassCohort)) == 8


def test_the_scheduler_builds_cohorts_nightly(session, db_settings, keyring, tmp_path) -> None:
    _import(session, db_settings, keyring, tmp_path / "r.csv", ROSTER)
    session.commit()
    (job,) = [spec for spec in JOBS if spec.id == "classes.build"]
    assert str(job.trigger(db_settings)).startswith("cron[month='*', day='*', day_of_week='*', hour='19', minute='50'")
    rt = Runtime.build(db_settings)
    try:
        report = job.func(JobContext(rt))
    finally:
        rt.close()
    assert (report.grades, report.classes, report.created) == (4, 4, 8)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ClassCohort)) == 8
