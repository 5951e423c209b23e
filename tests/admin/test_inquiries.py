"""The console's help-desk pages through the Flask client, against a live WeChat emulator: the inbox (tabs, counts,
filters, the reminder banner), answering an inquiry (the reply reaches the emulator and its delivery state shows),
every step with its refusals (assigning to a viewer, closing twice, instructing without the right), logging a call
with a databank person or a sealed requester (revealed with an audit entry), chat media fetched through the gateway
until it expires, the report with its chart, and the dashboard's link. Every route against every role is in
test_access.py; the browser test is in test_inquiries_browser.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from core import texts
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import AuditEntry, Inquiry, Person, StaffAccount
from services.databank import importer
from services.databank.keys import Keyring
from services.inquiries import desk
from tests.admin.conftest import post, text
from tests.databank.conftest import ENCRYPTION_KEYS, HEADER, HMAC_KEYS, row
from tests.gateway import conftest as gateway_fixtures
from wechat.gateway import build_gateway

emulator = gateway_fixtures.emulator
ALICE = "o_alumna_alice_00001"
T = texts.CONSOLE


@pytest.fixture
def console_settings(settings_factory: Any, emulator: RunningEmulator) -> Settings:
    """The console's settings, wired to the emulator (replies, media and QR codes go there)."""
    settings: Settings = settings_factory(
        wechat={"api_base_url": emulator.url, "transient_retries": 1},
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10},
    )
    return settings


def rt(app: Flask) -> Any:
    return app.extensions["xiaoyou"]


def chat_inquiry(app: Flask, key: str, *, at: datetime | None = None, **kw: Any) -> int:
    values: dict[str, Any] = {"openid": ALICE, "msg_type": "text", "text": f"校友卡怎么补办？{key}", "media_id": None}
    with rt(app).db.session() as session:
        filed = desk.open_from_chat(session, rt(app).settings, source_key=key, now=at, **(values | kw))
        return filed.inquiry.id


def open_window(app: Flask, emulator: RunningEmulator, who: str = ALICE) -> None:
    """The alumna wrote to the account just now: the emulator and our tracker both know."""
    emulator.add_followers(who)
    emulator.interact(who, "message")
    cache = redis.Redis.from_url(rt(app).settings.redis.url, decode_responses=True)
    build_gateway(rt(app).settings, cache).official.record_interaction(who, "message")


def actions(app: Flask) -> list[tuple[str, str]]:
    with rt(app).db.session() as session:
        return [(e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_inbox_shows_tabs_with_counts_filters_and_the_reminder_banner(console_app: Flask, signed_in: Any) -> None:
    officer, me = signed_in("officer")
    overdue = chat_inquiry(console_app, "a1", at=datetime.now(UTC) - timedelta(hours=80))
    fresh = chat_inquiry(console_app, "a2")
    with rt(console_app).db.session() as session:
        desk.assign(session, overdue, assignee_id=me.id, actor="staff:test")
        desk.set_category(session, rt(console_app).settings, fresh, category="card", actor="staff:test")

    page = text(officer.get("/admin/inquiries"))
    assert f"{T['inquiries_tab_mine']}（1）" in page and f"{T['inquiries_tab_unassigned']}（1）" in page
    assert f"{T['inquiries_tab_all']}（2）" in page and f'id="inquiry-{overdue}"' in page
    assert f'id="inquiry-{fresh}"' not in page  # mine is the default tab
    assert 'id="inquiry-reminder"' in page and T["inquiry_overdue"] in page
    assert T["inquiries_log"] in page and T["inquiries_link_wechat"] in page

    unassigned = text(officer.get("/admin/inquiries", query_string={"tab": "unassigned"}))
    assert f'id="inquiry-{fresh}"' in unassigned and texts.INQUIRY_CATEGORY_NAMES["card"] in unassigned
    only_card = text(officer.get("/admin/inquiries", query_string={"tab": "all", "category": "card"}))
    assert f'id="inquiry-{fresh}"' in only_card and f'id="inquiry-{overdue}"' not in only_card
    bad = officer.get("/admin/inquiries", query_string={"tab": "secret"})
    assert bad.status_code == 400 and texts.INQUIRY_ERRORS["tab"] in text(bad)

    viewer, _ = signed_in("viewer")
    seen = text(viewer.get("/admin/inquiries"))  # a viewer starts on "all" and cannot log or act
    assert f'id="inquiry-{fresh}"' in seen and T["inquiries_log"] not in seen
    assert 'id="reply-form"' not in text(viewer.get(f"/admin/inquiries/{fresh}"))
    liaison, _ = signed_in("class_liaison")
    assert liaison.get("/admin/inquiries").status_code == 403

    home = text(officer.get("/admin/"))
    assert 'id="tile-inquiries-link"' in home and "/admin/inquiries?tab=all&amp;status=open" in home


def test_an_officer_answers_from_the_inquiry_page_and_the_reply_reaches_the_alumna(
    console_app: Flask, signed_in: Any, emulator: RunningEmulator
) -> None:
    officer, _ = signed_in("officer")
    inquiry_id = chat_inquiry(console_app, "b1")
    open_window(console_app, emulator)
    url = f"/admin/inquiries/{inquiry_id}"
    page = text(officer.get(url))
    assert "校友卡怎么补办？b1" in page and 'id="reply-form"' in page

    empty = post(officer, f"{url}/reply", {"body": "  "}, page=url)
    assert empty.status_code == 400 and texts.INQUIRY_REPLY_EMPTY in text(empty)
    sent = post(officer, f"{url}/reply", {"body": "请携带身份证到校友办补办。"}, page=url)
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"{url}?done=reply")
    delivered = [d["message"]["text"]["content"] for d in emulator.deliveries(ALICE, "custom")]
    assert delivered == [texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id) + "请携带身份证到校友办补办。"]
    shown = text(officer.get(sent.headers["Location"]))
    assert T["inquiry_done_reply"] in shown and texts.INQUIRY_DELIVERY_NAMES["sent"] in shown
    assert 'data-delivery="sent"' in shown
    with rt(console_app).db.session() as session:
        inquiry = session.get(Inquiry, inquiry_id)
        assert inquiry is not None and inquiry.answered_at is not None
    assert post(officer, "/admin/inquiries/999999/reply", {"body": "x"}, page=url).status_code == 404


def test_every_step_from_the_console_and_its_refusals(console_app: Flask, signed_in: Any) -> None:
    officer, me = signed_in("officer")
    viewer, _ = signed_in("viewer")
    leader, boss = signed_in("leader")
    inquiry_id = chat_inquiry(console_app, "c1")
    url = f"/admin/inquiries/{inquiry_id}"

    refused = post(officer, f"{url}/assign", {"assignee": "abc"}, page=url)
    assert refused.status_code == 400 and texts.INQUIRY_ERRORS["no_account"] in text(refused)
    with rt(console_app).db.session() as session:
        viewer_account = session.scalar(select(StaffAccount).where(StaffAccount.username.like("viewer%")))
        assert viewer_account is not None
        viewer_account_id, viewer_name = viewer_account.id, viewer_account.display_name
    not_handler = post(officer, f"{url}/assign", {"assignee": str(viewer_account_id)}, page=url)
    assert not_handler.status_code == 400
    assert texts.INQUIRY_ERRORS["not_handler"].format(name=viewer_name) in text(not_handler)
    assert post(officer, f"{url}/assign", {"assignee": "me"}, page=url).status_code == 302
    assert me.username in text(officer.get(url))

    assert post(officer, f"{url}/category", {"category": "card"}, page=url).status_code == 302
    assert post(officer, f"{url}/category", {"category": "nope"}, page=url).status_code == 400
    assert post(officer, f"{url}/priority", {"priority": "urgent"}, page=url).status_code == 302
    assert post(officer, f"{url}/note", {"body": "已电话联系"}, page=url).status_code == 302
    assert post(viewer, f"{url}/note", {"body": "x"}, page=url).status_code == 403
    early = post(leader, f"{url}/instruct", {"body": "同意"}, page=url)
    assert early.status_code == 409 and texts.INQUIRY_ERRORS["not_escalated"] in text(early)
    assert post(officer, f"{url}/escalate", {"body": "可否免费补办？"}, page=url).status_code == 302
    escalated = text(leader.get("/admin/inquiries", query_string={"tab": "escalated"}))
    assert f'id="inquiry-{inquiry_id}"' in escalated
    assert post(officer, f"{url}/instruct", {"body": "同意"}, page=url).status_code == 403
    assert 'id="instruct-form"' in text(leader.get(url))
    assert post(leader, f"{url}/instruct", {"body": "同意免费补办"}, page=url).status_code == 302

    no_resolution = post(officer, f"{url}/close", {"resolution": ""}, page=url)
    assert no_resolution.status_code == 400 and texts.INQUIRY_ERRORS["resolution_empty"] in text(no_resolution)
    assert post(officer, f"{url}/close", {"resolution": "已告知补办流程"}, page=url).status_code == 302
    twice = post(officer, f"{url}/close", {"resolution": "again"}, page=url)
    assert twice.status_code == 409 and texts.INQUIRY_ERRORS["closed"] in text(twice)
    closed = text(officer.get(url))
    assert "已告知补办流程" in closed and 'id="reopen-form"' in closed and 'id="reply-form"' not in closed
    for kind in ("assign", "category", "priority", "note", "escalate", "instruct", "close"):
        assert f'class="event-{kind}"' in closed
    assert "同意免费补办" in closed and f"staff:{boss.username}" in closed  # who instructed, on the record
    assert post(officer, f"{url}/reopen", {"reason": "又来电"}, page=url).status_code == 302
    assert texts.INQUIRY_STATUS_NAMES["open"] in text(officer.get(url))


@pytest.fixture
def person(console_app: Flask) -> int:
    settings = rt(console_app).settings
    with rt(console_app).db.session() as session:
        importer.import_rows(
            session, HEADER, [row("张晓明", "2015001")], keyring=Keyring.from_settings(settings.privacy),
            settings=settings.databank, actor="test", label="roster",
        )  # fmt: skip
    with rt(console_app).db.session() as session:
        found = session.scalar(select(Person.id))
        assert found is not None
        return found


def test_log_a_call_linked_to_a_person_found_in_the_databank(console_app: Flask, signed_in: Any, person: int) -> None:
    officer, me = signed_in("officer")
    found = text(officer.get("/admin/inquiries/new", query_string={"q": "张晓明"}))
    assert "张晓明" in found and f"person_id={person}" in found
    form = text(officer.get("/admin/inquiries/new", query_string={"person_id": person}))
    assert T["inquiry_log_person"].format(name="张晓明", id=person) in form
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', form)
    assert key is not None
    data = {"channel": "phone", "question": "来电询问卡片进度", "person_id": str(person), "category": "card",
            "priority": "high", "form_key": key.group(1)}  # fmt: skip
    logged = post(officer, "/admin/inquiries/new", data, page="/admin/inquiries/new")
    assert logged.status_code == 302
    again = post(officer, "/admin/inquiries/new", data, page="/admin/inquiries/new")  # a resubmitted form
    assert again.headers["Location"] == logged.headers["Location"]
    page = text(officer.get(logged.headers["Location"]))
    assert "来电询问卡片进度" in page and texts.INQUIRY_CHANNEL_NAMES["phone"] in page
    assert f"/admin/alumni/{person}" in page and T["inquiry_done_logged"] in page
    assert (f"staff:{me.username}", "inquiry.log") in actions(console_app)


def test_log_a_letter_with_a_sealed_requester_revealed_only_with_an_audit_entry(
    console_app: Flask, signed_in: Any
) -> None:
    officer, me = signed_in("officer")
    nobody = post(
        officer, "/admin/inquiries/new", {"channel": "letter", "question": "来信询问"}, page="/admin/inquiries/new"
    )
    assert nobody.status_code == 400 and texts.INQUIRY_ERRORS["requester_name"] in text(nobody)
    assert "来信询问" in text(nobody)  # what was typed is kept
    data = {
        "channel": "letter",
        "question": "来信询问捐赠发票",
        "requester_name": "李四",
        "requester_contact": "13800138000",
    }
    logged = post(officer, "/admin/inquiries/new", data, page="/admin/inquiries/new")
    assert logged.status_code == 302
    url = logged.headers["Location"].split("?")[0]
    page = text(officer.get(url))
    assert "李四" not in page and "13800138000" not in page and 'id="requester-reveal"' in page
    assert (f"staff:{me.username}", "inquiry.requester_view") not in actions(console_app)
    revealed = text(post(officer, f"{url}/requester", page=url))
    assert "李四（13800138000）" in revealed
    assert (f"staff:{me.username}", "inquiry.requester_view") in actions(console_app)
    viewer, _ = signed_in("viewer")
    assert post(viewer, f"{url}/requester", page=url).status_code == 403


def test_chat_media_is_shown_through_the_gateway_until_it_expires(
    console_app: Flask, signed_in: Any, emulator: RunningEmulator
) -> None:
    officer, me = signed_in("officer")
    emulator.add_followers(ALICE)
    image = emulator.user_media(ALICE, "image")
    inquiry_id = chat_inquiry(console_app, "d1", msg_type="image", text=None, media_id=image["media_id"])
    url = f"/admin/inquiries/{inquiry_id}"
    page = text(officer.get(url))
    link = re.search(r'href="(/admin/inquiries/\d+/media/\d+)"', page)
    assert link is not None and T["inquiry_media_image"] in page
    shown = officer.get(link.group(1))
    assert shown.status_code == 200 and shown.mimetype == "image/png" and shown.data.startswith(b"\x89PNG")
    assert (f"staff:{me.username}", "inquiry.media_view") in actions(console_app)
    emulator.advance(3 * 86400 + 60)  # WeChat keeps temporary media 3 days
    expired = officer.get(link.group(1))
    assert expired.status_code == 410 and texts.INQUIRY_MEDIA_EXPIRED in text(expired)
    assert officer.get(f"/admin/inquiries/{inquiry_id + 1}/media/1").status_code == 404


def test_the_report_charts_inquiries_per_month_and_the_share_answered_within_sla(
    console_app: Flask, signed_in: Any
) -> None:
    now = datetime.now(UTC)
    answered = chat_inquiry(console_app, "e1", at=now - timedelta(hours=2))
    chat_inquiry(console_app, "e2", at=now - timedelta(hours=1))
    with rt(console_app).db.session() as session:
        inquiry = session.get(Inquiry, answered)
        assert inquiry is not None
        inquiry.answered_at = now
    viewer, _ = signed_in("viewer")
    page = text(viewer.get("/admin/inquiries/report"))
    month = (now + timedelta(hours=8)).strftime("%Y-%m")
    assert 'id="chart-inquiries"' in page and 'id="chart-sla"' in page
    row_html = page[page.index(f'id="month-{month}"') :]
    row_html = row_html[: row_html.index("</tr>")]
    assert "50%" in row_html and ">2<" in row_html
    assert T["inquiry_report_share_point"].format(month=month, share=50, within=1, total=2) in page
    liaison, _ = signed_in("class_liaison")
    assert liaison.get("/admin/inquiries/report").status_code == 403
