"""The help desk's workflow (services/inquiries/desk.py) on the real database: filing from chat (text, media, the
truncation rule, retried pushes), follow-ups within the window, the mini-program's idempotent filing, staff logs with
a databank person or a sealed requester (audited when opened), every step and its written record, the refusals
(closing twice, rating twice, assigning to someone without the permission...), the inbox's tabs, counts and keyset
pages, and the monthly report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import texts
from core.errors import Conflict, NotFound, ValidationFailed
from core.settings import Settings
from models import AuditEntry, Inquiry, InquiryEvent, Person, StaffAccount
from services import staff
from services.databank import importer
from services.databank.keys import Keyring
from services.inquiries import desk
from tests.databank import conftest as databank
from tests.databank.conftest import row, write_csv

# The databank's fixtures: settings with keys, a session on the real test database.
db, db_settings, keyring, session = databank.db, databank.db_settings, databank.keyring, databank.session

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ALICE, BOB = "o_alice_000000000001", "o_bob_00000000000002"


def chat(
    session: Session, settings: Settings, text: str | None = "校友卡丢了怎么补办？", key: str = "m1", **kw: Any
) -> desk.Filed:
    values: dict[str, Any] = {"openid": ALICE, "msg_type": "text", "text": text, "media_id": None, "now": NOW}
    return desk.open_from_chat(session, settings, source_key=key, **(values | kw))


def member(session: Session, username: str, *roles: str) -> StaffAccount:
    return staff.create_account(
        session, username=username, display_name=f"测试{username}", password="correct horse battery", roles=roles,
        actor="test",
    )  # fmt: skip


def events(session: Session, inquiry_id: int) -> list[tuple[str, str | None]]:
    found = session.scalars(select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry_id).order_by(InquiryEvent.id))
    return [(e.kind, e.body) for e in found]


# --- filing -------------------------------------------------------------------------------------------------------


def test_a_chat_message_opens_an_inquiry_with_its_sla_and_first_event_once_per_push(
    session: Session, db_settings: Settings
) -> None:
    filed = chat(session, db_settings)
    inquiry = filed.inquiry
    assert filed.dropped_chars == 0 and inquiry.status == "open" and inquiry.channel == "wechat"
    assert inquiry.category == "other" and inquiry.due_at == NOW + timedelta(hours=72)
    assert inquiry.last_message_at == NOW
    assert events(session, inquiry.id) == [("message", "校友卡丢了怎么补办？")]
    again = chat(session, db_settings, text="another text of the same retried push")
    assert again.inquiry.id == inquiry.id
    assert session.scalar(select(Inquiry.id).where(Inquiry.id != inquiry.id)) is None

    long = chat(session, db_settings, text="问" * (desk.MAX_CHARS + 25), key="m2")
    assert long.dropped_chars == 25 and len(long.inquiry.question) == desk.MAX_CHARS

    image = chat(session, db_settings, key="m3", msg_type="image", text=None, media_id="MEDIA_1")
    assert image.inquiry.question == texts.INQUIRY_MEDIA_PLACEHOLDER["image"]
    opening = session.scalar(select(InquiryEvent).where(InquiryEvent.inquiry_id == image.inquiry.id))
    assert opening is not None and (opening.msg_type, opening.media_id, opening.body) == ("image", "MEDIA_1", None)

    for kw, message in (
        ({"text": " 问 "}, texts.ASK_TOO_SHORT.format(min_chars=desk.MIN_CHARS)),
        ({"msg_type": "voice", "text": None, "media_id": ""}, texts.INQUIRY_ERRORS["media"]),
        ({"msg_type": "video", "media_id": "x"}, texts.INQUIRY_ERRORS["msg_type"]),
    ):
        with pytest.raises(ValidationFailed) as refused:
            chat(session, db_settings, key="bad", **kw)
        assert refused.value.user_message == message
    assert session.scalar(select(Inquiry).where(Inquiry.source_key == "bad")) is None


def test_the_old_submit_files_through_the_same_rules(session: Session) -> None:
    filed = desk.submit(session, ALICE, "  怎样更新我的联系方式？ ", "push-1")
    assert filed.inquiry.question == "怎样更新我的联系方式？" and filed.inquiry.due_at is not None
    assert desk.submit(session, ALICE, "怎样更新我的联系方式？", "push-1").inquiry.id == filed.inquiry.id


def test_follow_ups_join_the_open_inquiry_within_the_window_once_each(session: Session, db_settings: Settings) -> None:
    first = chat(session, db_settings).inquiry
    window = db_settings.inquiries.followup_window_minutes
    later = NOW + timedelta(minutes=window - 1)
    joined = desk.follow_up(
        session, db_settings, openid=ALICE, msg_type="voice", text=None, media_id="VOICE_1", source_key="m2", now=later
    )
    assert joined is not None and joined.id == first.id and joined.last_message_at == later
    again = desk.follow_up(
        session, db_settings, openid=ALICE, msg_type="voice", text=None, media_id="VOICE_1", source_key="m2", now=later
    )
    assert again is not None and again.id == first.id
    assert [k for k, _ in events(session, first.id)] == ["message", "message"]
    # The window counts from the latest message: a message just inside it again still joins.
    text_later = later + timedelta(minutes=window)
    assert desk.follow_up(
        session, db_settings, openid=ALICE, msg_type="text", text="补充一下", media_id=None, source_key="m3",
        now=text_later,
    ) is not None  # fmt: skip
    too_late = text_later + timedelta(minutes=window + 1)
    assert desk.follow_up(
        session, db_settings, openid=ALICE, msg_type="text", text="还有", media_id=None, source_key="m4", now=too_late
    ) is None  # fmt: skip
    assert desk.follow_up(
        session, db_settings, openid=BOB, msg_type="text", text="别人的", media_id=None, source_key="m5", now=later
    ) is None  # fmt: skip
    desk.close(session, first.id, resolution="已答复", actor="staff:wang", now=text_later)
    assert desk.follow_up(
        session, db_settings, openid=ALICE, msg_type="text", text="谢谢", media_id=None, source_key="m6",
        now=text_later + timedelta(minutes=1),
    ) is None  # fmt: skip


def test_the_mini_program_files_once_per_request_and_refuses_a_reused_request_id(
    session: Session, db_settings: Settings
) -> None:
    key = desk.miniprogram_key(ALICE, "req-000001", session_token="t", question="q")
    inquiry, new = desk.open_from_miniprogram(
        session, db_settings, openid=ALICE, question="毕业证遗失如何补办？", source_key=key, category="archive"
    )
    assert new and inquiry.channel == "miniprogram" and inquiry.category == "archive"
    same, again = desk.open_from_miniprogram(
        session, db_settings, openid=ALICE, question="毕业证遗失如何补办？", source_key=key, category="archive"
    )
    assert same.id == inquiry.id and not again
    with pytest.raises(Conflict) as reused:
        desk.open_from_miniprogram(session, db_settings, openid=ALICE, question="另一个问题？", source_key=key)
    assert reused.value.user_message == texts.INQUIRY_ERRORS["request_reused"]
    one = desk.miniprogram_key(ALICE, None, session_token="tok", question=" 问题 ")
    assert one == desk.miniprogram_key(ALICE, None, session_token="tok", question="问题")
    assert one != desk.miniprogram_key(ALICE, None, session_token="other", question="问题")


@pytest.fixture
def person_id(session: Session, db_settings: Settings, keyring: Keyring, tmp_path: Path) -> int:
    rows = [row("张晓明", "2015001")]
    importer.import_file(
        session, write_csv(tmp_path / "r.csv", rows), keyring=keyring, settings=db_settings.databank, actor="t"
    )
    found = session.scalar(select(Person.id))
    assert found is not None
    return found


def test_staff_log_a_call_with_a_databank_person_or_a_sealed_requester(
    session: Session,
    db_settings: Settings,
    keyring: Keyring,
    person_id: int,
) -> None:
    linked = desk.log_inquiry(
        session, db_settings, keyring, channel="phone", question="来电询问校友卡办理进度", actor="staff:wang",
        person_id=person_id, category="card", now=NOW, source_key="staff:form1",
    )  # fmt: skip
    assert linked.person_id == person_id and linked.requester_sealed is None and linked.openid is None
    assert linked.due_at == NOW + timedelta(hours=24) and linked.created_by == "staff:wang"
    assert events(session, linked.id) == [("message", "来电询问校友卡办理进度")]
    assert desk.requester(session, keyring, linked.id, actor="staff:wang") is None
    resubmitted = desk.log_inquiry(
        session, db_settings, keyring, channel="phone", question="来电询问校友卡办理进度", actor="staff:wang",
        person_id=person_id, source_key="staff:form1",
    )  # fmt: skip
    assert resubmitted.id == linked.id

    sealed = desk.log_inquiry(
        session, db_settings, keyring, channel="letter", question="来信询问捐赠发票", actor="staff:wang",
        requester_name="李四", requester_contact="13800138000",
    )  # fmt: skip
    assert sealed.requester_sealed is not None
    assert "李四" not in sealed.requester_sealed and "13800138000" not in sealed.requester_sealed
    opened = desk.requester(session, keyring, sealed.id, actor="staff:li")
    assert opened == desk.Requester("李四", "13800138000")
    actions = [(a.actor, a.action) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("staff:wang", "inquiry.log") in actions and ("staff:li", "inquiry.requester_view") in actions

    for kw, key in (
        ({"channel": "fax"}, "channel"),
        ({"requester_name": ""}, "requester_name"),
        ({"person_id": 999_999}, "person"),
        ({"category": "gossip"}, "category"),
        ({"question": "问" * (desk.MAX_CHARS + 1)}, "too_long"),
    ):
        values: dict[str, Any] = {
            "channel": "email",
            "question": "邮件咨询",
            "actor": "staff:wang",
            "requester_name": "某",
        }
        with pytest.raises(ValidationFailed) as refused:
            desk.log_inquiry(session, db_settings, keyring, **(values | kw))
        assert refused.value.detail == key


# --- the steps ----------------------------------------------------------------------------------------------------


def test_every_step_is_recorded_and_the_wrong_ones_are_refused_precisely(
    session: Session, db_settings: Settings
) -> None:
    officer = member(session, "wang", "officer")
    viewer = member(session, "zhaoyi", "viewer")
    inquiry = chat(session, db_settings).inquiry

    with pytest.raises(ValidationFailed) as refused:
        desk.assign(session, inquiry.id, assignee_id=viewer.id, actor="staff:wang")
    assert refused.value.user_message == texts.INQUIRY_ERRORS["not_handler"].format(name=viewer.display_name)
    with pytest.raises(ValidationFailed):
        desk.assign(session, inquiry.id, assignee_id=999_999, actor="staff:wang")
    desk.assign(session, inquiry.id, assignee_id=officer.id, actor="staff:wang")
    desk.assign(session, inquiry.id, assignee_id=officer.id, actor="staff:wang")  # the same: no second event
    assert inquiry.assignee_id == officer.id

    desk.set_category(session, db_settings, inquiry.id, category="card", actor="staff:wang")
    assert inquiry.due_at == inquiry.created_at + timedelta(hours=24)  # from its creation, by the new category
    desk.set_priority(session, inquiry.id, priority="urgent", actor="staff:wang")
    desk.note(session, inquiry.id, body="先查一下补办记录", actor="staff:wang")
    with pytest.raises(Conflict) as not_escalated:
        desk.instruct(session, inquiry.id, body="同意", actor="staff:boss")
    assert not_escalated.value.user_message == texts.INQUIRY_ERRORS["not_escalated"]
    desk.escalate(session, inquiry.id, body="是否可以免费补办？", actor="staff:wang")
    assert inquiry.escalated
    with pytest.raises(Conflict):
        desk.escalate(session, inquiry.id, body="再问一次", actor="staff:wang")
    desk.instruct(session, inquiry.id, body="同意免费补办", actor="staff:boss")
    assert not inquiry.escalated

    with pytest.raises(ValidationFailed) as no_resolution:
        desk.close(session, inquiry.id, resolution="  ", actor="staff:wang")
    assert no_resolution.value.user_message == texts.INQUIRY_ERRORS["resolution_empty"]
    desk.close(session, inquiry.id, resolution="已告知免费补办流程", actor="staff:wang", now=NOW + timedelta(hours=1))
    with pytest.raises(Conflict) as closed_twice:
        desk.close(session, inquiry.id, resolution="again", actor="staff:wang")
    assert closed_twice.value.user_message == texts.INQUIRY_ERRORS["closed"]
    with pytest.raises(Conflict):
        desk.assign(session, inquiry.id, assignee_id=None, actor="staff:wang")
    with pytest.raises(NotFound):
        desk.note(session, 999_999, body="x", actor="staff:wang")

    assert [k for k, _ in events(session, inquiry.id)] == [
        "message", "assign", "category", "priority", "note", "escalate", "instruct", "close",
    ]  # fmt: skip
    desk.reopen(session, inquiry.id, reason="校友又来电", actor="staff:wang")
    assert inquiry.status == "open" and inquiry.closed_at is None and inquiry.resolution is None
    with pytest.raises(Conflict):
        desk.reopen(session, inquiry.id, actor="staff:wang")
    assert events(session, inquiry.id)[-2:] == [("close", "已告知免费补办流程"), ("reopen", "校友又来电")]


def test_the_asker_rates_a_closed_inquiry_once_within_the_rating_days(session: Session, db_settings: Settings) -> None:
    inquiry = chat(session, db_settings).inquiry
    assert desk.rate(session, db_settings, openid=ALICE, digit=5, now=NOW) is None  # still open: not a rating
    with pytest.raises(Conflict) as still_open:
        desk.rate_inquiry(session, db_settings, inquiry.id, openid=ALICE, rating=5, now=NOW)
    assert still_open.value.user_message == texts.INQUIRY_ERRORS["rate_open"]
    closed_at = NOW + timedelta(hours=2)
    desk.close(session, inquiry.id, resolution="已答复", actor="staff:wang", now=closed_at)
    with pytest.raises(ValidationFailed):
        desk.rate(session, db_settings, openid=ALICE, digit=6, now=closed_at)
    with pytest.raises(NotFound):
        desk.rate_inquiry(session, db_settings, inquiry.id, openid=BOB, rating=4, now=closed_at)
    rated = desk.rate(session, db_settings, openid=ALICE, digit=4, now=closed_at + timedelta(days=1))
    assert rated is not None and rated.id == inquiry.id and rated.rating == 4
    assert events(session, inquiry.id)[-1] == ("rate", "4")
    assert desk.rate(session, db_settings, openid=ALICE, digit=5, now=closed_at + timedelta(days=1)) is None
    with pytest.raises(Conflict) as twice:
        desk.rate_inquiry(session, db_settings, inquiry.id, openid=ALICE, rating=5, now=closed_at)
    assert twice.value.user_message == texts.INQUIRY_ERRORS["already_rated"]

    late = chat(session, db_settings, key="m9").inquiry
    desk.close(session, late.id, resolution="已答复", actor="staff:wang", now=closed_at)
    too_late = closed_at + timedelta(days=db_settings.inquiries.rating_days, minutes=1)
    assert desk.rate(session, db_settings, openid=ALICE, digit=3, now=too_late) is None
    with pytest.raises(Conflict) as late_rating:
        desk.rate_inquiry(session, db_settings, late.id, openid=ALICE, rating=3, now=too_late)
    assert late_rating.value.user_message == texts.INQUIRY_ERRORS["rate_late"]


# --- the inbox and the report -------------------------------------------------------------------------------------


def test_the_inbox_tabs_counts_filters_and_keyset_pages(session: Session, db_settings: Settings) -> None:
    me = member(session, "wang", "officer")
    other = member(session, "lili", "officer")
    ids = []
    for n in range(7):  # due times 72 h after each creation, one hour apart: n=0 is due first
        filed = chat(session, db_settings, key=f"k{n}", text=f"问题 {n} 号", now=NOW + timedelta(hours=n))
        ids.append(filed.inquiry.id)
    for n in (0, 2, 4):
        desk.assign(session, ids[n], assignee_id=me.id, actor="t")
    desk.assign(session, ids[1], assignee_id=other.id, actor="t")
    desk.set_category(session, db_settings, ids[4], category="card", actor="t")  # due 24 h after: now first of mine
    desk.escalate(session, ids[2], body="请示", actor="t")
    desk.close(session, ids[6], resolution="done", actor="t")
    later = NOW + timedelta(hours=73, minutes=30)  # ids 0 and 1 (and 4, card) are past due

    counts = desk.counts(session, db_settings, me=me.id, now=later)
    assert (counts.mine, counts.unassigned, counts.escalated, counts.all) == (3, 2, 1, 6)
    assert counts.overdue == 3 and counts.mine_overdue == 2 and counts.mine_due_soon == 1  # 2 is due within 4 h

    def tab(name: str, **kw: Any) -> list[int]:
        return [r.id for r in desk.inbox(session, tab=name, me=me.id, now=later, **kw).rows]

    assert tab("mine") == [ids[4], ids[0], ids[2]]
    assert tab("unassigned") == [ids[3], ids[5]]
    assert tab("overdue") == [ids[4], ids[0], ids[1]]
    assert tab("escalated") == [ids[2]]
    assert tab("all") == list(reversed(ids))
    assert tab("all", status="closed") == [ids[6]] and tab("all", category="card") == [ids[4]]
    first = desk.inbox(session, tab="mine", me=me.id, now=later, limit=2)
    assert [r.id for r in first.rows] == [ids[4], ids[0]] and first.rows[0].overdue and first.after
    rest = desk.inbox(session, tab="mine", me=me.id, now=later, limit=2, after=first.after)
    assert [r.id for r in rest.rows] == [ids[2]] and rest.after is None
    everything, pages, after = [], 0, None
    while True:
        page = desk.inbox(session, tab="all", me=me.id, now=later, limit=3, after=after)
        everything += [r.id for r in page.rows]
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert everything == list(reversed(ids)) and pages == 3
    for kw in ({"tab": "spam"}, {"tab": "all", "category": "x"}, {"tab": "mine", "after": "abc"}):
        with pytest.raises(ValidationFailed):
            desk.inbox(session, me=me.id, **kw)  # type: ignore[arg-type]


def test_the_report_counts_per_category_per_beijing_month_and_the_share_answered_within_sla(
    session: Session, db_settings: Settings
) -> None:
    nov = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December 01:00 in Beijing: December's
    oct_ = datetime(2026, 10, 15, 3, 0, tzinfo=UTC)
    made = []
    for n, (at, category) in enumerate([(nov, "card"), (nov, "card"), (nov, "event"), (oct_, "card")]):
        inquiry = chat(session, db_settings, key=f"r{n}", now=at).inquiry
        desk.set_category(session, db_settings, inquiry.id, category=category, actor="t")
        made.append(inquiry)
    made[0].answered_at = nov + timedelta(hours=2)  # within card's 24 h
    made[1].answered_at = nov + timedelta(hours=30)  # late
    made[3].answered_at = oct_ + timedelta(hours=1)
    session.flush()
    rows = desk.report(session, since=date(2026, 10, 1), until=date(2026, 12, 31))
    assert [(r.month, r.category, r.total, r.within_sla) for r in rows] == [
        ("2026-10", "card", 1, 1),
        ("2026-12", "card", 2, 1),
        ("2026-12", "event", 1, 0),
    ]
    assert rows[1].share == 0.5
    assert desk.months(date(2026, 10, 1), date(2026, 12, 31)) == ["2026-10", "2026-11", "2026-12"]
