"""Colleges, majors and class labels match across simplified and traditional forms (and width, case and spacing),
in search, identity verification and duplicate detection, whichever path wrote the record (an import's first load
or row by row, an import's update, a correction, an anonymisation, a rollback)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from models import EducationRecord, Person
from services.databank import importer, merge, names, privacy, search, verification
from services.databank.keys import Keyring
from services.databank.verification import Claim
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row, write_csv

TRADITIONAL = {"学院": "計算機學院", "专业": "軟件工程", "班级": "計算機2015級3班"}
SIMPLIFIED = {"学院": "计算机学院", "专业": "软件工程", "班级": "计算机2015级3班"}


def load(session: Session, settings: Settings, keyring: Keyring, path: Any, rows: list[list[Any]]) -> int:
    result = importer.import_file(
        session, write_csv(path, rows, HEADER), keyring=keyring, settings=settings.databank, actor="t"
    )
    session.commit()
    return result.batch_id


def found(session: Session, settings: Settings, **filters: Any) -> set[str]:
    return {item.name for item in search.search(session, settings.databank, **filters).items}


def test_label_key_folds_script_width_case_and_spacing() -> None:
    assert names.label_key("計算機學院") == names.label_key("计算机学院") == "计算机学院"
    assert names.label_key(" 計算機 2015級3班 ") == names.label_key("计算机2015级3班")
    assert names.label_key("ＭＢＡ中心") == names.label_key("mba中心")
    assert names.label_key("") is names.label_key("  ") is names.label_key(None) is None


@pytest.mark.parametrize("first_load", [False, True], ids=["row-by-row", "first-load"])
def test_search_by_college_major_and_class_across_scripts(
    session, settings_factory, keyring, tmp_path, first_load
) -> None:
    settings = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        databank={"import_chunk_rows": 3, "bulk_load_min_rows": 1 if first_load else 10**9},
    )
    rows = [
        row("陳大文", "2015001", **TRADITIONAL),  # stored traditional
        row("李娜", "2015002", **SIMPLIFIED),  # stored simplified
        row("王芳", "2015003", 学院="法學院", 专业="法學", 班级="法學1501"),
    ]
    load(session, settings, keyring, tmp_path / "r.csv", rows)
    both = {"陳大文", "李娜"}
    for labels in (SIMPLIFIED, TRADITIONAL):
        assert found(session, settings, college=labels["学院"]) == both
        assert found(session, settings, major=labels["专业"]) == both
        assert found(session, settings, class_name=labels["班级"]) == both
        assert found(session, settings, college=labels["学院"], major=labels["专业"], year=2019) == both
        assert found(session, settings, q="陈", college=labels["学院"]) == {"陳大文"}  # a name and a filter
    assert found(session, settings, college="法学院", class_name=" 法学 1501") == {"王芳"}
    assert found(session, settings, college="计算机学院", class_name="法学1501") == set()
    # what a page shows is the label as the roster wrote it
    [item] = search.search(session, settings.databank, q="陳大文").items
    assert (item.education[0].college, item.education[0].class_name) == ("計算機學院", "計算機2015級3班")


def test_an_update_a_correction_and_a_rollback_keep_the_folded_labels(session, db_settings, keyring, tmp_path) -> None:
    load(session, db_settings, keyring, tmp_path / "a.csv", [row("陳大文", "2015001", **SIMPLIFIED)])
    batch = load(
        session, db_settings, keyring, tmp_path / "b.csv", [row("陳大文", "2015001", 学院="法學院", 班级="法學1501")]
    )
    assert found(session, db_settings, college="法学院", class_name="法学1501") == {"陳大文"}
    assert found(session, db_settings, college="计算机学院") == set()
    importer.rollback_batch(session, batch, actor="staff:test")
    session.commit()
    assert found(session, db_settings, college="計算機學院", class_name="計算機2015級3班") == {"陳大文"}
    assert found(session, db_settings, college="法学院") == set()

    person_id = session.scalars(select(Person.id)).one()
    education_id = session.scalars(select(EducationRecord.id)).one()
    privacy.correct(session, person_id, actor="staff:dpo", education={education_id: {"major": "電子工程"}})
    session.commit()
    assert found(session, db_settings, major="电子工程") == found(session, db_settings, major="電子工程") == {"陳大文"}
    assert found(session, db_settings, major="软件工程") == set()


def test_anonymising_erases_the_folded_class_too(session, db_settings, keyring, tmp_path) -> None:
    load(session, db_settings, keyring, tmp_path / "a.csv", [row("陳大文", "2015001", **TRADITIONAL)])
    privacy.anonymise(session, keyring, session.scalars(select(Person.id)).one(), actor="staff:dpo")
    session.commit()
    record = session.scalars(select(EducationRecord)).one()
    assert (record.class_name, record.class_name_folded) == (None, None)
    assert (record.college, record.college_folded) == ("計算機學院", "计算机学院")  # kept for the counts


@pytest.fixture
def client(redis_url: str, clean: None) -> Any:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.mark.parametrize(
    ("stored", "typed"), [(TRADITIONAL, SIMPLIFIED), (SIMPLIFIED, TRADITIONAL)], ids=["trad-stored", "simp-stored"]
)
def test_verification_by_class_matches_across_scripts(
    session, client, keyring, db_settings, tmp_path, stored, typed
) -> None:
    load(session, db_settings, keyring, tmp_path / "a.csv", [row("陳大文", "2015001", **stored)])
    claim = Claim(
        "陈大文", grad_year=2019, college=typed["学院"], class_name=f" {typed['班级']} ", birth_date=date(1990, 3, 7)
    )
    # the roster has no birth date: give the record one, as a correction would
    person = session.scalars(select(Person)).one()
    person.birth_date = date(1990, 3, 7)
    session.commit()
    outcome = verification.verify(
        session, client, keyring, db_settings.verification, openid="o_1", channel="mp", ip="10.0.0.1", claim=claim
    )
    assert (outcome.status, outcome.person_id) == ("matched", person.id)


def test_duplicates_by_name_year_and_college_across_scripts(session, db_settings, keyring, tmp_path) -> None:
    load(
        session,
        db_settings,
        keyring,
        tmp_path / "a.csv",
        [row("張偉", "A1", **TRADITIONAL), row("张伟", "A2", **SIMPLIFIED), row("张伟", "A3", 学院="法学院")],
    )
    ids = {e.student_no: e.person_id for e in session.scalars(select(EducationRecord))}
    pairs = {(c.first_id, c.second_id): set(c.reasons) for c in merge.find_candidates(session)}
    assert pairs == {(ids["A1"], ids["A2"]): {"name_year_college", "simplified_traditional"}}
