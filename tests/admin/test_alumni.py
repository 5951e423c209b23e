"""The console's Alumni pages: search (name, pinyin, initials, student number, every filter, paging, bad input),
a person's page (masked for the viewer, audited, reveal with a reason), duplicates (compare, merge, unmerge, the undo
window) and the data-subject requests (export, correct, restrict, anonymise, delete), each through the databank's
services. Every route against every role is in test_access.py; the browser test is test_alumni_browser.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.settings import Settings
from models import AuditEntry, ContactPoint, EducationRecord, Person, PersonMerge
from services.databank import importer
from services.databank.keys import Keyring
from tests.admin.conftest import csrf_token, post, text
from tests.databank.conftest import HEADER, row

PHONE, EMAIL = "13800000001", "zxm@example.com"


@pytest.fixture
def people(console_app: Flask, console_settings: Settings, keyring: Keyring) -> dict[str, int]:
    """Five alumni: 张晓明 (a phone, an email, a job in 上海) and 張曉明 (the same name in traditional characters, the
    same class: a duplicate pair), 李娜 (北京), 王芳 (another class), 赵六 (法学院, 2003)."""
    rows = [
        row("张晓明", "2015001", 手机=PHONE, 邮箱=EMAIL, 工作单位="上海某科技公司", 城市="上海"),
        row("張曉明", "2015101"),
        row("李娜", "2015002", 手机="13900000002", 城市="北京"),
        row("王芳", "2015003", 班级="软件1502"),
        row("赵六", "1999001", 学院="法学院", 专业="法学", 班级="法学9901", 入学年份="1999", 毕业年份="2003"),
    ]
    rt = console_app.extensions["xiaoyou"]
    with rt.db.session() as session:
        importer.import_rows(
            session, HEADER, rows, keyring=keyring, settings=console_settings.databank, actor="test", label="roster"
        )
    with rt.db.session() as session:
        return {no: pid for no, pid in session.execute(select(EducationRecord.student_no, EducationRecord.person_id))}


def audit_entries(app: Flask, action: str | None = None) -> list[AuditEntry]:
    with app.extensions["xiaoyou"].db.session() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def found_ids(page: str) -> list[int]:
    """The person ids the results table links to, in order."""
    table = page.split('id="alumni-results"', 1)[1].split("</table>", 1)[0]
    return list(dict.fromkeys(int(i) for i in re.findall(r'href="/admin/alumni/(\d+)"', table)))


def search(client: FlaskClient, **query: Any) -> Any:
    return client.get("/admin/alumni", query_string=query)


# --- search -----------------------------------------------------------------------------------------------------


def test_search_by_name_pinyin_initials_student_number_and_every_filter(signed_in: Any, people: dict[str, int]) -> None:
    officer, _ = signed_in("officer")
    form = text(officer.get("/admin/alumni"))
    assert all(f'name="{name}"' in form for name in ("q", "year", "college", "major", "class", "city"))
    assert 'id="alumni-results"' not in form  # no query yet: the form alone

    by_name = text(search(officer, q="张晓明"))
    assert set(found_ids(by_name)) == {people["2015001"], people["2015101"]}  # 張曉明 too
    assert "張曉明" in by_name and "2015001" in by_name
    assert found_ids(text(search(officer, q="lina"))) == [people["2015002"]]
    assert found_ids(text(search(officer, q="zxm"))) == sorted([people["2015001"], people["2015101"]])
    assert found_ids(text(search(officer, q="2015003"))) == [people["2015003"]]
    assert found_ids(text(search(officer, year="2003", college="法学院"))) == [people["1999001"]]
    assert found_ids(text(search(officer, college="計算機學院", major="软件工程", year="2019"))) != []
    assert found_ids(text(search(officer, **{"class": "软件1502"}))) == [people["2015003"]]
    assert found_ids(text(search(officer, city="北京"))) == [people["2015002"]]
    assert found_ids(text(search(officer, q="张晓明", city="上海"))) == [people["2015001"]]
    nobody = text(search(officer, q="欧阳"))
    assert found_ids(nobody) == [] and "没有找到符合条件的校友" in nobody


def test_search_pages_with_the_services_paging_and_refuses_malformed_filters(
    console_app: Flask, console_settings: Settings, keyring: Keyring, signed_in: Any
) -> None:
    rows = [row(f"陈{'一二三四五六七八九十'[i % 10]}{'甲乙丙'[i // 10]}", f"20150{i:02d}") for i in range(23)]
    with console_app.extensions["xiaoyou"].db.session() as session:
        importer.import_rows(
            session, HEADER, rows, keyring=keyring, settings=console_settings.databank, actor="t", label="r"
        )
    officer, _ = signed_in("officer")
    first = text(search(officer, college="计算机学院"))
    assert len(found_ids(first)) == 10  # admin.audit_page_size in these tests
    assert 'id="alumni-next"' in first and 'id="alumni-prev"' not in first
    assert "page=2" in first and "college=" in first  # the next page keeps the filters
    third = text(search(officer, college="计算机学院", page="3"))
    assert len(found_ids(third)) == 3 and 'id="alumni-next"' not in third and 'id="alumni-prev"' in third
    seen = found_ids(first) + found_ids(text(search(officer, college="计算机学院", page="2"))) + found_ids(third)
    assert len(set(seen)) == 23

    cases = {
        "毕业年份须为四位数字": {"year": "二零一九"},
        "页码无效": {"q": "陈", "page": "0"},
        "只能翻看前 10000 条结果": {"q": "陈", "page": "1002"},  # offset 10010: past databank.search_max_offset
        "无法识别查询内容": {"q": "abc!"},
        "请输入姓名、拼音或学号": {"page": "2"},
    }
    for message, query in cases.items():
        refused = search(officer, **query)
        assert refused.status_code == 400, query
        assert message in text(refused) and 'id="alumni-filter"' in text(refused)
    for odd in ({"year": "99999"}, {"year": "²⁰¹⁹"}, {"q": "陈", "page": "²"}, {"deleted": "²"}):
        assert search(officer, **odd).status_code in (200, 400), odd  # never a 500
    assert search(officer, year="²⁰¹⁹").status_code == 400


# --- a person ---------------------------------------------------------------------------------------------------


def test_opening_a_person_is_audited_and_shows_everything_masked(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, me = signed_in("officer")
    pid = people["2015001"]
    page = text(officer.get(f"/admin/alumni/{pid}"))
    assert "张晓明" in page and "zhangxiaoming" in page and "上海某科技公司" in page and "2015001" in page
    assert "138****0001" in page and "z****@example.com" in page
    assert PHONE not in page and EMAIL not in page  # contacts stay masked until revealed
    assert "学籍系统" in page  # provenance: the registrar's roster
    assert 'id="person-candidates"' in page and f"编号 {people['2015101']}" in page  # 張曉明 is a candidate
    assert "同名、同届、同学院" in page
    views = audit_entries(console_app, "person.view")
    assert [(e.actor, e.person_id, e.detail) for e in views] == [(f"staff:{me.username}", pid, {})]
    assert 'id="person-history"' in page  # an officer may read the audit log, so the person's trail is shown
    assert officer.get("/admin/alumni/999999").status_code == 404
    assert len(audit_entries(console_app, "person.view")) == 1  # nothing audited for no one


def test_a_viewer_sees_masked_names_and_no_reveal_and_a_forged_reveal_is_refused(
    console_app: Flask, signed_in: Any, people: dict[str, int], keyring: Keyring
) -> None:
    viewer, _ = signed_in("viewer")
    pid = people["2015001"]
    page = text(viewer.get(f"/admin/alumni/{pid}"))
    assert "张****" in page and "2015****" in page and "138****0001" in page
    for clear in ("张晓明", "晓明", "zhangxiaoming", "2015001", PHONE, EMAIL, "張曉明"):
        assert clear not in page, clear
    assert "/reveal" not in page and "subject-requests" not in page and 'id="person-history"' not in page
    found = text(search(viewer, q="zxm"))
    assert "张****" in found and "張****" in found and "张晓明" not in found and "2015001" not in found
    dupes = text(viewer.get("/admin/alumni/duplicates"))
    assert "张****" in dupes and "张晓明" not in dupes and "撤销合并" not in dupes

    contact_id = contact_ids(console_app, pid)["phone"]
    forged = post(viewer, f"/admin/alumni/{pid}/contacts/{contact_id}/reveal", {"reason": "好奇"}, page="/admin/alumni")
    assert forged.status_code == 403 and PHONE not in text(forged)
    assert audit_entries(console_app, "contact.reveal") == []
    for action in ("export", "restrict", "anonymise", "delete", "correct"):
        refused = post(viewer, f"/admin/alumni/{pid}/{action}", {"confirm": str(pid)}, page="/admin/alumni")
        assert refused.status_code == 403, action
    with console_app.extensions["xiaoyou"].db.session() as session:
        person = session.get(Person, pid)
        assert person is not None and person.status == "active" and not person.restricted


def contact_ids(app: Flask, person_id: int) -> dict[str, int]:
    """The person's contact points: kind → id."""
    with app.extensions["xiaoyou"].db.session() as session:
        return dict(
            session.execute(select(ContactPoint.kind, ContactPoint.id).where(ContactPoint.person_id == person_id)).all()
        )


def test_reveal_needs_a_reason_writes_one_audit_entry_and_shows_the_value(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, me = signed_in("officer")
    pid = people["2015001"]
    url = f"/admin/alumni/{pid}"
    contacts = contact_ids(console_app, pid)
    page = text(officer.get(url))
    assert all(f"/contacts/{i}/reveal" in page for i in contacts.values())
    phone_url = f"{url}/contacts/{contacts['phone']}/reveal"
    token = csrf_token(officer, url)
    views = len(audit_entries(console_app, "person.view"))

    empty = officer.post(phone_url, data={"reason": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "请填写查看原因" in text(empty) and PHONE not in text(empty)
    assert audit_entries(console_app, "contact.reveal") == []

    shown = officer.post(phone_url, data={"reason": "联系返校活动", "csrf_token": token})
    assert shown.status_code == 200 and PHONE in text(shown) and "<html" in text(shown)
    assert EMAIL not in text(shown)  # only the one asked for
    reveals = audit_entries(console_app, "contact.reveal")
    assert len(reveals) == 1
    assert reveals[0].actor == f"staff:{me.username}" and reveals[0].person_id == pid
    assert reveals[0].detail == {"contact_id": contacts["phone"], "kind": "phone", "reason": "联系返校活动"}
    assert len(audit_entries(console_app, "person.view")) == views  # the page around a reveal is not a second read

    htmx = officer.post(
        f"{url}/contacts/{contacts['email']}/reveal",
        data={"reason": "发送邀请函", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200 and text(htmx).lstrip().startswith("<td") and EMAIL in text(htmx)
    assert "<html" not in text(htmx)
    refused = officer.post(phone_url, data={"reason": "", "csrf_token": token}, headers={"HX-Request": "true"})
    assert refused.status_code == 400 and text(refused).lstrip().startswith("<td") and "请填写查看原因" in text(refused)
    assert len(audit_entries(console_app, "contact.reveal")) == 2

    other = people["2015002"]  # a contact of someone else, through this person's page: not found, not revealed
    url_other = f"/admin/alumni/{other}/contacts/{contacts['phone']}/reveal"
    assert post(officer, url_other, {"reason": "x"}, page="/admin/alumni").status_code == 404
    assert len(audit_entries(console_app, "contact.reveal")) == 2


# --- duplicates and merges --------------------------------------------------------------------------------------


def test_compare_merge_and_unmerge_then_the_undo_window_closes(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, me = signed_in("officer")
    first, second = sorted((people["2015001"], people["2015101"]))
    page = text(officer.get("/admin/alumni/duplicates"))
    compare_url = f"/admin/alumni/compare/{first}/{second}"
    assert f'href="{compare_url}"' in page and "同名、同届、同学院" in page and "繁简写法不同" in page
    compared = text(officer.get(compare_url))
    assert "张晓明" in compared and "張曉明" in compared and 'id="merge-form"' in compared
    assert {e.person_id for e in audit_entries(console_app, "person.view")} == {first, second}

    form = {"first_id": first, "second_id": second, "keep_id": first}
    unconfirmed = post(officer, "/admin/alumni/merge", form, page=compare_url)
    assert unconfirmed.status_code == 400 and "请勾选确认" in text(unconfirmed)
    neither = post(
        officer, "/admin/alumni/merge", {**form, "keep_id": second + 1000, "confirm": "yes"}, page=compare_url
    )
    assert neither.status_code == 400 and "请选择要保留的档案" in text(neither)
    merged = post(officer, "/admin/alumni/merge", {**form, "confirm": "yes"}, page=compare_url)
    assert merged.status_code == 302
    with console_app.extensions["xiaoyou"].db.session() as session:
        record = session.scalar(select(PersonMerge))
        assert record is not None and (record.kept_id, record.merged_id) == (first, second)
        merge_id = record.id
    done = text(officer.get(merged.headers["Location"]))
    assert f"已合并（合并记录 {merge_id}）" in done and f'action="/admin/alumni/merges/{merge_id}/undo"' in done
    assert f"/admin/alumni/compare/{first}/{second}" not in done  # no longer a candidate
    gone = text(officer.get(f"/admin/alumni/{second}"))
    assert "已合并到" in gone and f'href="/admin/alumni/{first}"' in gone
    again = post(officer, "/admin/alumni/merge", {**form, "confirm": "yes"}, page=compare_url)
    assert again.status_code == 409 and f"档案 {second} 已合并或已匿名" in text(again)

    undone = post(officer, f"/admin/alumni/merges/{merge_id}/undo", page="/admin/alumni/duplicates")
    assert undone.status_code == 302 and "done=unmerged" in undone.headers["Location"]
    with console_app.extensions["xiaoyou"].db.session() as session:
        person = session.get(Person, second)
        assert person is not None and person.status == "active"
    twice = post(officer, f"/admin/alumni/merges/{merge_id}/undo", page="/admin/alumni/duplicates")
    assert twice.status_code == 409 and "这次合并已经撤销过了" in text(twice)
    actions = [(e.actor, e.action) for e in audit_entries(console_app)]
    assert (f"staff:{me.username}", "person.merge") in actions
    assert (f"staff:{me.username}", "person.merge_undone") in actions

    # A month and a day later: the page offers no undo, and the service refuses one with its message.
    assert post(officer, "/admin/alumni/merge", {**form, "confirm": "yes"}, page=compare_url).status_code == 302
    with console_app.extensions["xiaoyou"].db.session() as session:
        late = session.scalars(select(PersonMerge).order_by(PersonMerge.id.desc())).first()
        assert late is not None
        late.merged_at -= timedelta(days=31)
        late_id = late.id
    page = text(officer.get("/admin/alumni/duplicates"))
    assert f'action="/admin/alumni/merges/{late_id}/undo"' not in page and "已过撤销期限" in page
    expired = post(officer, f"/admin/alumni/merges/{late_id}/undo", page="/admin/alumni/duplicates")
    assert expired.status_code == 409 and "合并已超过 30 天，不能再撤销" in text(expired)
    same = officer.get(f"/admin/alumni/compare/{first}/{first}")
    assert same.status_code == 400 and "不能把档案与其自身合并" in text(same)


# --- data-subject requests --------------------------------------------------------------------------------------


def test_export_downloads_the_services_json_and_is_audited(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, me = signed_in("officer")
    pid = people["2015001"]
    exported = post(officer, f"/admin/alumni/{pid}/export", page=f"/admin/alumni/{pid}")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="person-{pid}.json"'
    assert exported.headers["Cache-Control"] == "no-store"
    data = json.loads(exported.data)
    assert data["person"]["name"] == "张晓明" and {c["value"] for c in data["contacts"]} == {PHONE, EMAIL}
    assert data["person"]["provenance"]["name"]["source"] == "registrar"
    [entry] = audit_entries(console_app, "subject.export")
    assert (entry.actor, entry.person_id) == (f"staff:{me.username}", pid)
    assert post(officer, "/admin/alumni/999999/export", page="/admin/alumni").status_code == 404


def test_correct_checks_each_value_and_records_a_change_set(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, _ = signed_in("officer")
    pid = people["2015003"]
    url = f"/admin/alumni/{pid}"
    page = text(officer.get(url))
    assert 'id="alumni_correct-form"' in page
    with console_app.extensions["xiaoyou"].db.session() as session:
        edu = session.scalar(select(EducationRecord).where(EducationRecord.person_id == pid))
        assert edu is not None
        edu_id = edu.id
    unchanged = {"name": "王芳", "gender": "", "birth_date": "", "nationality": "", "deceased": "0"}
    unchanged |= {f"edu-{edu_id}-grad_year": "2019", f"edu-{edu_id}-class_name": "软件1502", "source": "self_reported"}
    nothing = post(officer, f"{url}/correct", unchanged, page=url)
    assert nothing.status_code == 400 and "没有需要更正的内容" in text(nothing)
    bad_year = post(officer, f"{url}/correct", {**unchanged, f"edu-{edu_id}-grad_year": "二〇一九"}, page=url)
    assert bad_year.status_code == 400 and "「毕业年份」的值无效" in text(bad_year)
    bad_date = post(officer, f"{url}/correct", {**unchanged, "birth_date": "1997-02-30"}, page=url)
    assert bad_date.status_code == 400 and "「出生日期」的值无效" in text(bad_date)
    bad_source = post(officer, f"{url}/correct", {**unchanged, "name": "王芳芳", "source": "rumour"}, page=url)
    assert bad_source.status_code == 400 and "请选择更正依据" in text(bad_source)
    assert audit_entries(console_app, "subject.correct") == []

    corrected = post(
        officer,
        f"{url}/correct",
        {**unchanged, "name": "王芳芳", "gender": "F", f"edu-{edu_id}-grad_year": "2020"},
        page=url,
    )
    assert corrected.status_code == 302 and corrected.headers["Location"] == f"{url}?done=corrected"
    shown = text(officer.get(corrected.headers["Location"]))
    assert "更正已保存" in shown and "王芳芳" in shown and "本人申报" in shown and "2020" in shown
    [entry] = audit_entries(console_app, "subject.correct")
    assert entry.person_id == pid and entry.detail["fields"] == ["gender", "grad_year", "name"]
    with console_app.extensions["xiaoyou"].db.session() as session:
        person = session.get(Person, pid)
        assert person is not None and person.name == "王芳芳" and person.name_pinyin == "wangfangfang"
        assert person.gender == "F" and person.birth_date is None  # a blank field kept its value
    foreign = post(officer, f"{url}/correct", {"edu-999999-major": "法学"}, page=url)
    assert foreign.status_code == 404


def test_restrict_and_lift_need_the_typed_id_and_change_who_search_finds(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, _ = signed_in("officer")
    viewer, _ = signed_in("viewer")
    pid = people["2015002"]
    url = f"/admin/alumni/{pid}"
    wrong = post(officer, f"{url}/restrict", {"confirm": "1"}, page=url)
    assert wrong.status_code == 400 and "确认编号不符" in text(wrong)
    assert audit_entries(console_app, "subject.restrict") == []
    done = post(officer, f"{url}/restrict", {"confirm": str(pid)}, page=url)
    assert done.status_code == 302 and done.headers["Location"] == f"{url}?done=restricted"
    page = text(officer.get(done.headers["Location"]))
    assert "已限制处理此人的信息" in page and "已限制处理" in page and "unrestrict" in page
    assert found_ids(text(search(viewer, q="lina"))) == []  # restricted people leave search ...
    assert found_ids(text(search(officer, q="lina"))) == [pid]  # ... except to serve the request itself
    lifted = post(officer, f"{url}/unrestrict", {"confirm": str(pid)}, page=url)
    assert lifted.status_code == 302
    assert found_ids(text(search(viewer, q="lina"))) == [pid]
    assert [e.action for e in audit_entries(console_app) if e.action.startswith("subject.")] == [
        "subject.restrict",
        "subject.unrestrict",
    ]


def test_anonymise_and_delete_need_the_typed_id_and_go_through_the_service(
    console_app: Flask, signed_in: Any, people: dict[str, int]
) -> None:
    officer, _ = signed_in("officer")
    pid, other = people["2015001"], people["2015003"]
    url = f"/admin/alumni/{pid}"
    page = text(officer.get(url))
    assert "不可撤销" in page
    assert post(officer, f"{url}/anonymise", {"confirm": ""}, page=url).status_code == 400
    done = post(officer, f"{url}/anonymise", {"confirm": str(pid)}, page=url)
    assert done.status_code == 302
    page = text(officer.get(done.headers["Location"]))
    assert "已匿名化" in page and "张晓明" not in page and "138****" not in page
    assert "（已匿名）" in page and 'id="anonymise-form"' not in page.replace("alumni_", "")

    assert post(officer, f"/admin/alumni/{other}/delete", {"confirm": str(pid)}, page=url).status_code == 400
    deleted = post(officer, f"/admin/alumni/{other}/delete", {"confirm": str(other)}, page=url)
    assert deleted.status_code == 302 and deleted.headers["Location"] == f"/admin/alumni?deleted={other}"
    assert f"档案 {other} 及其全部信息已删除" in text(officer.get(deleted.headers["Location"]))
    assert officer.get(f"/admin/alumni/{other}").status_code == 404
    actions = [(e.action, e.person_id) for e in audit_entries(console_app) if e.action.startswith("subject.")]
    assert actions == [("subject.anonymise", pid), ("subject.delete", other)]


def test_the_alumni_pages_carry_no_inline_script_or_style(signed_in: Any, people: dict[str, int]) -> None:
    officer, _ = signed_in("officer")
    pid = people["2015001"]
    urls = ["/admin/alumni", "/admin/alumni?q=zxm", f"/admin/alumni/{pid}", "/admin/alumni/duplicates"]
    urls.append(f"/admin/alumni/compare/{pid}/{people['2015101']}")
    for url in urls:
        page = text(officer.get(url))
        assert "<script>" not in page and " on" + "click=" not in page and "style=" not in page, url
