"""The console's broadcast pages through the Flask client, against a live WeChat emulator: composing (every refused
field shown under its input, nothing saved), the preview with the live plan, a test send that reaches the staff
member's own WeChat, confirmation into the approval queue, approval refused to the author and to a role without the
right and given by a second broadcaster, the progress page with pause, resume and cancel, and the report with its
.xlsx export. Every route against every role is in test_access.py; the browser test is test_broadcasts_browser.py."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from core import texts
from core.settings import Settings
from emulator.testing import RunningEmulator
from models import AuditEntry, Follower, OutboundMessage, StaffAccount
from models.broadcast import Broadcast
from tests.admin.conftest import post, text
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS
from tests.gateway import conftest as gateway_fixtures

emulator = gateway_fixtures.emulator
T = texts.CONSOLE
FORM = {"title": "元旦问候", "channels": ["mass", "custom"], "kind": "text", "text": "新年快乐！"}


@pytest.fixture
def console_settings(settings_factory: Any, emulator: RunningEmulator) -> Settings:
    settings: Settings = settings_factory(
        wechat={"api_base_url": emulator.url, "transient_retries": 1},
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10},
        broadcasts={"approval_threshold": 2},
    )
    return settings


def rt(app: Flask) -> Any:
    return app.extensions["xiaoyou"]


def followers(app: Flask, n: int) -> None:
    with rt(app).db.session(write=True) as session:
        for i in range(n):
            session.add(Follower(openid=f"o_fan_{i:03d}", subscribed=True))


def link_wechat(app: Flask, member: Any, openid: str) -> None:
    with rt(app).db.session(write=True) as session:
        account = session.get(StaffAccount, member.id)
        assert account is not None
        account.openid = openid


def broadcast(app: Flask, broadcast_id: int) -> Broadcast:
    with rt(app).db.session() as session:
        found = session.get(Broadcast, broadcast_id)
        assert found is not None
        session.expunge(found)
        return found


def created_id(response: Any) -> int:
    assert response.status_code == 302, text(response)[:2000]
    found = re.search(r"/admin/broadcasts/(\d+)", response.headers["Location"])
    assert found
    return int(found.group(1))


def test_a_refused_draft_shows_each_problem_under_its_field_and_saves_nothing(
    console_app: Flask, signed_in: Any
) -> None:
    officer, _me = signed_in("officer")
    bad = {"title": "", "channels": ["mass"], "kind": "news", "article_url": "not a link", "scheduled_at": "明天"}
    response = post(officer, "/admin/broadcasts", bad, page="/admin/broadcasts/new")
    assert response.status_code == 400
    page = text(response)
    for field, message in (
        ("title", "标题不能为空"),
        ("article_title", "图文标题不能为空"),
        ("article_url", "原文链接应以 http:// 或 https:// 开头，并包含域名"),
        ("article_media_id", "图文素材 media_id不能为空"),
        ("scheduled_at", "发送时间「明天」格式应为 2026-12-31 09:30（北京时间）"),
    ):
        assert f'data-field="{field}">{message}</p>' in page
    with rt(console_app).db.session() as session:
        assert session.scalar(select(Broadcast.id)) is None


def test_compose_preview_test_send_confirm_approve_and_control(
    console_app: Flask, signed_in: Any, emulator: RunningEmulator
) -> None:
    followers(console_app, 3)
    officer, author = signed_in("officer")
    bid = created_id(post(officer, "/admin/broadcasts", FORM, page="/admin/broadcasts/new"))
    page = text(officer.get(f"/admin/broadcasts/{bid}?done=saved"))
    assert T["broadcasts_saved"] in page and '<p class="bubble">新年快乐！</p>' in page
    assert '<span id="plan-audience">3</span>' in page and '<span id="plan-reachable">3</span>' in page
    assert T["broadcasts_needs_approval"].format(threshold=2) in page

    # A test send: refused until the officer's WeChat is linked, then a mass preview reaches it.
    refused = post(officer, f"/admin/broadcasts/{bid}/test", {"channel": "mass"}, page=f"/admin/broadcasts/{bid}")
    assert refused.status_code == 409 and "绑定" in text(refused)
    link_wechat(console_app, author, "o_officer_self")
    emulator.add_followers("o_officer_self")
    sent = post(officer, f"/admin/broadcasts/{bid}/test", {"channel": "mass"}, page=f"/admin/broadcasts/{bid}")
    assert sent.status_code == 302
    assert [d["message"]["text"]["content"] for d in emulator.deliveries("o_officer_self", "preview")] == ["新年快乐！"]

    # Confirm: three recipients exceed the threshold of two; the officer cannot approve at all.
    assert post(officer, f"/admin/broadcasts/{bid}/confirm", page=f"/admin/broadcasts/{bid}").status_code == 302
    assert broadcast(console_app, bid).status == "awaiting_approval"
    assert post(officer, f"/admin/broadcasts/{bid}/approve", page="/admin/broadcasts").status_code == 403
    queue = text(officer.get("/admin/broadcasts/approvals"))
    assert f'id="approval-{bid}"' in queue

    # A broadcaster who confirmed cannot approve their own; a second broadcaster can.
    boss, boss_member = signed_in("broadcaster")
    bid2 = created_id(post(boss, "/admin/broadcasts", FORM, page="/admin/broadcasts/new"))
    post(boss, f"/admin/broadcasts/{bid2}/confirm", page=f"/admin/broadcasts/{bid2}")
    own = post(boss, f"/admin/broadcasts/{bid2}/approve", page=f"/admin/broadcasts/{bid2}")
    assert own.status_code == 403 and "不能审批自己创建或确认的广播" in text(own)
    approved = post(boss, f"/admin/broadcasts/{bid}/approve", page=f"/admin/broadcasts/{bid}")
    assert approved.status_code == 302
    b = broadcast(console_app, bid)
    assert (b.status, b.approved_by) == ("scheduled", f"staff:{boss_member.username}")

    # Pause, resume, then cancel with rows in the outbox: the pending ones end skipped:cancelled.
    progress = f"/admin/broadcasts/{bid}/progress"
    assert post(officer, f"/admin/broadcasts/{bid}/pause", page=progress).status_code == 302
    assert 'data-status="paused"' in text(officer.get(progress))
    assert post(officer, f"/admin/broadcasts/{bid}/resume", page=progress).status_code == 302
    with rt(console_app).db.session(write=True) as session:
        session.add_all(
            OutboundMessage(idempotency_key=f"bc-{bid}-{i}", openid=f"o_fan_{i:03d}", channel="mass", payload_json="{}",
                            status=status, broadcast_id=bid)
            for i, status in enumerate(["sent", "pending", "pending"])
        )  # fmt: skip
    no_reason = post(officer, f"/admin/broadcasts/{bid}/cancel", {"reason": ""}, page=progress)
    assert no_reason.status_code == 400 and "取消时请填写原因" in text(no_reason)
    assert post(officer, f"/admin/broadcasts/{bid}/cancel", {"reason": "改期"}, page=progress).status_code == 302
    page = text(officer.get(progress))
    assert 'data-status="cancelled"' in page and '<dd id="n-skipped">2</dd>' in page
    assert 'id="broadcast-pause"' not in page

    report = text(officer.get(f"/admin/broadcasts/{bid}/report"))
    assert '<td class="num" id="r-sent">1</td>' in report and 'data-reason="cancelled">广播已取消：2</li>' in report
    export = officer.get(f"/admin/broadcasts/{bid}/report.xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert sheet is not None and ["跳过", "广播已取消", 2] in [
        [c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)
    ]
    with rt(console_app).db.session() as session:
        logged = [a for a in session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)) if "broadcast" in a]
    assert logged == [
        "broadcast.draft_saved", "broadcast.test_sent", "broadcast.confirmed", "broadcast.draft_saved",
        "broadcast.confirmed", "broadcast.approved", "broadcast.paused", "broadcast.resumed", "broadcast.cancelled",
        "broadcast.report_exported",
    ]  # fmt: skip


def test_a_draft_is_edited_and_a_viewer_reads_but_cannot_compose(console_app: Flask, signed_in: Any) -> None:
    followers(console_app, 1)
    officer, _ = signed_in("officer")
    bid = created_id(post(officer, "/admin/broadcasts", FORM, page="/admin/broadcasts/new"))
    form = text(officer.get(f"/admin/broadcasts/{bid}/edit"))
    assert "新年快乐！</textarea>" in form
    edited = post(officer, f"/admin/broadcasts/{bid}", FORM | {"text": "改过了"}, page=f"/admin/broadcasts/{bid}/edit")
    assert edited.status_code == 302
    assert '<p class="bubble">改过了</p>' in text(officer.get(f"/admin/broadcasts/{bid}"))
    # A small audience is scheduled at once; then it can no longer be edited.
    assert post(officer, f"/admin/broadcasts/{bid}/confirm", page=f"/admin/broadcasts/{bid}").status_code == 302
    assert broadcast(console_app, bid).status == "scheduled"
    again = post(officer, f"/admin/broadcasts/{bid}", FORM, page="/admin/broadcasts")
    assert again.status_code == 409

    viewer, _ = signed_in("viewer")
    listing = text(viewer.get("/admin/broadcasts"))
    assert f'id="broadcast-{bid}"' in listing and 'id="broadcast-new"' not in listing
    assert viewer.get("/admin/broadcasts/new").status_code == 403
    assert post(viewer, f"/admin/broadcasts/{bid}/pause", page="/admin/broadcasts").status_code == 403
    assert T["nav_broadcasts"] in listing
    assert viewer.get("/admin/broadcasts/99999").status_code == 404


def test_campaign_broadcasts_show_their_campaign_in_the_list(console_app: Flask, signed_in: Any) -> None:
    from datetime import UTC, datetime

    from jobs.campaigns import FESTIVALS
    from services.broadcasts import campaigns

    followers(console_app, 2)  # not in the databank, so without the news consent: nobody for the anniversary
    settings = rt(console_app).settings
    enabled = settings.broadcasts.model_copy(
        update={"campaigns": settings.broadcasts.campaigns.model_copy(update={"enabled": True, "festivals": ()})}
    )
    with rt(console_app).db.session(write=True) as session:
        report = campaigns.run(
            session, settings.model_copy(update={"broadcasts": enabled}), FESTIVALS,
            now=datetime(2026, 5, 28, 4, 0, tzinfo=UTC),
        )  # fmt: skip
    assert len(report.created) == 5 and report.drafts == 5  # nobody has the news consent: left as drafts
    by_staff = created_id(post(signed_in("officer")[0], "/admin/broadcasts", FORM, page="/admin/broadcasts/new"))
    viewer, _ = signed_in("viewer")
    listing = text(viewer.get("/admin/broadcasts"))
    row = listing.split(f'id="broadcast-{report.created[0]}"')[1].split("</tr>")[0]
    assert '<td class="campaign">毕业10周年 · 2026</td>' in row and "毕业10周年问候（2016届）" in row
    staff_row = listing.split(f'id="broadcast-{by_staff}"')[1].split("</tr>")[0]
    assert f'<td class="campaign">{T["broadcasts_campaign_none"]}</td>' in staff_row
