"""Roster imports: recognition, validation with precise errors, all-or-nothing, idempotence, provenance, trust,
rollback, and ID numbers that never reach the database in clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict, ImportRejected
from core.settings import Settings
from models import ContactPoint, DatabankBatch, EducationRecord, Employment, FieldChange, Person, PersonName
from services.databank import importer, privacy
from services.databank.keys import Keyring
from tests.databank.conftest import HEADER, ID_1, ID_2, row, write_csv, write_xlsx


def run(session: Session, db_settings: Settings, keyring: Keyring, path: Path, **kwargs: Any) -> importer.ImportResult:
    return importer.import_file(
        session, path, keyring=keyring, settings=db_settings.databank, actor="staff:test", **kwargs
    )


def rejected(session: Session, db_settings: Settings, keyring: Keyring, path: Path, **kwargs: Any) -> list[list[str]]:
    with pytest.raises(ImportRejected) as info:
        run(session, db_settings, keyring, path, **kwargs)
    assert info.value.batch_id is not None
    report = list(importer.error_report(session, info.value.batch_id))
    assert report[0][0].startswith("行号")
    assert info.value.error_count == len(report) - 1
    return report[1:]


def people(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Person)) or 0)


def test_csv_roster_is_imported_with_every_part(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(身份证号=ID_1, 手机="138 1234 5678", 邮箱="ZXM@Example.COM", 工作单位="腾讯", 城市="深圳"),
            row("李娜", "2015002", 学历="硕士"),
            row("王芳", "2015003", 学历="网络教育"),
            row("陈强", "2015004"),
        ],
    )
    result = run(session, db_settings, keyring, path)
    assert (result.rows_total, result.inserted, result.updated, result.unchanged) == (4, 4, 0, 0)
    person = session.scalars(select(Person).where(Person.name == "张晓明")).one()
    assert (person.name_pinyin, person.name_initials, person.name_traditional) == ("zhangxiaoming", "zxm", "張曉明")
    assert person.birth_date is not None and person.birth_date.isoformat() == "1949-12-31"  # taken from the ID
    assert person.id_hmac and person.id_hmac.startswith("h1:") and person.id_last4_hmac
    education = session.scalars(select(EducationRecord).where(EducationRecord.person_id == person.id)).one()
    assert (education.institution, education.college, education.grad_year, education.level) == (
        db_settings.databank.institution,
        "计算机学院",
        2019,
        "bachelor",
    )
    levels = {s: lvl for s, lvl in session.execute(select(EducationRecord.student_no, EducationRecord.level))}
    assert levels["2015002"] == "master" and levels["2015003"] == "online"
    job = session.scalars(select(Employment).where(Employment.person_id == person.id)).one()
    assert (job.employer, job.city) == ("腾讯", "深圳")
    view = privacy.staff_view(session, keyring, person.id)
    assert {c["kind"]: c["value"] for c in view["contacts"]} == {"phone": "138****5678", "email": "Z****@example.com"}
    batch = session.get(DatabankBatch, result.batch_id)
    assert batch is not None and batch.status == "completed" and batch.file_sha256


def test_id_numbers_and_contacts_never_stored_in_clear(session, db_settings, keyring, tmp_path) -> None:
    run(session, db_settings, keyring, write_csv(tmp_path / "r.csv", [row(身份证号=ID_1, 手机="13812345678")]))
    dump = []
    for table in ("persons", "education_records", "contact_points", "field_changes", "import_row_errors", "audit_log"):
        dump += [str(r) for r in session.execute(text(f"SELECT * FROM {table}"))]
    blob = "\n".join(dump)
    assert ID_1 not in blob and ID_1.lower() not in blob
    assert "13812345678" not in blob
    stored = session.scalars(select(ContactPoint.value_encrypted)).one()
    assert stored.startswith("k1:") and keyring.decrypt("phone", stored) == "13812345678"


def test_xlsx_with_english_headers_and_numeric_cells(session, db_settings, keyring, tmp_path) -> None:
    header = ["Name", "Student No.", "College", "Graduation Year", "Entry Year", "Level", "International"]
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            ["Nguyen Van An", 2019001.0, "International School", 2023, 2019, "Bachelor", "yes"],
            ["黄丽", 2019002, "文学院", 2023.0, "2019年", "专科", "否"],
        ],
        header,
    )
    result = run(session, db_settings, keyring, path)
    assert result.inserted == 2
    records = {e.student_no: e for e in session.scalars(select(EducationRecord))}
    assert set(records) == {"2019001", "2019002"}
    assert records["2019001"].international and records["2019001"].grad_year == 2023
    assert records["2019002"].entry_year == 2019 and records["2019002"].level == "associate"
    foreign = session.scalars(select(Person).where(Person.name == "Nguyen Van An")).one()
    assert (foreign.name_pinyin, foreign.name_initials) == ("nguyenvanan", "nva")


def test_explicit_mapping_names_unusual_headers(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(tmp_path / "r.csv", [["赵敏", "X-1", "数学"]], ["学生名字", "学生编号", "所属学院"])
    with pytest.raises(ImportRejected):
        run(session, db_settings, keyring, path)
    result = run(
        session,
        db_settings,
        keyring,
        path,
        mapping={"学生名字": "name", "学生编号": "student_no", "所属学院": "college"},
    )
    assert result.inserted == 1
    assert session.scalars(select(EducationRecord.college)).one() == "数学"


def test_same_file_twice_changes_nothing(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(身份证号=ID_1, 手机="13812345678", 工作单位="腾讯", 城市="深圳"),
            row("李娜", "2015002"),
            row("王芳", "2015003"),
            row("陈强", "2015004"),
        ],
    )
    run(session, db_settings, keyring, path)
    counts = {
        t: session.scalar(text(f"SELECT count(*) FROM {t}"))
        for t in ("persons", "education_records", "contact_points", "employments", "person_names", "field_changes")
    }
    second = run(session, db_settings, keyring, path)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 4)
    assert counts == {t: session.scalar(text(f"SELECT count(*) FROM {t}")) for t in counts}


def test_each_field_keeps_source_and_batch_and_trust_decides(session, db_settings, keyring, tmp_path) -> None:
    first = run(session, db_settings, keyring, write_csv(tmp_path / "a.csv", [row(专业="软件工程")]))
    liaison = run(
        session,
        db_settings,
        keyring,
        write_csv(tmp_path / "b.csv", [row(专业="计算机", 城市="杭州")]),
        source="liaison",
    )
    education = session.scalars(select(EducationRecord)).one()
    assert education.major == "软件工程"  # a liaison does not overwrite the registrar
    assert liaison.unchanged == 0 and liaison.updated == 1  # but it may add what was missing (employment)
    registrar = run(session, db_settings, keyring, write_csv(tmp_path / "c.csv", [row(专业="软件工程(卓越)")]))
    session.expire_all()
    education = session.scalars(select(EducationRecord)).one()
    assert education.major == "软件工程(卓越)"
    origin = privacy.provenance(session, education, ["major", "college"])
    assert origin["major"] == {"batch_id": registrar.batch_id, "source": "registrar"}
    assert origin["college"] == {"batch_id": first.batch_id, "source": "registrar"}
    job = session.scalars(select(Employment)).one()
    assert privacy.provenance(session, job, ["city"])["city"] == {"batch_id": liaison.batch_id, "source": "liaison"}


def test_batch_rollback_restores_and_removes(session, db_settings, keyring, tmp_path) -> None:
    run(session, db_settings, keyring, write_csv(tmp_path / "a.csv", [row(专业="软件工程")]))
    second = run(
        session,
        db_settings,
        keyring,
        write_csv(tmp_path / "b.csv", [row(专业="人工智能", 手机="13900000000"), row("新人", "2015009")]),
    )
    assert (second.inserted, second.updated) == (1, 1)
    importer.rollback_batch(session, second.batch_id, actor="staff:test")
    session.commit()
    session.expire_all()
    assert session.scalars(select(EducationRecord.major)).all() == ["软件工程"]
    assert people(session) == 1 and session.scalar(select(func.count()).select_from(ContactPoint)) == 0
    assert session.get(DatabankBatch, second.batch_id).status == "rolled_back"
    with pytest.raises(Conflict):
        importer.rollback_batch(session, second.batch_id, actor="staff:test")
    # The rolled-back file imported again is applied again (not skipped as "seen before").
    again = run(session, db_settings, keyring, tmp_path / "b.csv")
    assert (again.inserted, again.updated) == (1, 1)
    session.expire_all()
    assert (
        session.scalars(select(EducationRecord.major).where(EducationRecord.student_no == "2015001")).one()
        == "人工智能"
    )


def test_rollback_refused_when_a_later_batch_built_on_it(session, db_settings, keyring, tmp_path) -> None:
    first = run(session, db_settings, keyring, write_csv(tmp_path / "a.csv", [row()]))
    run(session, db_settings, keyring, write_csv(tmp_path / "b.csv", [row(专业="人工智能")]))
    with pytest.raises(Conflict, match="later changes"):
        importer.rollback_batch(session, first.batch_id, actor="staff:test")


def test_former_names_are_kept_and_added(session, db_settings, keyring, tmp_path) -> None:
    header = [*HEADER, "曾用名"]
    run(session, db_settings, keyring, write_csv(tmp_path / "a.csv", [[*row(), "张小明"]], header))
    run(session, db_settings, keyring, write_csv(tmp_path / "b.csv", [[*row(), "张小明，張曉敏"]], header))
    assert sorted(session.scalars(select(PersonName.name_simplified))) == ["张小明", "张晓敏"]


# --- bad spreadsheets: each a precise error, nothing half-imported ---------------------------------------------------


def test_missing_columns(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(tmp_path / "r.csv", [["张三", "计算机学院"]], ["姓名", "学院"])
    [error] = rejected(session, db_settings, keyring, path)
    assert error[2] == "missing_columns" and "学号" in error[3] and "姓名、学院" in error[3]
    assert people(session) == 0


def test_wrong_types_are_reported_per_cell(session, db_settings, keyring, tmp_path) -> None:
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            row(入学年份="二〇一五"),
            row("李娜", "2015002", 毕业年份=2010),  # before the entry year
            row("王芳", 2015.5, 学历="学前班"),
        ],
    )
    report = rejected(session, db_settings, keyring, path)
    assert [(r[0], r[1], r[2]) for r in report] == [
        ("2", "入学年份", "year"),
        ("3", "毕业年份", "year_order"),
        ("4", "学号", "wrong_type"),
        ("4", "学历", "level"),
    ]
    assert "二〇一五" in report[0][3] and "学前班" in report[3][3]
    assert people(session) == 0


def test_duplicate_rows(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003"), row("张晓明", "2015001")]
    )
    [error] = rejected(session, db_settings, keyring, path)
    assert error[:3] == ["5", "学号", "duplicate_row"] and "第 2 行" in error[3]
    assert people(session) == 0  # the first three rows, in earlier chunks, were not kept


def test_invalid_id_checksum_and_sensitive_values_stay_out_of_the_report(session, db_settings, keyring, tmp_path):
    bad_id = ID_1[:-1] + "1"
    path = write_csv(tmp_path / "r.csv", [row("李娜", "2015002"), row(身份证号=bad_id, 手机="12345")])
    report = rejected(session, db_settings, keyring, path)
    assert [(r[0], r[1], r[2]) for r in report] == [("3", "身份证号", "id_number"), ("3", "手机", "phone")]
    assert "校验位" in report[0][3]
    assert bad_id not in str(report) and "12345" not in str(report)
    assert people(session) == 0


def test_empty_file_and_header_only(session, db_settings, keyring, tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert [e[2] for e in rejected(session, db_settings, keyring, empty)] == ["empty_file"]
    header_only = write_csv(tmp_path / "header.csv", [])
    assert [e[2] for e in rejected(session, db_settings, keyring, header_only)] == ["no_rows"]
    blank_xlsx = write_xlsx(tmp_path / "blank.xlsx", [], header=[None])  # type: ignore[list-item]
    assert [e[2] for e in rejected(session, db_settings, keyring, blank_xlsx)] == ["empty_file"]


def test_wrong_encoding_then_the_right_one(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(tmp_path / "gbk.csv", [row(), row("李娜", "2015002")], encoding="gbk")
    [error] = rejected(session, db_settings, keyring, path)
    assert error[2] == "encoding" and "UTF-8" in error[3] and "gb18030" in error[3]
    assert run(session, db_settings, keyring, path, encoding="gb18030").inserted == 2


def test_encoding_error_late_in_the_file_keeps_nothing(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003"), row("陈强", "2015004")]
    )
    path.write_bytes(path.read_bytes() + "赵六,2015005\n".encode("gbk"))
    [error] = rejected(session, db_settings, keyring, path)
    assert error[2] == "encoding" and "第 6 行" in error[3]
    assert people(session) == 0


def test_unsupported_and_corrupt_files(session, db_settings, keyring, tmp_path) -> None:
    (tmp_path / "r.txt").write_text("姓名,学号\n")
    assert [e[2] for e in rejected(session, db_settings, keyring, tmp_path / "r.txt")] == ["unsupported_format"]
    (tmp_path / "r.xlsx").write_text("not a workbook")
    assert [e[2] for e in rejected(session, db_settings, keyring, tmp_path / "r.xlsx")] == ["unreadable"]


def test_worker_processes_give_the_same_result(session, db_settings, keyring, tmp_path) -> None:
    rows = [row(f"学生{chr(0x4E00 + i)}", f"20150{i:02d}", 身份证号=ID_2 if i == 3 else "") for i in range(12)]
    rows.append(row("坏", "2015999", 入学年份="abc"))
    path = write_csv(tmp_path / "r.csv", rows)
    [error] = rejected(session, db_settings, keyring, path, workers=2)
    assert error[:3] == ["14", "入学年份", "year"]
    path = write_csv(tmp_path / "r.csv", rows[:-1])
    assert run(session, db_settings, keyring, path, workers=2).inserted == 12
    assert session.scalar(select(func.count()).where(Person.id_hmac.is_not(None))) == 1


def test_no_field_change_is_logged_for_new_people(session, db_settings, keyring, tmp_path) -> None:
    run(session, db_settings, keyring, write_csv(tmp_path / "r.csv", [row()]))
    assert session.scalar(select(func.count()).select_from(FieldChange)) == 0


def _schema(session: Session) -> dict[str, Any]:
    inspector = inspect(session.connection())
    tables = ("persons", "person_names", "education_records", "contact_points", "employments")
    return {
        t: (
            sorted(str(i["name"]) for i in inspector.get_indexes(t)),
            sorted(str(c["name"]) for c in inspector.get_unique_constraints(t)),
            sorted(str(f["name"]) for f in inspector.get_foreign_keys(t)),
        )
        for t in tables
    }


def test_first_load_into_an_empty_databank_keeps_the_schema(session, settings_factory, keyring, tmp_path) -> None:
    from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS

    bulk = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        databank={"import_chunk_rows": 3, "bulk_load_min_rows": 1},
    )
    before = _schema(session)
    session.rollback()
    bad = write_csv(tmp_path / "bad.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003"), row("张", "2015001")])
    with pytest.raises(ImportRejected):
        run(session, bulk, keyring, bad)
    assert _schema(session) == before and people(session) == 0
    session.rollback()
    good = write_csv(tmp_path / "good.csv", [row(手机="13812345678"), row("李娜", "2015002"), row("王芳", "2015003")])
    assert run(session, bulk, keyring, good).inserted == 3
    assert _schema(session) == before
    session.rollback()
    assert run(session, bulk, keyring, good).unchanged == 3  # the unique key and the lookups work again
    with pytest.raises(IntegrityError):  # and so do the constraints
        session.execute(
            text(
                "INSERT INTO education_records (person_id, institution, student_no, level, "
                "international, provenance, created_at, updated_at) SELECT person_id, institution, "
                "student_no, level, international, provenance, created_at, updated_at "
                "FROM education_records LIMIT 1"
            )
        )


# --- phone numbers (phonenumbers, default region CN) --------------------------------------------------------------


def test_phones_are_checked_with_phonenumbers_and_stored_normalised(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(手机="+86 138-1234-5678"),
            row("李娜", "2015002", 手机="+44 20 7946 0958"),
            row("王芳", "2015003", 手机="0044 7911 123456"),
        ],
    )
    assert run(session, db_settings, keyring, path).inserted == 3
    stored = {keyring.decrypt("phone", v) for v in session.scalars(select(ContactPoint.value_encrypted))}
    assert stored == {"13812345678", "+442079460958", "+447911123456"}
    assert privacy.find_by_contact(session, keyring, "phone", "+44 (0)20 7946 0958") != []
    session.rollback()
    assert run(session, db_settings, keyring, path).unchanged == 3  # the same numbers, the same blind indexes


def test_garbage_phone_numbers_get_a_precise_row_error(session, db_settings, keyring, tmp_path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        [
            row(手机="13812345678"),
            row("李娜", "2015002", 手机="call me"),
            row("王芳", "2015003", 手机="+999 123 4567"),
            row("陈强", "2015004", 手机="1381234567"),
        ],
    )
    report = rejected(session, db_settings, keyring, path)
    assert [(r[0], r[1], r[2]) for r in report] == [(str(n), "手机", "phone") for n in (3, 4, 5)]
    assert "看起来不是电话号码" in report[0][3] and "国家或地区代码" in report[1][3] and "位数" in report[2][3]
    assert "+44" in report[0][3]  # says how a number abroad is written
    assert not any(v in str(report) for v in ("call me", "999 123", "1381234567"))
    assert people(session) == 0


# --- the first load of an empty databank (COPY text from the workers on PostgreSQL) -------------------------------


def _contents(session: Session, keyring: Keyring) -> dict[str, list[tuple[Any, ...]]]:
    """Every imported value, keyed by student number instead of ids; contacts opened (their nonces differ)."""
    student = dict(session.execute(select(EducationRecord.person_id, EducationRecord.student_no)).all())
    skip = {"id", "person_id", "batch_id", "created_at", "updated_at", "value_encrypted"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in (Person, EducationRecord, PersonName, ContactPoint, Employment):
        table: Any = model.__table__
        columns = [c for c in table.columns if c.name not in skip]
        owner = table.c.id if model is Person else table.c.person_id
        opened = [table.c.value_encrypted] if model is ContactPoint else []
        rows = []
        for record in session.execute(select(owner, *columns, *opened)):
            values = list(record)
            if model is ContactPoint:
                values[-1] = keyring.decrypt(values[columns.index(table.c.kind) + 1], values[-1])
            rows.append((student[values[0]], *values[1:]))
        out[table.name] = sorted(rows, key=repr)
    return out


def test_the_first_load_writes_what_the_row_by_row_path_writes(session, settings_factory, keyring, tmp_path) -> None:
    from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS

    header = [*HEADER, "曾用名", "职务", "国籍"]
    tricky = ["A\\B 公司", "\\N", "中国\\"]  # backslashes, and the text COPY would read as NULL
    rows = [
        [*row(身份证号=ID_1, 手机="13812345678", 邮箱="a@b.cn", 工作单位=tricky[0]), "张小明", *tricky[1:]],
        [*row("Nguyen Van An", "2015002", 手机="+44 20 7946 0958", 学历="硕士"), "", "", "越南"],
        [*row("王芳", "2015003", 身份证号=ID_2, 入学年份="", 毕业年份=""), "王小芳，王方", "工程师", ""],
    ]
    path = write_csv(tmp_path / "r.csv", rows, header)
    privacy_keys = {"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS}
    contents = []
    # the bulk path (on PostgreSQL) in this process and in worker processes, then the row-by-row path
    for bulk_load_min_rows, workers in ((1, 1), (1, 2), (10**9, 1)):
        settings = settings_factory(
            privacy=privacy_keys, databank={"import_chunk_rows": 2, "bulk_load_min_rows": bulk_load_min_rows}
        )
        result = run(session, settings, keyring, path, workers=workers)
        assert result.inserted == 3
        assert session.scalars(select(Employment.title).where(Employment.employer == tricky[0])).one() == tricky[1]
        assert session.scalar(select(func.count()).where(Person.nationality == tricky[2])) == 1
        contents.append(_contents(session, keyring))
        importer.rollback_batch(session, result.batch_id, actor="staff:test")
        session.commit()
    assert contents[0] == contents[1] == contents[2]


def test_worker_processes_report_a_late_encoding_error(session, db_settings, keyring, tmp_path) -> None:
    rows = [row(f"学生{chr(0x4E00 + i)}", f"20150{i:02d}") for i in range(12)]
    path = write_csv(tmp_path / "r.csv", rows)
    path.write_bytes(path.read_bytes() + "赵六,2015099\n".encode("gbk"))
    [error] = rejected(session, db_settings, keyring, path, workers=2)
    assert error[2] == "encoding" and "第 14 行" in error[3]
    assert people(session) == 0
