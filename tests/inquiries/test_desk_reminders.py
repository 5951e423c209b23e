"""SLA reminders (services/inquiries/reminders.py and the ``inquiries.remind`` job) with a test clock, and linking a
staff member's WeChat by scanning the console's QR code, against the WeChat emulator over HTTP: the assignee is told
once per stage (near, then past) by a template message that reaches the emulator; unassigned overdue inquiries go to
the officers in one digest; nothing is sent without a linked WeChat or a template id, and the console still shows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core import texts
from core.db import Database
from core.settings import Settings
from emulator.common import EXTENSION as EMULATOR_STATE
from emulator.testing import RunningEmulator
from emulator.wire import Account
from jobs import JOBS, JobContext
from models import AuditEntry, InquiryEvent, StaffAccount
from services import outbox, staff
from services.databank.keys import Keyring
from services.inquiries import desk, reminders
from services.staff import wechat_link
from tests.admin.conftest import Member, post, sign_in
from tests.conftest import AES_KEY, APPID, TOKEN, WeChatUser
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS
from tests.gateway.conftest import cache, emulator, gateway_settings  # noqa: F401 - fixtures
from wechat.gateway import Gateway, build_gateway

STAFF_TEMPLATE = "tmpl_staff_reminder"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
WANG_WECHAT, LI_WECHAT, ZHAO_WECHAT = "o_staff_wang_0000001", "o_staff_li_000000002", "o_staff_zhao_00000003"


@pytest.fixture
def desk_settings(gateway_settings: Any) -> Settings:  # noqa: F811
    settings: Settings = gateway_settings(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        inquiries={"staff_template_id": STAFF_TEMPLATE, "remind_before_hours": 4},
    )
    return settings


@pytest.fixture
def app(make_app: Any, desk_settings: Settings) -> Flask:
    built: Flask = make_app(desk_settings)
    return built


@pytest.fixture
def db(app: Flask) -> Database:
    database: Database = app.extensions["xiaoyou"].db
    return database


@pytest.fixture
def gw(desk_settings: Settings, cache: Any) -> Gateway:  # noqa: F811
    return build_gateway(desk_settings, cache)


def account(db: Database, username: str, *roles: str, openid: str | None = None) -> int:
    with db.session() as session:
        created = staff.create_account(
            session, username=username, display_name=f"测试{username}", password="correct horse battery",
            roles=roles, actor="test",
        )  # fmt: skip
        created.openid = openid
        return created.id


def open_inquiry(db: Database, settings: Settings, key: str, *, at: datetime, assignee: int | None = None) -> int:
    with db.session() as session:
        filed = desk.open_from_chat(
            session, settings, openid="o_alumnus_0000000001", msg_type="text", text=f"问题 {key}", media_id=None,
            source_key=key, now=at,
        )  # fmt: skip
        if assignee is not None:
            desk.assign(session, filed.inquiry.id, assignee_id=assignee, actor="staff:test")
        return filed.inquiry.id


def remind(db: Database, settings: Settings, now: datetime) -> reminders.RemindReport:
    with db.session() as session:
        return reminders.remind(session, settings, now=now)


def send(db: Database, gw: Gateway, settings: Settings) -> dict[str, int]:
    return outbox.deliver_due(
        db.session, gw.official, settings.outbox.max_attempts, settings.outbox.retry_interval_seconds,
        templates=gw.official,
    )  # fmt: skip


def templates_to(emulator: RunningEmulator, openid: str) -> list[dict[str, Any]]:  # noqa: F811
    return [d["message"] for d in emulator.deliveries(openid, "template")]


def stage_of(db: Database, inquiry_id: int) -> int:
    with db.session() as session:
        return desk.view(session, inquiry_id).inquiry.reminder_stage


def test_the_assignee_is_reminded_once_near_the_sla_and_once_past_it_by_template_message(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(WANG_WECHAT)
    wang = account(db, "wang", "officer", openid=WANG_WECHAT)
    inquiry_id = open_inquiry(db, desk_settings, "a1", at=NOW, assignee=wang)  # "other": due NOW + 72 h
    due = NOW + timedelta(hours=72)

    assert remind(db, desk_settings, due - timedelta(hours=5)) == reminders.RemindReport(0, 0, 0, 0)  # not yet
    near = remind(db, desk_settings, due - timedelta(hours=3))
    assert near == reminders.RemindReport(near=1, past=0, unassigned=0, templates=1)
    assert stage_of(db, inquiry_id) == 1
    assert send(db, gw, desk_settings) == {"sent": 1}
    [first] = templates_to(emulator, WANG_WECHAT)
    assert first["template_id"] == STAFF_TEMPLATE
    assert first["data"]["first"]["value"] == texts.INQUIRY_REMIND_TITLE[1]
    assert first["data"]["keyword1"]["value"].startswith(f"编号 {inquiry_id}：问题 a1")
    assert first["data"]["keyword3"]["value"] == "2026-12-10 10:00"  # the due time in Beijing

    assert remind(db, desk_settings, due - timedelta(hours=2)) == reminders.RemindReport(0, 0, 0, 0)  # once per stage
    past = remind(db, desk_settings, due + timedelta(minutes=1))
    assert past.past == 1 and past.templates == 1 and stage_of(db, inquiry_id) == 2
    send(db, gw, desk_settings)
    second = templates_to(emulator, WANG_WECHAT)[-1]
    assert second["data"]["first"]["value"] == texts.INQUIRY_REMIND_TITLE[2]
    assert remind(db, desk_settings, due + timedelta(hours=5)) == reminders.RemindReport(0, 0, 0, 0)
    assert len(templates_to(emulator, WANG_WECHAT)) == 2
    with db.session() as session:
        record = session.scalars(
            select(InquiryEvent).where(InquiryEvent.inquiry_id == inquiry_id, InquiryEvent.kind == "remind")
        ).all()
        assert [(e.body, e.staff_account_id) for e in record] == [
            (texts.INQUIRY_REMIND_EVENT[1], wang),
            (texts.INQUIRY_REMIND_EVENT[2], wang),
        ]
        # The console's banner for wang: one of his inquiries is past due.
        assert desk.counts(session, desk_settings, me=wang, now=due + timedelta(hours=5)).mine_overdue == 1


def test_a_new_assignee_or_category_restarts_the_stages_and_answered_or_closed_ones_are_left_alone(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(WANG_WECHAT, LI_WECHAT)
    wang = account(db, "wang", "officer", openid=WANG_WECHAT)
    li = account(db, "lili", "officer", openid=LI_WECHAT)
    first = open_inquiry(db, desk_settings, "b1", at=NOW, assignee=wang)
    answered = open_inquiry(db, desk_settings, "b2", at=NOW, assignee=wang)
    closed = open_inquiry(db, desk_settings, "b3", at=NOW, assignee=wang)
    with db.session() as session:
        desk.view(session, answered).inquiry.answered_at = NOW + timedelta(hours=1)
        desk.close(session, closed, resolution="已处理", actor="staff:test")
    late = NOW + timedelta(hours=80)
    assert remind(db, desk_settings, late).past == 1  # only the first: answered and closed owe nothing
    with db.session() as session:
        desk.assign(session, first, assignee_id=li, actor="staff:test")
    assert stage_of(db, first) == 0
    assert remind(db, desk_settings, late + timedelta(minutes=10)).past == 1
    send(db, gw, desk_settings)
    assert len(templates_to(emulator, WANG_WECHAT)) == 1 and len(templates_to(emulator, LI_WECHAT)) == 1


def test_unassigned_overdue_inquiries_reach_every_officer_with_a_linked_wechat_in_one_digest(
    db: Database,
    desk_settings: Settings,
    gw: Gateway,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(WANG_WECHAT, LI_WECHAT, ZHAO_WECHAT)
    account(db, "wang", "officer", openid=WANG_WECHAT)
    account(db, "lili", "officer")  # no WeChat linked: the inbox only
    account(db, "zhaoyi", "admin", openid=ZHAO_WECHAT)  # the system's administrator: not in the digest
    ids = [open_inquiry(db, desk_settings, f"c{n}", at=NOW + timedelta(minutes=n)) for n in range(3)]
    assert remind(db, desk_settings, NOW + timedelta(hours=70)).unassigned == 0  # near, but nobody owns them yet
    report = remind(db, desk_settings, NOW + timedelta(hours=75))
    assert report == reminders.RemindReport(near=0, past=0, unassigned=3, templates=1)
    assert all(stage_of(db, i) == 2 for i in ids)
    assert send(db, gw, desk_settings) == {"sent": 1}
    [digest] = templates_to(emulator, WANG_WECHAT)
    assert digest["data"]["first"]["value"] == texts.INQUIRY_REMIND_DIGEST.format(count=3)
    assert digest["data"]["keyword1"]["value"] == texts.INQUIRY_REMIND_DIGEST_OLDEST.format(number=ids[0])
    assert templates_to(emulator, ZHAO_WECHAT) == []
    assert remind(db, desk_settings, NOW + timedelta(hours=76)).unassigned == 0


def test_without_a_template_id_the_reminder_is_recorded_for_the_console_only(
    db: Database,
    gateway_settings: Any,  # noqa: F811
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    settings: Settings = gateway_settings(privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS})
    emulator.add_followers(WANG_WECHAT)
    wang = account(db, "wang", "officer", openid=WANG_WECHAT)
    inquiry_id = open_inquiry(db, settings, "d1", at=NOW, assignee=wang)
    report = remind(db, settings, NOW + timedelta(hours=73))
    assert report.past == 1 and report.templates == 0 and stage_of(db, inquiry_id) == 2
    assert emulator.deliveries(WANG_WECHAT, "template") == []


def test_the_scheduler_job_reminds_and_sends_at_once(
    app: Flask,
    db: Database,
    desk_settings: Settings,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    emulator.add_followers(WANG_WECHAT)
    wang = account(db, "wang", "officer", openid=WANG_WECHAT)
    overdue = open_inquiry(db, desk_settings, "e1", at=datetime.now(UTC) - timedelta(hours=100), assignee=wang)
    [spec] = [job for job in JOBS if job.id == "inquiries.remind"]
    assert "*/10" in str(spec.trigger(desk_settings))
    report = spec.func(JobContext(app.extensions["xiaoyou"]))
    assert report.past == 1 and report.templates == 1 and stage_of(db, overdue) == 2
    [sent] = templates_to(emulator, WANG_WECHAT)  # the job ran the outbox after queuing
    assert sent["data"]["keyword1"]["value"].startswith(f"编号 {overdue}")


# --- linking a staff member's WeChat ----------------------------------------------------------------------------


def test_staff_link_their_wechat_by_scanning_the_console_qr_once(
    app: Flask,
    db: Database,
    desk_settings: Settings,
    emulator: RunningEmulator,  # noqa: F811
) -> None:
    wang = account(db, "wang", "officer")
    client: FlaskClient = app.test_client()
    sign_in(app, client, Member(wang, "wang", ("officer",), None))
    page = client.get("/admin/inquiries/wechat")
    assert page.status_code == 200 and texts.CONSOLE["inquiry_wechat_not_linked"] in page.get_data(as_text=True)
    made = post(client, "/admin/inquiries/wechat", page="/admin/inquiries/wechat")
    assert made.status_code == 200 and "<svg" in made.get_data(as_text=True)
    tickets = list(emulator.app.extensions[EMULATOR_STATE].qr_tickets.values())
    scene = tickets[-1]["scene_str"]
    assert scene.startswith(wechat_link.SCENE_PREFIX) and tickets[-1]["action_name"] == "QR_STR_SCENE"
    assert tickets[-1]["expire_seconds"] == wechat_link.TOKEN_TTL

    phone = WeChatUser(app.test_client(), Account(APPID, TOKEN, AES_KEY), WANG_WECHAT)
    answer = phone.event("SCAN", scene)
    assert answer["Content"] == texts.STAFF_WECHAT_LINKED.format(name="测试wang")
    with db.session() as session:
        assert session.get(StaffAccount, wang).openid == WANG_WECHAT  # type: ignore[union-attr]
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "staff.wechat_link"))
    thief = WeChatUser(app.test_client(), Account(APPID, TOKEN, AES_KEY), LI_WECHAT)
    assert thief.event("SCAN", scene)["Content"] == texts.STAFF_WECHAT_LINK_INVALID  # used: the openid moved on
    forged = scene[:-4] + ("0000" if not scene.endswith("0000") else "1111")
    assert thief.event("SCAN", forged)["Content"] == texts.STAFF_WECHAT_LINK_INVALID
    with db.session() as session:
        assert session.get(StaffAccount, wang).openid == WANG_WECHAT  # type: ignore[union-attr]
        account_row = session.get(StaffAccount, wang)
        assert account_row is not None
        expired = wechat_link.scene(Keyring.from_settings(desk_settings.privacy), account_row, now=0)
    assert thief.event("SCAN", expired)["Content"] == texts.STAFF_WECHAT_LINK_INVALID
    assert texts.CONSOLE["inquiry_wechat_linked"] in client.get("/admin/inquiries/wechat").get_data(as_text=True)
    unlinked = post(client, "/admin/inquiries/wechat/unlink", page="/admin/inquiries/wechat")
    assert unlinked.status_code == 302
    with db.session() as session:
        assert session.get(StaffAccount, wang).openid is None  # type: ignore[union-attr]
