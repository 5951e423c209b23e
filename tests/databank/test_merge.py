"""Duplicate candidates by every rule, merges by source trust, and undo within the window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, UndoExpired, ValidationFailed
from core.settings import Settings
from models import ContactPoint, EducationRecord, Person, PersonMerge, PersonName, utcnow
from services.databank import audit, importer, merge
from services.databank.keys import Keyring
from tests.databank.conftest import HEADER, ID_1, ID_2, row, write_csv


def load(session: Session, db_settings: Settings, keyring: Keyring, path, rows, source="registrar", header=None):
    return importer.import_file(
        session, write_csv(path, rows, header), keyring=keyring, settings=db_settings.databank, actor="t", source=source
    )


def pid(session: Session, student_no: str, institution: str = "本校") -> int:
    query = select(EducationRecord.person_id).where(
        EducationRecord.student_no == student_no, EducationRecord.institution == institution
    )
    return int(session.scalar(query) or 0)


def pairs(session: Session, **kwargs) -> dict[tuple[int, int], set[str]]:
    return {(c.first_id, c.second_id): set(c.reasons) for c in merge.find_candidates(session, **kwargs)}


def test_candidates_by_every_rule(session, db_settings, keyring, tmp_path) -> None:
    header = [*HEADER, "学校"]
    load(
        session,
        db_settings,
        keyring,
        tmp_path / "a.csv",
        [
            [*row("张伟", "A1", 手机="13800000001"), "本校"],
            [*row("張偉", "A2"), "本校"],  # traditional form, same class
            [*row("张玮", "A3"), "本校"],  # same pinyin, same class
            [*row("王五", "A1"), "分校"],  # same student number elsewhere
            [*row("赵六", "A5", 手机="138 0000 0001"), "本校"],  # same phone
            [*row("钱七", "A6", 身份证号=ID_1), "本校"],
            [*row("孙八", "A7", 身份证号=ID_1), "本校"],  # same ID number
            [*row("周九", "A8", 身份证号=ID_2, 学院="法学院"), "本校"],
        ],
        header=header,
    )
    found = pairs(session)
    assert found[(pid(session, "A1"), pid(session, "A2"))] == {"name_year_college", "simplified_traditional"}
    assert found[(pid(session, "A1"), pid(session, "A3"))] == {"pinyin_year_college"}
    assert found[(pid(session, "A2"), pid(session, "A3"))] == {"pinyin_year_college"}
    zhang, wang = pid(session, "A1"), pid(session, "A1", "分校")
    assert found[(zhang, wang)] == {"student_no"}
    assert found[(zhang, pid(session, "A5"))] == {"phone"}
    assert found[(pid(session, "A6"), pid(session, "A7"))] == {"id_number"}
    assert not any(pid(session, "A8") in pair for pair in found)
    assert set(pairs(session, person_id=pid(session, "A6"))) == {(pid(session, "A6"), pid(session, "A7"))}


def test_merge_keeps_the_more_trusted_value_and_moves_everything(session, db_settings, keyring, tmp_path) -> None:
    header = [*HEADER, "性别"]
    load(
        session,
        db_settings,
        keyring,
        tmp_path / "a.csv",
        [[*row("张伟", "B1", 手机="13800000001"), ""]],
        source="liaison",
        header=header,
    )
    load(
        session,
        db_settings,
        keyring,
        tmp_path / "b.csv",
        [[*row("張偉", "B2", 身份证号=ID_2, 邮箱="z@x.cn"), "男"]],
        header=header,
    )
    keep, other = pid(session, "B1"), pid(session, "B2")
    record = merge.merge(session, keep, other, actor="staff:li")
    kept = session.get(Person, keep)
    assert kept is not None
    assert kept.name == "張偉"  # the registrar's spelling beats the liaison's
    assert kept.gender == "M" and kept.id_hmac is not None  # the kept person had none: taken
    assert session.scalar(select(func.count()).where(EducationRecord.person_id == keep)) == 2
    assert session.scalar(select(func.count()).where(ContactPoint.person_id == keep)) == 2
    assert session.scalar(select(func.count()).select_from(PersonName)) == 0  # 张伟 and 張偉 are one search key
    merged = session.get(Person, other)
    assert merged is not None and (merged.status, merged.merged_into_id) == ("merged", keep)
    assert merge.find_candidates(session) == []
    assert [e.action for e in audit.entries(session, person_id=keep)][-1] == "person.merge"

    merge.undo_merge(session, record.id, actor="staff:li", undo_days=db_settings.databank.merge_undo_days)
    session.expire_all()
    kept, merged = session.get(Person, keep), session.get(Person, other)
    assert kept is not None and merged is not None
    assert (kept.name, kept.gender, kept.id_hmac) == ("张伟", None, None)
    assert merged.status == "active" and merged.merged_into_id is None
    assert session.scalar(select(func.count()).where(EducationRecord.person_id == other)) == 1
    assert session.scalar(select(func.count()).where(ContactPoint.person_id == other)) == 1
    assert session.scalar(select(func.count()).select_from(PersonName)) == 0
    with pytest.raises(Conflict):
        merge.undo_merge(session, record.id, actor="staff:li", undo_days=30)


def test_undo_window_and_dependencies(session, db_settings, keyring, tmp_path) -> None:
    load(session, db_settings, keyring, tmp_path / "a.csv", [row("张伟", "C1"), row("張偉", "C2"), row("张韦", "C3")])
    first, second, third = pid(session, "C1"), pid(session, "C2"), pid(session, "C3")
    with pytest.raises(ValidationFailed):
        merge.merge(session, first, first, actor="t")
    record = merge.merge(session, first, second, actor="t")
    with pytest.raises(Conflict):
        merge.merge(session, third, second, actor="t")  # already merged
    late = utcnow() + timedelta(days=31)
    with pytest.raises(UndoExpired):
        merge.undo_merge(session, record.id, actor="t", undo_days=30, now=late)
    merge.merge(session, third, first, actor="t")  # the kept person is merged on: the first merge is now fixed
    assert set(session.scalars(select(PersonName.name).where(PersonName.person_id == third))) == {"张伟"}
    with pytest.raises(UndoExpired):
        merge.undo_merge(session, record.id, actor="t", undo_days=30)
    assert session.scalar(select(func.count()).select_from(PersonMerge)) == 2
