"""The knowledge base's rules: validation with precise messages, audit rows, the version bump after commit, search
with paging, and the .xlsx export and all-or-nothing import."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, KnowledgeEntry
from services.inquiries import knowledge
from services.inquiries.knowledge import Draft

HEADER = ["编号 id", "问题 question", "答案 answer", "关键词 keywords", "分类 category", "启用 enabled"]


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def rds(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis.url)
    yield client
    client.close()


def card(question: str = "如何申请电子校友卡", **fields: Any) -> Draft:
    values = {
        "answer": "打开校友会小程序，进入「校友卡」页面提交申请。",
        "keywords": "校友卡, 电子校友卡 办卡",
        "category": "card",
    }
    return Draft(question=question, **(values | fields))


def xlsx(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # as Excel keeps typed text: "=SUM(A1)" stays text
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(KnowledgeEntry)) or 0)


def test_create_cleans_the_entry_audits_and_bumps_the_version_after_commit(db: Database, rds: redis.Redis) -> None:
    before = knowledge.version(rds)
    with db.session() as s:
        entry = knowledge.create(s, rds, card("  如何申请  电子校友卡 ", keywords="校友卡，电子校友卡、办卡 校友卡"),
                                 actor="staff:amy")  # fmt: skip
        assert knowledge.version(rds) == before  # not yet: the rows are not committed
        entry_id = entry.id
    assert knowledge.version(rds) == before + 1
    with db.session() as s:
        saved = s.get(KnowledgeEntry, entry_id)
        assert saved is not None
        assert (saved.question, saved.keywords, saved.enabled) == (
            "如何申请 电子校友卡",
            "校友卡 电子校友卡 办卡",
            True,
        )
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "knowledge.create")).one()
        assert audit.actor == "staff:amy" and audit.detail["entry_id"] == entry_id


def test_a_rolled_back_change_does_not_bump(db: Database, rds: redis.Redis) -> None:
    before = knowledge.version(rds)
    with pytest.raises(RuntimeError), db.session() as s:
        knowledge.create(s, rds, card(), actor="staff:amy")
        raise RuntimeError("the caller fails after the service call")
    with db.session() as s:
        s.execute(select(1))
    assert knowledge.version(rds) == before and count(db) == 0


def test_every_refused_field_is_named_with_a_precise_message(db: Database, rds: redis.Redis) -> None:
    draft = Draft(question="问", answer="", keywords="a" * 31, category="lost")
    with pytest.raises(ValidationFailed) as caught, db.session() as s:
        knowledge.create(s, rds, draft, actor="staff:amy")
    problems = {p.field: p for p in caught.value.fields}
    assert set(problems) == {"question", "answer", "keywords", "category"}
    assert problems["question"].message == "问题至少 2 个字"
    assert problems["answer"].message == "答案不能为空"
    assert "每个最多 30 个字" in problems["keywords"].message
    assert problems["category"].message.startswith("分类「lost」不存在，可选：校友卡、身份核验")
    assert count(db) == 0


@pytest.mark.parametrize(
    ("draft", "field", "message"),
    [
        (card("问" * 501), "question", "问题最多 500 个字（现在 501 个字）"),
        (card(answer="答" * 601), "answer", "答案最多 600 个字（现在 601 个字）"),
        (card("如何\x00申请"), "question", "问题含有不允许的控制字符"),
        (card(keywords=" ".join(f"k{i}" for i in range(31))), "keywords", "关键词最多 30 个（现在 31 个）"),
    ],
)
def test_limits(db: Database, rds: redis.Redis, draft: Draft, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught, db.session() as s:
        knowledge.create(s, rds, draft, actor="staff:amy")
    assert [(p.field, p.message) for p in caught.value.fields] == [(field, message)]


def test_a_category_may_be_given_by_its_chinese_name(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        assert knowledge.create(s, rds, card(category="成绩单与档案"), actor="staff:amy").category == "archive"


def test_the_same_question_twice_is_refused_whatever_its_punctuation(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        first = knowledge.create(s, rds, card("如何申请电子校友卡？"), actor="staff:amy").id
    with pytest.raises(ValidationFailed) as caught, db.session() as s:
        knowledge.create(s, rds, card("如何 申请电子校友卡!"), actor="staff:amy")
    assert caught.value.fields[0].message == f"已有相同的问题（条目 {first}）"


def test_edit_and_disable_are_audited_and_bump_only_when_something_changed(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        entry_id = knowledge.create(s, rds, card(), actor="staff:amy").id
    start = knowledge.version(rds)
    with db.session() as s:
        knowledge.edit(s, rds, entry_id, card(answer="新的答案"), actor="staff:bob")
    with db.session() as s:
        knowledge.edit(s, rds, entry_id, card(answer="新的答案"), actor="staff:bob")  # the same: no change
    with db.session() as s:
        knowledge.set_enabled(s, rds, entry_id, False, actor="staff:bob")
        knowledge.set_enabled(s, rds, entry_id, False, actor="staff:bob")
    assert knowledge.version(rds) == start + 2
    with db.session() as s:
        actions = [(a.action, a.detail.get("fields")) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == [("knowledge.create", None), ("knowledge.update", ["answer"]), ("knowledge.disable", None)]
        entry = s.get(KnowledgeEntry, entry_id)
        assert entry is not None and entry.updated_by == "staff:bob" and not entry.enabled
        assert knowledge.load_enabled(s) == []
    with pytest.raises(NotFound), db.session() as s:
        knowledge.edit(s, rds, entry_id + 99, card(), actor="staff:bob")


def test_search_filters_and_pages(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        for i in range(7):
            knowledge.create(s, rds, card(f"校友卡问题{i}", keywords=f"卡{i}"), actor="staff:amy")
        knowledge.create(s, rds, card("如何开具成绩单", keywords="成绩单 100%", category="archive"), actor="staff:amy")
    with db.session() as s:
        rows, more, total = knowledge.search(s, text="卡问题", limit=5)
        assert (len(rows), more, total) == (5, True, 7)
        rows, more, _ = knowledge.search(s, text="卡问题", offset=5, limit=5)
        assert (len(rows), more) == (2, False)
        assert [e.question for e in knowledge.search(s, category="archive")[0]] == ["如何开具成绩单"]
        assert knowledge.search(s, text="100%")[2] == 1 and knowledge.search(s, text="10_%")[2] == 0
        with pytest.raises(ValidationFailed):
            knowledge.search(s, category="nope")


def test_export_then_import_round_trips_and_updates_by_id(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        first = knowledge.create(s, rds, card(), actor="staff:amy").id
        knowledge.create(s, rds, card("=SUM(A1)", category="other"), actor="staff:amy")
    out = io.BytesIO()
    with db.session() as s:
        assert knowledge.export_xlsx(s, out, actor="staff:amy") == 2
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    rows: list[list[Any]] = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == HEADER and rows[1][4] == "校友卡" and rows[2][1] == "=SUM(A1)"  # text, never a formula
    rows[1][2] = "改过的答案"
    rows.append([None, "校友会有哪些活动", "请关注公众号的活动通知。", "活动", "event", "否"])
    start = knowledge.version(rds)
    with db.session() as s:
        done = knowledge.import_xlsx(s, rds, xlsx(rows[1:]), actor="staff:bob")
    assert (done.created, done.updated, done.unchanged) == (1, 1, 1)
    assert knowledge.version(rds) == start + 1
    with db.session() as s:
        entry = s.get(KnowledgeEntry, first)
        assert entry is not None and entry.answer == "改过的答案"
        added = s.scalars(select(KnowledgeEntry).where(KnowledgeEntry.category == "event")).one()
        assert not added.enabled
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "knowledge.import")).one()
        assert audit.detail == {"created": 1, "updated": 1, "unchanged": 1}


def test_one_bad_row_means_nothing_is_written_and_every_problem_is_reported(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        existing = knowledge.create(s, rds, card(), actor="staff:amy").id
    rows: list[list[Any]] = [
        [None, "校友会有哪些活动", "请关注通知。", "活动", "event", ""],  # fine
        [existing, "如何申请电子校友卡", "改了", "", "card", "也许"],  # bad enabled
        [None, "如何开具成绩单", "", "", "档案", None],  # no answer, unknown category
        ["abc", "捐赠怎么开发票", "联系基金会。", "", "donation", ""],  # bad id
        [9999, "如何更新联系方式", "在小程序里改。", "", "data_update", ""],  # unknown id
        [None, "校友会有哪些活动？", "重复", "", "event", ""],  # the same question as row 2
    ]
    start = knowledge.version(rds)
    with pytest.raises(knowledge.RowsRefused) as caught, db.session() as s:
        knowledge.import_xlsx(s, rds, xlsx(rows), actor="staff:bob")
    got = [(p.row, p.column, p.message) for p in caught.value.problems]
    assert got == [
        (3, "启用 enabled", "启用一栏应填「是」或「否」（现在是「也许」）"),
        (4, "答案 answer", "答案不能为空"),
        (
            4,
            "分类 category",
            "分类「档案」不存在，可选：校友卡、身份核验、信息更新、捐赠、活动、成绩单与档案、地方校友会、其他",
        ),
        (5, "编号 id", "编号应为正整数（现在是「abc」）"),
        (6, "编号 id", "编号 9999 的条目不存在"),
        (7, "问题 question", "与第 2 行的问题相同"),
    ]
    assert caught.value.user_message == "有 6 处错误，没有导入任何条目。请修改后重新导入。"
    assert count(db) == 1 and knowledge.version(rds) == start
    with db.session() as s:
        entry = s.get(KnowledgeEntry, existing)
        assert entry is not None and entry.answer != "改了"


def test_an_import_may_swap_a_question_between_entries_it_updates(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        a = knowledge.create(s, rds, card("问题甲"), actor="staff:amy").id
        b = knowledge.create(s, rds, card("问题乙"), actor="staff:amy").id
    with db.session() as s:
        knowledge.import_xlsx(s, rds, xlsx([[a, "问题乙", "答", "", "card"], [b, "问题甲", "答", "", "card"]]),
                              actor="staff:bob")  # fmt: skip
    with pytest.raises(knowledge.RowsRefused), db.session() as s:  # a new row taking an untouched entry's question
        knowledge.import_xlsx(s, rds, xlsx([[None, "问题乙", "答", "", "card"]]), actor="staff:bob")


def _zip_of(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty_upload"),
        (b"question,answer\n1,2\n", "not_xlsx"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not_xlsx"),
        (_zip_of({"word/document.xml": b"<x/>"}), "not_xlsx"),
        (_zip_of({"xl/workbook.xml": b"not xml at all", "[Content_Types].xml": b"<"}), "unreadable"),
        (_zip_of({"xl/workbook.xml": b"\x00" * (51 * 1024 * 1024)}), "too_large"),  # a zip bomb
        (b"PK" + b"\x00" * (2 * 1024 * 1024 + 1), "too_large"),
        (xlsx([], header=["问题", "答案"]), "missing_columns"),
        (xlsx([]), "no_rows"),
        (xlsx([[None, "如何申请", "答", "", "card"]] * 5001), "too_many_rows"),
    ],
)
def test_a_wrong_or_broken_file_is_refused_with_a_message(
    db: Database, rds: redis.Redis, data: bytes, problem: str
) -> None:
    with pytest.raises(knowledge.FileRefused) as caught, db.session() as s:
        knowledge.import_xlsx(s, rds, data, actor="staff:bob")
    assert caught.value.problem == problem
    assert caught.value.status == 400 and caught.value.user_message
    assert count(db) == 0


def test_an_empty_sheet_is_refused(db: Database, rds: redis.Redis) -> None:
    out = io.BytesIO()
    Workbook().save(out)
    with pytest.raises(knowledge.FileRefused) as caught, db.session() as s:
        knowledge.import_xlsx(s, rds, out.getvalue(), actor="staff:bob")
    assert caught.value.problem == "empty_file"


def test_record_hit_counts_without_moving_the_version(db: Database, rds: redis.Redis) -> None:
    with db.session() as s:
        entry_id = knowledge.create(s, rds, card(), actor="staff:amy").id
    start = knowledge.version(rds)
    with db.session() as s:
        knowledge.record_hit(s, entry_id)
        knowledge.record_hit(s, entry_id)
    with db.session() as s:
        entry = s.get(KnowledgeEntry, entry_id)
        assert entry is not None and entry.hits == 2
    assert knowledge.version(rds) == start


def test_a_flushed_redis_starts_the_version_at_a_random_number(rds: redis.Redis) -> None:
    first = knowledge.version(rds)
    rds.flushdb()
    second = knowledge.version(rds)
    assert first != second and knowledge.bump(rds) == second + 1
