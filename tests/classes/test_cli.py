"""The classes commands as staff run them: find, appoint, group, coverage (.xlsx), roster (masked, revealed and
audited), vouch, and a liaison account kept to its own cohorts (``--as-staff``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from cli.commands import main
from core.settings import Settings
from models import AuditEntry, ClassCohort, Person
from services import classes, staff
from services.classes import membership
from services.databank import importer
from services.databank.keys import Keyring
from tests.classes.test_groups import WECHAT_LINK, qr_png
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS, row, write_csv


@pytest.fixture
def env(db_settings: Settings, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "XIAOYOU__ENVIRONMENT": "test",
        "XIAOYOU__VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": db_settings.database_url,
        "REDIS_URL": redis_url,
        "XIAOYOU__PRIVACY__ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "XIAOYOU__PRIVACY__HMAC_KEYS": HMAC_KEYS,
    }


def cli(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def cohorts(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> dict[str, int]:
    rows = [
        row("张伟", "2015001", 班级="软件1501"),
        row("李娜", "2015002", 班级="软件1501"),
        row("王芳", "2015003", 班级="软件1502"),
    ]
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", rows), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    staff.create_account(
        session,
        username="liaison1",
        display_name="王",
        password="correct horse battery",
        roles=["class_liaison"],
        actor="t",
    )
    session.commit()
    return {c.label: c.id for c in session.scalars(select(ClassCohort))}


def test_a_liaison_works_on_their_class_and_only_there(env, session, cohorts, tmp_path) -> None:
    mine, theirs = cohorts["计算机学院 2015级 软件1501"], cohorts["计算机学院 2015级 软件1502"]
    found = cli(env, "classes", "find", "--year", "2019", "-q", "1501")
    assert found.exit_code == 0 and f"{mine}\t计算机学院 2015级 软件1501" in found.output
    appointed = cli(
        env, "classes", "appoint", str(mine), "--name", "王老师", "--start", "2026-01-01", "--staff", "liaison1"
    )
    assert appointed.exit_code == 0, appointed.output
    qr = tmp_path / "qr.png"
    qr.write_bytes(qr_png(WECHAT_LINK))
    group = cli(env, "classes", "group", str(mine), "--name", "软件1501班", "--qr", str(qr), "--as-staff", "liaison1")
    assert group.exit_code == 0 and "registered for cohort" in group.output, group.output
    # Another class: as if it did not exist.
    refused = cli(env, "classes", "group", str(theirs), "--name", "x", "--qr", str(qr), "--as-staff", "liaison1")
    assert refused.exit_code == 1 and "not_found" in refused.output
    assert cli(env, "classes", "roster", str(theirs), "--as-staff", "liaison1").exit_code == 1
    listed = cli(env, "classes", "coverage", "--as-staff", "liaison1")
    assert "软件1501" in listed.output and "软件1502" not in listed.output


def test_roster_names_are_masked_unless_revealed_with_a_reason(env, session, cohorts) -> None:
    mine = cohorts["计算机学院 2015级 软件1501"]
    masked = cli(env, "classes", "roster", str(mine))
    assert "张*" in masked.output and "张伟" not in masked.output and "not joined" in masked.output
    assert cli(env, "classes", "roster", str(mine), "--reveal").exit_code != 0  # no reason
    revealed = cli(env, "classes", "roster", str(mine), "--reveal", "--reason", "class reunion", "--actor", "cli:ops")
    assert "张伟" in revealed.output and "2015001" in revealed.output
    session.rollback()
    audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "class.roster_reveal")).all()
    assert [(a.actor, a.detail["cohort_id"]) for a in audits] == [("cli:ops", mine)]


def test_coverage_to_a_workbook_and_a_vouch(env, session, cohorts, tmp_path) -> None:
    mine = cohorts["计算机学院 2015级 软件1501"]
    zhang = session.scalar(select(Person.id).where(Person.name == "张伟"))
    joined = membership.join(session, mine, channel="bot", person_id=zhang)
    session.commit()
    vouched = cli(env, "classes", "vouch", str(joined.membership.id))
    assert vouched.exit_code == 0, vouched.output
    out = tmp_path / "coverage.xlsx"
    assert cli(env, "classes", "coverage", "--xlsx", str(out)).exit_code == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["id", "cohort", "roster", "joined", "verified", "percent", "liaison"]
    assert [mine, "计算机学院 2015级 软件1501", 2, 1, 1, 50, False] in rows
    session.refresh(joined.membership)  # the command committed in its own connection
    assert joined.membership.verified


def test_staff_edit_a_cohorts_shown_fields(env, session, cohorts) -> None:
    mine = cohorts["计算机学院 2015级 软件1501"]
    edited = cli(env, "classes", "edit", str(mine), "--label", "软件工程 2015级 1班", "--grad-year", "2019")
    assert edited.exit_code == 0 and "软件工程 2015级 1班" in edited.output, edited.output
    refused = cli(env, "classes", "edit", str(mine), "--label", " ", "--actor", "cli:ops")
    assert refused.exit_code == 1 and "validation" in refused.output.lower()
    assert cli(env, "classes", "edit", "999999", "--label", "x").exit_code == 1
    session.rollback()
    cohort = session.get(ClassCohort, mine)
    assert cohort is not None and cohort.edited and cohort.label == "软件工程 2015级 1班"
