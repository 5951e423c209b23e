"""The alumni and demo commands, as staff run them, and the demo seeding behind ``make run``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.commands import main
from cli.demo import seed_if_empty
from core.db import Database
from core.schema import migrate
from core.settings import Settings, load_settings
from models import AuditEntry, DatabankBatch, EducationRecord, Person
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS, ID_1, row, write_csv


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


def test_import_search_show_and_masked_export(env, session, tmp_path) -> None:
    path = write_csv(tmp_path / "r.csv", [row(身份证号=ID_1, 手机="13812345678"), row("李娜", "2015002")])
    result = cli(env, "alumni", "import", str(path), "--actor", "staff:wang")
    assert result.exit_code == 0, result.output
    assert "importing" in result.output and "2 new" in result.output
    result = cli(env, "alumni", "search", "zxm")
    assert "张晓明" in result.output and "2015001" in result.output
    person_id = session.scalar(select(Person.id).where(Person.name == "张晓明"))
    session.rollback()
    result = cli(env, "alumni", "show", str(person_id))
    assert "138****5678" in result.output and "13812345678" not in result.output
    out = tmp_path / "export.csv"
    result = cli(env, "alumni", "export", "-o", str(out))
    assert result.exit_code == 0 and "masked" in result.output
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 3 and "138****5678" in rows[1] + rows[2]
    assert "13812345678" not in out.read_text(encoding="utf-8-sig")
    session.rollback()  # a fresh snapshot: the export committed in another connection
    assert session.scalar(select(func.count()).where(AuditEntry.action == "databank.export")) == 1


def test_refused_import_writes_the_report_and_fails(env, session, tmp_path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row(入学年份="later"), row("李娜", "2015002")])
    result = cli(env, "alumni", "import", str(path))
    assert result.exit_code == 1
    assert "第 2 行" in result.output and "nothing imported" in result.output
    report = list(csv.reader(Path(f"{path}.errors.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert report[1][:3] == ["2", "入学年份", "year"]
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_duplicates_merge_and_unmerge(env, session, tmp_path) -> None:
    cli(env, "alumni", "import", str(write_csv(tmp_path / "r.csv", [row("张伟", "1"), row("張偉", "2")])))
    first, second = sorted(session.scalars(select(Person.id)))
    session.rollback()
    result = cli(env, "alumni", "duplicates")
    assert f"{first}\t{second}\tname_year_college" in result.output
    result = cli(env, "alumni", "merge", str(first), str(second))
    assert result.exit_code == 0 and "unmerge" in result.output
    merge_id = result.output.split("`alumni unmerge ")[1].split("`")[0]
    assert cli(env, "alumni", "unmerge", merge_id).exit_code == 0
    session.rollback()
    assert session.scalar(select(func.count()).where(Person.status == "active")) == 2


def test_a_correction_is_rolled_back_like_an_import(env, session, tmp_path) -> None:
    cli(env, "alumni", "import", str(write_csv(tmp_path / "r.csv", [row("张伟", "1"), row("張偉", "2")])))
    first, second = sorted(session.scalars(select(Person.id)))
    session.rollback()
    result = cli(env, "alumni", "correct", str(first), "--set", "gender=女", "--actor", "staff:wang")
    assert result.exit_code == 0, result.output
    batch_id = result.output.split("`alumni rollback ")[1].split("`")[0]
    result = cli(env, "alumni", "rollback", batch_id, "--actor", "staff:wang")
    assert result.exit_code == 0 and f"batch {batch_id} rolled back" in result.output
    session.rollback()
    assert session.get(Person, first).gender is None
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.rollback")).one()
    assert (entry.person_id, entry.detail["kind"]) == (first, "correction")
    again = cli(env, "alumni", "rollback", batch_id)
    assert again.exit_code == 1 and "correction/rolled_back" in again.output
    assert cli(env, "alumni", "merge", str(first), str(second)).exit_code == 0
    session.rollback()
    merge_batch = session.scalars(select(DatabankBatch.id).where(DatabankBatch.kind == "merge")).one()
    refused = cli(env, "alumni", "rollback", str(merge_batch))
    assert refused.exit_code == 1 and f"batch {merge_batch} is merge/completed" in refused.output


def test_demo_seed_is_realistic_and_repeatable(env, session) -> None:
    result = cli(env, "demo", "seed", "--count", "300")
    assert result.exit_code == 0 and "300 new" in result.output
    assert cli(env, "demo", "seed", "--count", "300").output.strip().endswith("0 new, 300 unchanged")
    levels = set(session.scalars(select(EducationRecord.level)))
    assert {"bachelor", "master", "adult", "online"} <= levels
    years = list(session.scalars(select(EducationRecord.entry_year)))
    assert min(years) < 1990 and max(years) > 2015
    assert session.scalar(select(func.count()).where(EducationRecord.international.is_(True))) > 0
    assert len(set(session.scalars(select(EducationRecord.college)))) > 8


def test_make_run_seeds_only_an_empty_embedded_database(tmp_path, db_settings) -> None:
    configured = load_settings(
        environment="development", var_dir=tmp_path / "a", database={"url": db_settings.database_url}
    )
    assert seed_if_empty(configured, count=20) == 0  # a configured DATABASE_URL is never seeded
    embedded = load_settings(environment="development", var_dir=tmp_path / "b", database={"url": ""})
    migrate(embedded)
    assert seed_if_empty(embedded, count=20) == 20
    assert seed_if_empty(embedded, count=20) == 0  # not empty any more
    db = Database(embedded.database_url)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 20
    db.dispose()
    db = Database(db_settings.database_url)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 0
    db.dispose()
