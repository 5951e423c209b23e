"""Privacy: encryption at rest with rotation, blind indexes, masking, audited reveals and exports, data-subject
requests (access, correction, erasure, restriction), the consent ledger, and an append-only audit log."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from core.errors import KeyUnavailable, ProcessingRestricted, ValidationFailed
from core.settings import Settings
from models import AuditEntry, ContactPoint, EducationRecord, Person, PersonName, WeChatIdentity
from models.privacy import AppendOnlyError
from services.databank import audit, importer, merge, privacy
from services.databank.keys import Keyring
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, ID_1, row, write_csv

PHONE, EMAIL = "13812345678", "zxm@example.com"


@pytest.fixture
def person_id(session: Session, db_settings: Settings, keyring: Keyring, tmp_path) -> int:
    path = write_csv(
        tmp_path / "r.csv",
        [
            [*row(身份证号=ID_1, 手机=PHONE, 邮箱=EMAIL, 工作单位="腾讯", 城市="深圳"), "张小明"],
            row_with_former("李娜", "2015002"),
        ],
        [*HEADER, "曾用名"],
    )
    importer.import_file(session, path, keyring=keyring, settings=db_settings.databank, actor="t")
    return int(session.scalar(select(Person.id).where(Person.name == "张晓明")) or 0)


def row_with_former(name: str, student_no: str) -> list[str]:
    return [*row(name, student_no), ""]


def actions(session: Session) -> list[str]:
    return [e.action for e in audit.entries(session)]


def test_keyring_encrypts_with_the_current_key_and_reads_old_ones() -> None:
    old = Keyring.from_strings(ENCRYPTION_KEYS, HMAC_KEYS)
    new_key = "k2:" + base64.b64encode(b"n" * 32).decode()
    rotated = Keyring.from_strings(
        f"{new_key},{ENCRYPTION_KEYS}", f"h2:{base64.b64encode(b'm' * 32).decode()},{HMAC_KEYS}"
    )
    sealed = old.encrypt("phone", PHONE)
    assert sealed.startswith("k1:") and PHONE not in sealed
    assert rotated.decrypt("phone", sealed) == PHONE
    assert rotated.encrypt("phone", PHONE).startswith("k2:")
    assert old.blind_index("phone", PHONE) in rotated.blind_indexes("phone", PHONE)
    with pytest.raises(KeyUnavailable):
        old.decrypt("phone", rotated.encrypt("phone", PHONE))
    with pytest.raises(KeyUnavailable):
        old.decrypt("email", sealed)  # the kind is bound to the ciphertext
    with pytest.raises(KeyUnavailable):
        Keyring.from_strings("", HMAC_KEYS)


def test_rotated_keys_still_find_and_open_old_rows(session, keyring, person_id, tmp_path, db_settings) -> None:
    rotated = Keyring.from_strings(
        "k2:" + base64.b64encode(b"n" * 32).decode() + "," + ENCRYPTION_KEYS,
        "h2:" + base64.b64encode(b"m" * 32).decode() + "," + HMAC_KEYS,
    )
    assert privacy.find_by_contact(session, rotated, "phone", "+86 138-1234-5678") == [person_id]
    view = privacy.staff_view(session, rotated, person_id)
    assert {c["kind"] for c in view["contacts"]} == {"phone", "email"}
    # Importing the same file under the new keys adds no second copy of the phone.
    path = write_csv(tmp_path / "again.csv", [row(手机=PHONE)])
    importer.import_file(session, path, keyring=rotated, settings=db_settings.databank, actor="t")
    assert session.scalar(select(func.count()).where(ContactPoint.kind == "phone")) == 1


def test_staff_view_masks_and_reveal_is_audited(session, keyring, person_id) -> None:
    view = privacy.staff_view(session, keyring, person_id)
    contacts = {c["kind"]: c for c in view["contacts"]}
    assert contacts["phone"]["value"] == "138****5678" and contacts["email"]["value"] == "z****@example.com"
    assert view["has_id_number"] and "id_hmac" not in view
    with pytest.raises(ValidationFailed):
        privacy.reveal_contact(session, keyring, contacts["phone"]["id"], actor="staff:wang", reason=" ")
    assert privacy.reveal_contact(session, keyring, contacts["phone"]["id"], actor="staff:wang", reason="回访") == PHONE
    [entry] = audit.entries(session, action="contact.reveal")
    assert (entry.actor, entry.person_id, entry.detail["kind"], entry.detail["reason"]) == (
        "staff:wang",
        person_id,
        "phone",
        "回访",
    )
    assert PHONE not in str(entry.detail)


def test_export_is_masked_by_default_and_always_audited(session, keyring, person_id) -> None:
    rows = list(privacy.export_rows(session, keyring, actor="staff:li"))
    header, data = rows[0], rows[1:]
    assert len(data) == 2
    mine = next(r for r in data if r[0] == person_id)
    assert mine[header.index("phone")] == "138****5678" and PHONE not in str(rows)
    with pytest.raises(ValidationFailed):
        list(privacy.export_rows(session, keyring, actor="staff:li", reveal=True))
    clear = list(privacy.export_rows(session, keyring, actor="staff:li", reveal=True, reason="校友会换届通知"))
    assert PHONE in str(clear)
    exports = audit.entries(session, action="databank.export")
    assert [e.detail["reveal"] for e in exports] == [False, True]


def test_subject_export_has_everything_with_provenance(session, keyring, person_id) -> None:
    privacy.grant_consent(session, person_id, purpose="newsletter", version="2026-01", channel="mp")
    session.add(WeChatIdentity(person_id=person_id, kind="mp_openid", value="o_mp_1"))
    data = privacy.subject_export(session, keyring, person_id, actor="staff:dpo")
    assert data["person"]["name"] == "张晓明" and data["former_names"] == ["张小明"]
    assert data["person"]["provenance"]["name"]["source"] == "registrar"
    assert {c["value"] for c in data["contacts"]} == {PHONE, EMAIL}
    assert data["wechat_identities"][0]["value"] == "o_mp_1"
    assert data["consents"][0]["purpose"] == "newsletter"
    assert data["education"][0]["student_no"] == "2015001"
    assert ID_1 not in str(data)
    assert "subject.export" in actions(session)


def test_correction_is_a_change_set_with_provenance(session, keyring, person_id) -> None:
    education_id = session.scalar(select(EducationRecord.id).where(EducationRecord.person_id == person_id))
    assert education_id is not None
    batch_id = privacy.correct(
        session,
        person_id,
        actor="staff:dpo",
        person={"name": "张晓敏"},
        education={education_id: {"major": "人工智能"}},
    )
    person = session.get(Person, person_id)
    assert person is not None and (person.name, person.name_pinyin) == ("张晓敏", "zhangxiaomin")
    assert privacy.provenance(session, person, ["name"])["name"] == {"batch_id": batch_id, "source": "self_reported"}
    with pytest.raises(ValidationFailed):
        privacy.correct(session, person_id, actor="staff:dpo", person={"id_hmac": "x"})
    assert "subject.correct" in actions(session)


def test_anonymise_keeps_counts_and_blocks_reimport(session, db_settings, keyring, person_id, tmp_path) -> None:
    before = session.scalar(select(func.count()).where(EducationRecord.college == "计算机学院"))
    privacy.anonymise(session, keyring, person_id, actor="staff:dpo")
    session.commit()
    person = session.get(Person, person_id)
    assert person is not None and person.status == "anonymised"
    assert (person.id_hmac, person.birth_date, person.name_pinyin) == (None, None, "")
    assert session.scalar(select(func.count()).where(ContactPoint.person_id == person_id)) == 0
    assert session.scalar(select(func.count()).where(PersonName.person_id == person_id)) == 0
    assert session.scalar(select(func.count()).where(EducationRecord.college == "计算机学院")) == before
    assert session.scalar(select(func.count()).where(EducationRecord.student_no == "2015001")) == 0
    # The registrar's next roster still lists them: they must not come back.
    path = write_csv(tmp_path / "again.csv", [row(身份证号=ID_1, 手机=PHONE)])
    result = importer.import_file(session, path, keyring=keyring, settings=db_settings.databank, actor="t")
    assert (result.inserted, result.unchanged) == (0, 1)
    assert "subject.anonymise" in actions(session)


def test_delete_removes_everything_but_the_audit_trail(session, keyring, person_id) -> None:
    privacy.delete_person(session, person_id, actor="staff:dpo")
    session.commit()
    assert session.get(Person, person_id) is None
    assert session.scalar(select(func.count()).where(EducationRecord.person_id == person_id)) == 0
    assert session.scalar(select(func.count()).where(ContactPoint.person_id == person_id)) == 0
    assert [e.action for e in audit.entries(session, person_id=person_id)] == ["subject.delete"]


def test_restriction_stops_exports_and_merges(session, keyring, person_id) -> None:
    other = session.scalar(select(Person.id).where(Person.name == "李娜"))
    assert other is not None
    privacy.restrict(session, person_id, restricted=True, actor="staff:dpo")
    exported = list(privacy.export_rows(session, keyring, actor="staff:li"))
    assert [r[0] for r in exported[1:]] == [other]
    with pytest.raises(ProcessingRestricted):
        merge.merge(session, other, person_id, actor="staff:li")
    privacy.restrict(session, person_id, restricted=False, actor="staff:dpo")
    assert len(list(privacy.export_rows(session, keyring, actor="staff:li"))) == 3
    assert {"subject.restrict", "subject.unrestrict"} <= set(actions(session))


def test_consent_ledger(session, person_id) -> None:
    privacy.grant_consent(session, person_id, purpose="newsletter", version="v1", channel="oa")
    assert privacy.has_consent(session, person_id, "newsletter")
    assert privacy.withdraw_consent(session, person_id, purpose="newsletter") == 1
    assert not privacy.has_consent(session, person_id, "newsletter")
    privacy.grant_consent(session, person_id, purpose="newsletter", version="v2", channel="mp")
    assert privacy.has_consent(session, person_id, "newsletter")
    data = privacy.subject_export(session, Keyring.from_strings(ENCRYPTION_KEYS, HMAC_KEYS), person_id, actor="t")
    assert [(c["version"], c["withdrawn_at"] is None) for c in data["consents"]] == [("v1", False), ("v2", True)]


def test_audit_log_is_append_only(session, person_id) -> None:
    entry = audit.record(session, actor="staff:x", action="test.entry", person_id=person_id)
    entry.action = "tampered"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()
    entry = audit.record(session, actor="staff:x", action="test.entry", person_id=person_id)
    session.commit()
    with pytest.raises(AppendOnlyError):
        session.delete(entry)
        session.flush()
    session.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(update(AuditEntry).where(AuditEntry.id == entry.id).values(action="tampered"))
    session.rollback()
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.id == entry.id)) == "test.entry"
    assert session.scalar(text("SELECT count(*) FROM audit_log")) >= 2
