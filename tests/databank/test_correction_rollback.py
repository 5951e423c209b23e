"""Rolling back a correction batch (``importer.rollback_batch``): a contact change confirmed by staff or a liaison
(``databank.contacts``), an outreach answer (``services.outreach``) and a record edit (``privacy.correct``) each come
undone with the values and provenance they overwrote, the rows they created deleted, no person deleted, audited;
refused while later work builds on them. Real database, real gazetteer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, ContactPoint, DatabankBatch, EducationRecord, Employment, Person
from services import outreach
from services.databank import contacts, import_jobs, importer, merge, privacy
from services.databank.keys import Keyring
from tests.databank.conftest import HEADER, row


@pytest.fixture
def people(session: Session, db_settings: Settings, keyring: Keyring) -> dict[str, int]:
    """张晓明 works at 腾讯 in 深圳 (the registrar's roster); 李娜 has no employment."""
    rows = [row(工作单位="腾讯", 城市="深圳"), row("李娜", "2015002")]
    importer.import_rows(
        session, HEADER, rows, keyring=keyring, settings=db_settings.databank, actor="staff:t", label="roster"
    )
    return {p.name: p.id for p in session.scalars(select(Person))}


def roster_batch(session: Session) -> int:
    return session.scalars(select(DatabankBatch.id).where(DatabankBatch.kind == "import")).one()


def job_of(session: Session, person_id: int) -> Employment | None:
    session.expire_all()
    return session.scalars(select(Employment).where(Employment.person_id == person_id)).one_or_none()


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def confirm(session: Session, keyring: Keyring, person_id: int, kind: str, value: str) -> int:
    """A contact change confirmed by a liaison, as ``classes.reports.decide`` applies it."""
    batch_id = contacts.apply(
        session, keyring, person_id, kind=kind, value=value, source="liaison", actor="liaison:王老师", label="report 1"
    )
    assert batch_id is not None
    return batch_id


def test_a_confirmed_contact_change_is_rolled_back_with_its_values_and_provenance(
    session: Session, keyring: Keyring, people: dict[str, int]
) -> None:
    zhang, li = people["张晓明"], people["李娜"]
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.provenance) == ("腾讯", {})
    employer = confirm(session, keyring, zhang, "employer", "华为")
    city = confirm(session, keyring, li, "city", "上海")  # no employment yet: one is created
    phone = confirm(session, keyring, li, "phone", "13900000000")  # a new contact point
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.provenance) == ("华为", {"employer": employer})
    assert privacy.provenance(session, job, ["employer"])["employer"] == {"batch_id": employer, "source": "liaison"}
    persons = count(session, Person)

    assert importer.rollback_batch(session, employer, actor="staff:officer") == {
        "people_deleted": 0,
        "rows_deleted": 0,
        "records_restored": 1,
    }
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.provenance) == ("腾讯", {})
    assert privacy.provenance(session, job, ["employer"])["employer"] == {
        "batch_id": roster_batch(session),
        "source": "registrar",
    }
    assert importer.rollback_batch(session, city, actor="staff:officer")["rows_deleted"] == 1
    assert job_of(session, li) is None  # the employment it created is gone
    assert importer.rollback_batch(session, phone, actor="staff:officer")["rows_deleted"] == 1
    assert count(session, ContactPoint) == 0
    assert count(session, Person) == persons  # a correction creates no person, and its undo deletes none

    batch = session.get(DatabankBatch, employer)
    assert batch is not None and batch.status == "rolled_back" and batch.rolled_back_at is not None
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "databank.rollback").order_by(AuditEntry.id)
    ).all()
    assert [(e.person_id, e.actor, e.detail["batch_id"], e.detail["kind"]) for e in entries] == [
        (zhang, "staff:officer", employer, "correction"),
        (li, "staff:officer", city, "correction"),
        (li, "staff:officer", phone, "correction"),
    ]
    with pytest.raises(Conflict, match="correction/rolled_back"):
        importer.rollback_batch(session, employer, actor="staff:officer")


def test_an_outreach_answer_is_rolled_back(session: Session, people: dict[str, int]) -> None:
    zhang, li = people["张晓明"], people["李娜"]
    london = outreach.locate("伦敦")
    assert london is not None
    moved = outreach.record_answer(session, zhang, london, campaign="outreach:2019-2019:1", actor="wechat:outreach")
    created = outreach.record_answer(session, li, london, campaign="outreach:2019-2019:1", actor="wechat:outreach")
    job = job_of(session, zhang)
    assert job is not None and job.city == "伦敦" and job.country == "英国"
    assert job.provenance == {"city": moved, "country": moved, "source": "self", "outreach": "outreach:2019-2019:1"}

    assert importer.rollback_batch(session, moved, actor="staff:officer")["records_restored"] == 1
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.city, job.country, job.provenance) == ("腾讯", "深圳", None, {})
    assert importer.rollback_batch(session, created, actor="staff:officer")["rows_deleted"] == 1
    assert job_of(session, li) is None


def test_a_record_edit_is_rolled_back(session: Session, people: dict[str, int]) -> None:
    zhang = people["张晓明"]
    education = session.scalars(select(EducationRecord).where(EducationRecord.person_id == zhang)).one()
    edit = privacy.correct(
        session,
        zhang,
        actor="staff:officer",
        person={"name": "张小明", "birth_date": "1990-02-03"},
        education={education.id: {"major": "人工智能"}},
    )
    importer.rollback_batch(session, edit, actor="staff:officer")
    session.expire_all()
    person = session.get(Person, zhang)
    assert person is not None
    assert (person.name, person.name_pinyin, person.birth_date, person.provenance) == (
        "张晓明",
        "zhangxiaoming",
        None,
        {},
    )
    restored = session.get(EducationRecord, education.id)
    assert restored is not None and (restored.major, restored.provenance) == ("软件工程", {})


def test_a_rollback_never_brings_back_what_an_erasure_removed(
    session: Session, keyring: Keyring, people: dict[str, int]
) -> None:
    zhang = people["张晓明"]
    education = session.scalars(select(EducationRecord).where(EducationRecord.person_id == zhang)).one()
    edit = privacy.correct(session, zhang, actor="staff:officer", education={education.id: {"class_name": "软件1502"}})
    privacy.anonymise(session, keyring, zhang, actor="staff:officer")
    importer.rollback_batch(session, edit, actor="staff:officer")
    session.expire_all()
    erased = session.get(EducationRecord, education.id)
    assert erased is not None and (erased.class_name, erased.provenance) == (None, {})


def test_refused_while_a_later_change_builds_on_it_and_allowed_once_that_is_undone(
    session: Session, keyring: Keyring, people: dict[str, int]
) -> None:
    zhang, li = people["张晓明"], people["李娜"]
    employer = confirm(session, keyring, zhang, "employer", "华为")
    city = confirm(session, keyring, zhang, "city", "北京")  # a later correction of the same employment row
    with pytest.raises(Conflict, match=f"later changes depend on batch {employer}"):
        importer.rollback_batch(session, employer, actor="staff:officer")
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.city) == ("华为", "北京")  # nothing was touched

    importer.rollback_batch(session, city, actor="staff:officer")
    importer.rollback_batch(session, employer, actor="staff:officer")  # the later one is undone: nothing depends
    job = job_of(session, zhang)
    assert job is not None and (job.employer, job.city, job.provenance) == ("腾讯", "深圳", {})

    # A row the correction created, changed by a later one (an outreach answer): refused too.
    created = confirm(session, keyring, li, "employer", "字节跳动")
    london = outreach.locate("伦敦")
    assert london is not None
    outreach.record_answer(session, li, london, campaign="outreach:2019-2019:1", actor="wechat:outreach")
    with pytest.raises(Conflict, match="later changes"):
        importer.rollback_batch(session, created, actor="staff:officer")
    # The import the corrections built on cannot be rolled back under them either.
    with pytest.raises(Conflict, match="later changes"):
        importer.rollback_batch(session, roster_batch(session), actor="staff:officer")


def test_refused_while_a_merge_since_involves_its_person(
    session: Session, keyring: Keyring, people: dict[str, int]
) -> None:
    zhang, li = people["张晓明"], people["李娜"]
    phone = confirm(session, keyring, li, "phone", "13900000000")
    folded = merge.merge(session, zhang, li, actor="staff:officer")  # the contact point moves to 张晓明
    with pytest.raises(Conflict, match="later changes"):
        importer.rollback_batch(session, phone, actor="staff:officer")
    merge.undo_merge(session, folded.id, actor="staff:officer", undo_days=30)
    importer.rollback_batch(session, phone, actor="staff:officer")
    assert count(session, ContactPoint) == 0


def test_only_imports_and_corrections_roll_back_and_staff_must_confirm(
    session: Session, keyring: Keyring, people: dict[str, int]
) -> None:
    folded = merge.merge(session, people["张晓明"], people["李娜"], actor="staff:officer")
    with pytest.raises(Conflict, match="merge/completed"):
        importer.rollback_batch(session, folded.batch_id, actor="staff:officer")
    with pytest.raises(NotFound):  # the console's wrapper: a merge is undone from the person's page
        import_jobs.rollback(session, folded.batch_id, actor="staff:officer", confirmed=True)
    merge.undo_merge(session, folded.id, actor="staff:officer", undo_days=30)

    employer = confirm(session, keyring, people["张晓明"], "employer", "华为")
    with pytest.raises(ValidationFailed, match="imports_rollback_unconfirmed"):
        import_jobs.rollback(session, employer, actor="staff:officer", confirmed=False)
    assert import_jobs.rollback(session, employer, actor="staff:officer", confirmed=True)["records_restored"] == 1
    with pytest.raises(Conflict) as refused:
        import_jobs.rollback(session, employer, actor="staff:officer", confirmed=True)
    assert "只有已完成的导入或更正可以撤销" in refused.value.user_message
    [listed] = import_jobs.recent_corrections(session)
    assert (listed.id, listed.kind, listed.status, listed.person_id) == (
        employer,
        "correction",
        "rolled_back",
        people["张晓明"],
    )
