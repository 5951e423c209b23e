"""The knowledge-base pages through the Flask client: permissions, the list with its filters, add and edit with
field errors, enable and disable, the .xlsx import (row errors shown, nothing half-imported) and export, and the
"test a question" box."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from flask import Flask
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from models import AuditEntry, KnowledgeEntry
from tests.admin.conftest import csrf_token, post, text

HEADER = ["编号 id", "问题 question", "答案 answer", "关键词 keywords", "分类 category", "启用 enabled"]


def entry_form(question: str = "如何申请电子校友卡", **fields: str) -> dict[str, str]:
    answer = "打开小程序，进入「校友卡」提交申请。"
    return {"question": question, "answer": answer, "keywords": "校友卡 电子校友卡 办卡", "category": "card",
            "enabled": "1", **fields}  # fmt: skip


def entries(app: Flask) -> list[KnowledgeEntry]:
    with app.extensions["xiaoyou"].db.session() as session:
        return list(session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id)))


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def broken_xlsx() -> bytes:
    """A zip that claims to be a workbook, with a workbook part that is not XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("xl/workbook.xml", "not xml")
    return out.getvalue()


def upload(client: Any, data: bytes, name: str = "kb.xlsx") -> Any:
    token = csrf_token(client, "/admin/knowledge")
    return client.post("/admin/knowledge/import", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")  # fmt: skip


def test_who_may_see_and_change_the_knowledge_base(signed_in: Any) -> None:
    viewer, _ = signed_in("viewer")
    page = viewer.get("/admin/knowledge")
    assert page.status_code == 200 and "知识库" in text(page)
    assert 'id="knowledge-add"' not in text(page) and 'id="knowledge-import"' not in text(page)
    assert post(viewer, "/admin/knowledge/new", entry_form(), page="/admin/knowledge").status_code == 403
    liaison, _ = signed_in("class_liaison")
    assert liaison.get("/admin/knowledge").status_code == 403
    home = liaison.get("/admin/")
    assert 'href="/admin/knowledge"' not in text(home)
    officer, _ = signed_in("officer")
    assert 'href="/admin/knowledge"' in text(officer.get("/admin/"))  # the navigation links it


def test_add_edit_disable_and_filter(console_app: Flask, signed_in: Any) -> None:
    client, member = signed_in("officer")
    created = post(client, "/admin/knowledge/new", entry_form(), page="/admin/knowledge/new")
    assert created.status_code == 302 and created.headers["Location"].endswith("/admin/knowledge?done=saved")
    post(client, "/admin/knowledge/new", entry_form("如何开具成绩单", category="archive", keywords="成绩单"),
         page="/admin/knowledge/new")  # fmt: skip
    card, transcript = entries(console_app)
    assert card.updated_by == f"staff:{member.username}" and transcript.category == "archive"
    listed = text(client.get("/admin/knowledge?done=saved"))
    assert "条目已保存。" in listed and f'id="entry-{card.id}"' in listed and "共 2 条" in listed
    only = text(client.get("/admin/knowledge?category=archive"))
    assert f'id="entry-{transcript.id}"' in only and f'id="entry-{card.id}"' not in only
    found = text(client.get("/admin/knowledge?q=电子"))
    assert f'id="entry-{card.id}"' in found and f'id="entry-{transcript.id}"' not in found
    assert client.get("/admin/knowledge?category=lost").status_code == 400
    assert client.get("/admin/knowledge?page=0").status_code == 400

    form = text(client.get(f"/admin/knowledge/{card.id}"))
    assert "如何申请电子校友卡" in form
    edited = post(client, f"/admin/knowledge/{card.id}", entry_form(answer="新的答案"), page="/admin/knowledge")
    assert edited.status_code == 302 and entries(console_app)[0].answer == "新的答案"
    off = post(client, f"/admin/knowledge/{card.id}/enabled", {"enabled": "0"}, page="/admin/knowledge")
    assert off.headers["Location"].endswith("done=disabled") and not entries(console_app)[0].enabled
    assert f'id="entry-{card.id}"' in text(client.get("/admin/knowledge?state=disabled"))
    assert client.get("/admin/knowledge/99999").status_code == 404
    missing = post(client, "/admin/knowledge/99999/enabled", {"enabled": "1"}, page="/admin/knowledge")
    assert missing.status_code == 404
    with console_app.extensions["xiaoyou"].db.session() as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.startswith("knowledge."))))
    assert actions == ["knowledge.create", "knowledge.create", "knowledge.update", "knowledge.disable"]


def test_a_refused_entry_shows_every_field_error_and_keeps_what_was_typed(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("officer")
    refused = post(client, "/admin/knowledge/new", entry_form("问", answer="", category="nope"),
                   page="/admin/knowledge/new")  # fmt: skip
    body = text(refused)
    assert refused.status_code == 400
    assert "问题至少 2 个字" in body and "答案不能为空" in body and "分类「nope」不存在" in body
    assert 'value="问"' in body and entries(console_app) == []


def test_the_form_needs_its_csrf_token(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("officer")
    assert client.post("/admin/knowledge/new", data=entry_form()).status_code == 400
    assert entries(console_app) == []


def test_import_shows_row_errors_and_writes_nothing_then_imports_a_good_file(
    console_app: Flask, signed_in: Any
) -> None:
    client, _ = signed_in("officer")
    bad = upload(client, xlsx([[None, "校友会有哪些活动", "请关注通知。", "活动", "event", ""],
                               [None, "如何开具成绩单", "", "", "档案", ""]]))  # fmt: skip
    body = text(bad)
    assert bad.status_code == 400
    assert "有 2 处错误，没有导入任何条目。" in body and 'id="knowledge-problems"' in body
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>', body)
    choices = "校友卡、身份核验、信息更新、捐赠、活动、成绩单与档案、地方校友会、其他"
    assert rows == [
        ("3", "答案 answer", "答案不能为空"),
        ("3", "分类 category", f"分类「档案」不存在，可选：{choices}"),
    ]
    assert entries(console_app) == []
    good = upload(client, xlsx([[None, "校友会有哪些活动", "请关注通知。", "活动", "活动", ""]]))
    assert good.status_code == 200 and "导入完成：新增 1 条，更新 0 条。" in text(good)
    assert [e.question for e in entries(console_app)] == ["校友会有哪些活动"]


def test_a_wrong_file_gets_a_message_never_a_500(console_app: Flask, signed_in: Any) -> None:
    client, _ = signed_in("officer")
    for data, message in (
        (b"name,answer\n", "只能导入 .xlsx 格式的 Excel 文件"),
        (b"PK\x03\x04broken", "只能导入 .xlsx 格式的 Excel 文件"),
        (broken_xlsx(), "文件无法读取"),
        (b"", "请选择要导入的 .xlsx 文件。"),
    ):
        response = upload(client, data, "kb.csv")
        assert response.status_code == 400 and message in text(response), message
    token = csrf_token(client, "/admin/knowledge")
    no_file = client.post("/admin/knowledge/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert no_file.status_code == 400 and "请选择要导入的 .xlsx 文件。" in text(no_file)
    # Over the cap: refused before the body is read. Encoded here, in memory: the test client would spool a body this
    # big to a temporary file that nothing closes (the app never reads it).
    fields = {"csrf_token": token, "file": FileStorage(io.BytesIO(b"PK" + b"\x00" * (3 * 1024 * 1024)), "kb.xlsx")}
    boundary, body = encode_multipart(fields)
    huge = client.post("/admin/knowledge/import", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert huge.status_code == 413 and "文件太大" in text(huge)
    assert entries(console_app) == []


def test_export_downloads_every_entry_as_xlsx(console_app: Flask, signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    post(officer, "/admin/knowledge/new", entry_form(), page="/admin/knowledge/new")
    viewer, _ = signed_in("viewer")
    response = viewer.get("/admin/knowledge/export.xlsx")
    assert response.status_code == 200 and "knowledge-base.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER and rows[1][1:] == ["如何申请电子校友卡", "打开小程序，进入「校友卡」提交申请。",
                                                 "校友卡 电子校友卡 办卡", "校友卡", "是"]  # fmt: skip
    with console_app.extensions["xiaoyou"].db.session() as session:
        assert session.scalar(select(func.count()).where(AuditEntry.action == "knowledge.export")) == 1


def test_the_test_box_shows_the_verdict_and_the_scores(console_app: Flask, signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    post(officer, "/admin/knowledge/new", entry_form(), page="/admin/knowledge/new")
    post(
        officer,
        "/admin/knowledge/new",
        entry_form("校友卡丢了怎么挂失", keywords="挂失 补办"),
        page="/admin/knowledge/new",
    )
    viewer, _ = signed_in("viewer")
    exact = text(post(viewer, "/admin/knowledge/test", {"text": "如何申请电子校友卡"}, page="/admin/knowledge"))
    assert 'data-kind="confident"' in exact and "直接回答（分数不低于 82）" in exact
    assert re.search(r"<td>如何申请电子校友卡</td><td>校友卡</td><td class=\"num\">100.0</td>", exact)
    vague = text(post(viewer, "/admin/knowledge/test", {"text": "校友卡"}, page="/admin/knowledge"))
    assert 'data-kind="suggest"' in vague
    miss = text(post(viewer, "/admin/knowledge/test", {"text": "今天天气怎么样"}, page="/admin/knowledge"))
    assert 'data-kind="none"' in miss and "没有匹配，转给校友办" in miss
    too_long = post(viewer, "/admin/knowledge/test", {"text": "字" * 501}, page="/admin/knowledge")
    assert too_long.status_code == 400 and "测试的话最多 500 个字。" in text(too_long)
    # An edit shows in the test box at once (it looks at the version now).
    card = entries(console_app)[0]
    post(officer, f"/admin/knowledge/{card.id}/enabled", {"enabled": "0"}, page="/admin/knowledge")
    after = text(post(viewer, "/admin/knowledge/test", {"text": "如何申请电子校友卡"}, page="/admin/knowledge"))
    assert f'data-entry="{card.id}"' in exact and f'data-entry="{card.id}"' not in after
