"""Contact-change reports: checked like the roster, encrypted, the liaisons told in their language; applied to the
databank with provenance ``self_reported`` (staff confirm) or ``liaison``; scoped to the liaison's cohorts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import String, func, select, update
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, NotFound, ProcessingRestricted, ValidationFailed
from core.settings import Settings
from models import (
    AuditEntry,
    ClassCohort,
    ContactChangeReport,
    ContactPoint,
    DatabankBatch,
    Employment,
    FieldChange,
    OutboundMessage,
    Person,
)
from services import classes, staff
from services.classes import liaisons, reports
from services.databank import contacts, importer, privacy
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS, row, write_csv

ROSTER = [
    row("张伟", "2015001", 班级="软件1501", 手机="13800138000", 工作单位="华为技术有限公司", 城市="深圳"),
    row("李娜", "2015002", 班级="软件1502"),
    row("赵强", "2015004", 学院="法学院", 专业="法学", 班级="法学1501"),
]
SEALER = Keyring.from_strings(ENCRYPTION_KEYS, HMAC_KEYS)
COLUMN = cast(String, ContactChangeReport.__table__.c.value_encrypted.type)
SOFT_1501, SOFT_1502, LAW = "计算机学院 2015级 软件1501", "计算机学院 2015级 软件1502", "法学院 2015级 法学1501"


@pytest.fixture
def roster_batch(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> int:
    result = importer.import_file(
        session, write_csv(tmp_path / "r.csv", ROSTER), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    classes.build(session)
    session.commit()
    return result.batch_id


@pytest.fixture
def people(session: Session, roster_batch: int) -> dict[str, int]:
    return {p.name: p.id for p in session.scalars(select(Person))}


@pytest.fixture
def cohort(session: Session, people: dict[str, int]) -> dict[str, int]:
    return {c.label: c.id for c in session.scalars(select(ClassCohort))}


def _appoint(session: Session, keyring: Keyring, cohort_id: int, **kw: object) -> int:
    fields: dict[str, object] = {"name": "王老师", "role": "primary", "term_start": date(2026, 1, 1), "actor": "t"}
    return liaisons.appoint(session, keyring, cohort_id, **(fields | kw)).id  # type: ignore[arg-type]


def _queued(session: Session) -> list[tuple[str, str]]:
    rows = session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
    return [(m.openid, json.loads(m.payload_json)["content"]) for m in rows]


def test_a_report_is_checked_encrypted_and_told_to_the_liaisons_in_their_language(
    session, keyring, people, cohort
) -> None:
    _appoint(session, keyring, cohort[SOFT_1501], openid="o_wang")
    _appoint(session, keyring, cohort[SOFT_1501], name="Ms Smith", role="deputy", language="en", openid="o_smith")
    _appoint(session, keyring, cohort[SOFT_1501], name="陈老师", role="deputy")  # no WeChat: reads the console
    _appoint(session, keyring, cohort[LAW], name="法学联络人", openid="o_law")  # another class: not told

    report = reports.report(
        session, keyring, person_id=people["张伟"], kind="phone", value="138-0013-8001 ", channel="miniprogram"
    )
    assert report.status == "pending" and report.cohort_id == cohort[SOFT_1501]
    assert "13800138001" not in report.value_encrypted and reports.value_of(keyring, report) == "13800138001"
    told = _queued(session)
    assert [openid for openid, _ in told] == ["o_wang", "o_smith"]
    assert "张伟 报告了新的手机号码" in told[0][1] and SOFT_1501 in told[0][1]
    # The English liaison reads the class's label in English too (cohorts.shown_label), not "2015级".
    assert told[1][1].startswith("张伟 of 软件1501, 计算机学院, 2015 entry reported a new phone number")
    assert all("13800138001" not in content for _, content in told)  # the value is read in the console only

    # A second report of the same kind while the first waits replaces its value; the liaisons are not told twice.
    again = reports.report(
        session, keyring, person_id=people["张伟"], kind="phone", value="+44 20 7946 0958", channel="bot"
    )
    assert again.id == report.id and reports.value_of(keyring, again) == "+442079460958"
    assert len(_queued(session)) == 2
    audited = session.scalars(select(AuditEntry.action).where(AuditEntry.person_id == people["张伟"])).all()
    assert audited.count("class.contact_report") == 2


@pytest.mark.parametrize(
    ("kind", "value", "field", "problem"),
    [
        ("phone", "12345", "value", "invalid"),
        ("phone", "1380013800012345678901234567890123", "value", "too_long"),
        ("email", "zhang@", "value", "invalid"),
        ("email", "张" * 90 + "@example.com", "value", "too_long"),  # 282 octets: RFC 5321 allows 254
        ("city", "   ", "value", "empty"),
        ("city", "深圳\u202e", "value", "bad_characters"),
        ("employer", "某" * 129, "value", "too_long"),
        ("address", "长沙市", "kind", "not_allowed"),
    ],
)
def test_bad_values_are_refused_naming_the_field(session, keyring, people, kind, value, field, problem) -> None:
    with pytest.raises(ValidationFailed) as refused:
        reports.report(session, keyring, person_id=people["张伟"], kind=kind, value=value, channel="miniprogram")
    assert [(f.field, f.problem) for f in refused.value.fields] == [(field, problem)]
    assert refused.value.user_message == refused.value.fields[0].message != texts.ERROR_VALIDATION
    assert session.scalar(select(func.count()).select_from(ContactChangeReport)) == 0


def test_a_report_goes_to_one_of_the_persons_own_cohorts_only(session, keyring, people, cohort) -> None:
    with pytest.raises(ValidationFailed) as refused:
        reports.report(
            session, keyring, person_id=people["张伟"], kind="city", value="长沙", channel="bot", cohort_id=cohort[LAW]
        )
    assert refused.value.fields[0].field == "cohort_id"
    grade = session.get(ClassCohort, cohort[SOFT_1501]).parent_id
    to_grade = reports.report(
        session, keyring, person_id=people["张伟"], kind="city", value="长沙", channel="bot", cohort_id=grade
    )
    assert to_grade.cohort_id == grade
    with pytest.raises(NotFound):
        reports.report(session, keyring, person_id=999_999, kind="city", value="长沙", channel="bot")


def test_staff_confirm_a_phone_as_self_reported_and_a_blind_index_finds_it(session, keyring, people) -> None:
    zhang = people["张伟"]
    report = reports.report(session, keyring, person_id=zhang, kind="phone", value="13900139000", channel="bot")
    decision = reports.decide(
        session, keyring, report.id, apply=True, actor="staff:officer", as_liaison=False, cohorts=None
    )
    assert decision.report.status == "applied" and decision.report.decided_by == "staff:officer"
    batch = session.get(DatabankBatch, decision.batch_id)
    assert (batch.kind, batch.source, batch.status, batch.actor) == (
        "correction",
        "self_reported",
        "completed",
        "staff:officer",
    )
    added = session.scalars(select(ContactPoint).where(ContactPoint.batch_id == batch.id)).one()
    assert added.person_id == zhang and "13900139000" not in added.value_encrypted
    assert keyring.decrypt("phone", added.value_encrypted) == "13900139000"
    assert privacy.find_by_contact(session, keyring, "phone", "139 0013 9000") == [zhang]
    assert privacy.find_by_contact(session, keyring, "phone", "13800138000") == [zhang]  # the old one is kept
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.person_id == zhang)).all()
    assert {"subject.contact_change", "class.contact_report_apply"} <= set(actions)
    with pytest.raises(Conflict, match="applied"):
        reports.decide(session, keyring, report.id, apply=False, actor="staff:other", as_liaison=False, cohorts=None)


def test_a_liaison_confirms_an_employer_with_provenance_and_the_old_value_kept_for_undo(
    session, keyring, people, cohort, roster_batch
) -> None:
    zhang = people["张伟"]
    report = reports.report(session, keyring, person_id=zhang, kind="employer", value="腾讯", channel="miniprogram")
    decision = reports.decide(
        session,
        keyring,
        report.id,
        apply=True,
        actor="liaison:王老师",
        as_liaison=True,
        cohorts=frozenset({cohort[SOFT_1501]}),
    )
    job = session.scalars(select(Employment).where(Employment.person_id == zhang)).one()
    assert (job.employer, job.city) == ("腾讯", "深圳")
    shown = privacy.provenance(session, job, ["employer", "city"])
    assert shown["employer"] == {"batch_id": decision.batch_id, "source": "liaison"}
    assert shown["city"] == {"batch_id": roster_batch, "source": "registrar"}
    kept = session.scalars(select(FieldChange).where(FieldChange.batch_id == decision.batch_id)).one()
    assert (kept.table_name, kept.row_id) == ("employments", job.id)
    assert kept.before == {"employer": "华为技术有限公司", "__provenance__": {}}
    # The databank's undo honours the change set: the roster import it built on can no longer be rolled back.
    with pytest.raises(Conflict, match="later changes"):
        importer.rollback_batch(session, roster_batch, actor="t")


def test_a_city_without_a_current_employment_creates_one_and_a_held_value_changes_nothing(
    session, keyring, people
) -> None:
    li = people["李娜"]
    first = reports.report(session, keyring, person_id=li, kind="city", value="Ｓｈａｎｇｈａｉ", channel="bot")
    made = reports.decide(session, keyring, first.id, apply=True, actor="staff", as_liaison=False, cohorts=None)
    job = session.scalars(select(Employment).where(Employment.person_id == li)).one()
    assert (job.city, job.employer, job.current, job.batch_id) == ("Shanghai", None, True, made.batch_id)

    held = reports.report(session, keyring, person_id=li, kind="city", value="Shanghai", channel="bot")
    same = reports.decide(session, keyring, held.id, apply=True, actor="staff", as_liaison=False, cohorts=None)
    assert same.batch_id is None and same.report.status == "applied"
    assert (
        session.scalar(select(func.count()).select_from(DatabankBatch).where(DatabankBatch.kind == "correction")) == 1
    )


def test_a_report_turned_down_changes_nothing_in_the_databank(session, keyring, people) -> None:
    report = reports.report(
        session, keyring, person_id=people["李娜"], kind="email", value="Li@Example.COM", channel="bot"
    )
    assert reports.value_of(keyring, report) == "Li@example.com"
    decision = reports.decide(session, keyring, report.id, apply=False, actor="staff", as_liaison=False, cohorts=None)
    assert decision.batch_id is None and decision.report.status == "rejected"
    assert session.scalar(select(func.count()).select_from(ContactPoint).where(ContactPoint.kind == "email")) == 0
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "class.contact_report_reject")) is not None


def test_a_liaison_sees_and_decides_only_the_reports_of_their_cohorts(session, keyring, people, cohort) -> None:
    account = staff.create_account(
        session,
        username="liaison1502",
        display_name="李老师",
        password="correct horse battery",
        roles=["class_liaison"],
        actor="t",
    )
    _appoint(session, keyring, cohort[SOFT_1502], staff_account_id=account.id, term_start=date.today())
    scope = liaisons.scope(session, account.id, ["class_liaison"])
    assert scope == frozenset({cohort[SOFT_1502]})
    theirs = reports.report(session, keyring, person_id=people["李娜"], kind="city", value="北京", channel="bot")
    other = reports.report(session, keyring, person_id=people["张伟"], kind="phone", value="13900139000", channel="bot")
    unplaced = reports.report(session, keyring, person_id=people["赵强"], kind="city", value="广州", channel="bot")
    session.execute(
        update(ContactChangeReport)
        .where(ContactChangeReport.id == unplaced.id)
        .values(cohort_id=None)  # a person in no cohort yet: the office only
    )
    session.expire_all()

    page, more = reports.pending(session, keyring, cohorts=scope)
    assert [r.id for r in page] == [theirs.id] and not more
    assert page[0].name == "李娜" and page[0].cohort_label == SOFT_1502 and page[0].value == "北京"
    office, _ = reports.pending(session, keyring, cohorts=None)
    assert [r.id for r in office] == [theirs.id, other.id, unplaced.id]
    assert office[1].masked == "139****9000" and office[1].value == "13900139000"
    first, more = reports.pending(session, keyring, cohorts=None, limit=2)
    assert len(first) == 2 and more

    for report_id in (other.id, unplaced.id, 999_999):
        with pytest.raises(NotFound):
            reports.get(session, keyring, report_id, cohorts=scope)
        with pytest.raises(NotFound):
            reports.decide(session, keyring, report_id, apply=True, actor="l", as_liaison=True, cohorts=scope)
    assert session.get(ContactChangeReport, other.id).status == "pending"
    assert reports.get(session, keyring, theirs.id, cohorts=scope).kind == "city"
    assert (
        reports.decide(session, keyring, theirs.id, apply=True, actor="l", as_liaison=True, cohorts=scope).report.status
        == "applied"
    )


def test_restricted_and_merged_people_are_refused(session, keyring, people) -> None:
    report = reports.report(session, keyring, person_id=people["张伟"], kind="city", value="长沙", channel="bot")
    privacy.restrict(session, people["李娜"], restricted=True, actor="t")
    with pytest.raises(ProcessingRestricted):
        reports.report(session, keyring, person_id=people["李娜"], kind="city", value="长沙", channel="bot")
    session.get(Person, people["张伟"]).status = "merged"
    with pytest.raises(Conflict):
        reports.decide(session, keyring, report.id, apply=True, actor="staff", as_liaison=False, cohorts=None)
    with pytest.raises(ValueError, match="source"):
        contacts.apply(
            session, keyring, people["赵强"], kind="city", value="长沙", source="registrar", actor="t", label="x"
        )


@given(kind=st.sampled_from(contacts.KINDS), value=st.text(max_size=300))
@settings(max_examples=300, deadline=None, database=None, derandomize=True)
def test_any_text_is_either_a_stored_form_or_a_refusal_naming_the_value(kind: str, value: str) -> None:
    try:
        stored = contacts.checked(kind, value)
    except ValidationFailed as refused:
        assert [f.field for f in refused.fields] == ["value"] and refused.user_message
        return
    assert stored and len(stored) <= contacts.LIMITS[kind] and stored == contacts.checked(kind, stored)
    # Its ciphertext fits the report's column, whatever the script (four UTF-8 octets a character at worst).
    assert len(SEALER.encrypt(kind, stored)) <= (COLUMN.length or 0)
