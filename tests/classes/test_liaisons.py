"""Liaison appointments: one current primary per cohort, deputies, terms, the shared contact, and the scope."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, ClassCohort, ClassLiaison
from services import classes, staff
from services.classes import liaisons
from services.databank import importer
from services.databank.keys import Keyring
from tests.databank.conftest import row, write_csv

TODAY = date(2026, 12, 7)


@pytest.fixture
def cohorts(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, ClassCohort]:
    rows = [row("张伟", "2015001", 班级="软件1501"), row("李娜", "2015002", 班级="软件1502")]
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", rows), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    session.commit()
    return {c.label: c for c in session.scalars(select(ClassCohort))}


def _appoint(session: Session, keyring: Keyring, cohort: ClassCohort, **kwargs: Any) -> ClassLiaison:
    values: dict[str, Any] = {"name": "王老师", "role": "primary", "term_start": TODAY, "actor": "staff:li"}
    return liaisons.appoint(session, keyring, cohort.id, **(values | kwargs))


def test_one_current_primary_and_any_deputies(session, keyring, cohorts) -> None:
    cohort = cohorts["计算机学院 2015级 软件1501"]
    first = _appoint(session, keyring, cohort, contact="wx: wang_teacher")
    deputy = _appoint(session, keyring, cohort, name="Ms Smith", role="deputy", language="en")
    with pytest.raises(Conflict) as taken:
        _appoint(session, keyring, cohort, name="赵老师")
    assert "已有一位在任的主联络人" in taken.value.user_message
    assert liaisons.current(session, cohort.id, today=TODAY) == [first, deputy]
    assert liaisons.contact(keyring, first) == "wx: wang_teacher"
    assert "wang_teacher" not in (first.contact_encrypted or "")
    liaisons.end(session, first.id, actor="staff:li")
    assert _appoint(session, keyring, cohort, name="赵老师").name == "赵老师"
    audited = select(AuditEntry).where(AuditEntry.action.like("class.%")).order_by(AuditEntry.id)
    actions = [e.action for e in session.scalars(audited)]
    assert actions == ["class.liaison_appoint"] * 2 + ["class.liaison_end", "class.liaison_appoint"]


def test_terms_and_the_grade_liaison_serves_a_class_without_one(session, keyring, cohorts) -> None:
    grade, klass = cohorts["计算机学院 本科 2015级"], cohorts["计算机学院 2015级 软件1501"]
    grade_liaison = _appoint(session, keyring, grade, term_end=TODAY + timedelta(days=365))
    assert liaisons.current(session, klass.id, today=TODAY) == [grade_liaison]
    assert liaisons.current(session, klass.id, today=TODAY + timedelta(days=366)) == []  # the term ended
    assert liaisons.current(session, klass.id, today=TODAY - timedelta(days=1)) == []  # not yet begun


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": " "}, "name"),
        ({"role": "chair"}, "role"),
        ({"language": "fr"}, "language"),
        ({"term_end": TODAY - timedelta(days=1)}, "term"),
        ({"contact": "x" * 129}, "contact"),
    ],
)
def test_bad_appointments_are_refused(session, keyring, cohorts, fields, code) -> None:
    with pytest.raises(ValidationFailed, match=code):
        _appoint(session, keyring, cohorts["计算机学院 2015级 软件1501"], **fields)


def test_a_liaison_account_sees_its_cohorts_and_a_grade_its_classes(session, keyring, cohorts) -> None:
    account = staff.create_account(
        session,
        username="liaison1",
        display_name="王",
        password="correct horse battery",
        roles=["class_liaison"],
        actor="t",
    )
    grade = cohorts["计算机学院 本科 2015级"]
    _appoint(session, keyring, grade, staff_account_id=account.id, term_start=date.today())
    scope = liaisons.scope(session, account.id, ["class_liaison"])
    assert scope == frozenset(
        {grade.id, cohorts["计算机学院 2015级 软件1501"].id, cohorts["计算机学院 2015级 软件1502"].id}
    )
    assert liaisons.scope(session, account.id, ["class_liaison", "officer"]) is None  # an officer sees every cohort
    assert liaisons.scope(session, account.id + 1, ["class_liaison"]) == frozenset()
    liaisons.ensure_in_scope(grade.id, scope)
    with pytest.raises(NotFound):
        liaisons.ensure_in_scope(grade.id, frozenset())
