"""The console's event pages over the test client: creating (bad input re-renders with each field's message, nothing
written) and editing, publishing, the event's page with its registrations and waitlist (names masked; clear names
only with a reason, audited), staff cancelling a registration (the waitlist head promoted), the attendance export
(.xlsx, audited), cancelling an event (its registrants told), the chart of attendance; a branch admin sees only
their associations' events and gets 403 on another's (and on the office's), a viewer may not create."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from core import texts
from core.clock import BEIJING
from models import AuditEntry, Event, EventRegistration, OutboundMessage, Person, utcnow
from models.association import Association, AssociationAdmin
from services.databank import importer
from services.events import registration
from services.events.registration import Registrant
from tests.admin import conftest as console
from tests.admin.conftest import post, text
from tests.databank.conftest import HEADER, row
from tests.events.conftest import make_event

console_app, console_settings, keyring, make_member, rds, signed_in = (
    console.console_app,
    console.console_settings,
    console.keyring,
    console.make_member,
    console.rds,
    console.signed_in,
)
E = texts.EVENT_CONSOLE


def _when(days: int, hour: int = 19) -> str:
    moment = (utcnow() + timedelta(days=days)).astimezone(BEIJING).replace(hour=hour, minute=30)
    return moment.strftime("%Y-%m-%d %H:%M")


def form(**changes: str) -> dict[str, str]:
    return {
        "title": "上海校友新年酒会", "description": "欢迎校友携家属参加。", "association_id": "",
        "starts_at": _when(20),
        "ends_at": "", "venue": "外滩某酒店", "venue_latitude": "31.24", "venue_longitude": "121.49", "capacity": "2",
        "waitlist": "1", "registration_opens_at": "", "registration_closes_at": "", "eligibility": "everyone",
        "segment_id": "", "questions": "*参加人数：1/2\n饮食要求",
    } | changes  # fmt: skip


@pytest.fixture
def world(console_app: Flask, keyring: Any) -> dict[str, int]:
    """Two associations and two alumni in the databank."""
    rt = console_app.extensions["xiaoyou"]
    with rt.db.session() as s:
        importer.import_rows(s, HEADER, [row("张伟", "2015001"), row("李娜", "2015002")], keyring=keyring,
                             settings=rt.settings.databank, actor="t", label="r")  # fmt: skip
    with rt.db.session() as s:
        found: dict[str, int] = {p.name: p.id for p in s.scalars(select(Person))}
        for name in ("上海校友会", "北京校友会"):
            association = Association(kind="regional", name_zh=name, name_en=name, created_by="t")
            s.add(association)
            s.flush()
            found[name] = association.id
    return found


def _events(app: Flask) -> list[Event]:
    with app.extensions["xiaoyou"].db.session() as s:
        return list(s.scalars(select(Event).order_by(Event.id)))


def test_create_publish_register_reveal_export_and_cancel(console_app: Flask, signed_in: Any, world: Any) -> None:
    client, _ = signed_in("officer")
    bad = post(client, "/admin/events", form(title="", starts_at="明天晚上", capacity="0", venue_latitude="31"),
               page="/admin/events/new")  # fmt: skip
    assert bad.status_code == 400
    body = text(bad)
    for message in (texts.EVENT_FORM_ERRORS["bad_time"], E["form_errors"],
                    texts.EVENT_FORM_ERRORS["capacity"].format(max=100000)):  # fmt: skip
        assert message in body
    assert _events(console_app) == []
    for odd in ("0001-01-01 00:00", "9999-12-31 23:59", "2026-02-30 10:00"):
        refused = post(client, "/admin/events", form(starts_at=odd), page="/admin/events/new")
        assert refused.status_code == 400 and texts.EVENT_FORM_ERRORS["bad_time"] in text(refused)
    nan = post(client, "/admin/events", form(venue_latitude="nan", venue_longitude="1e999"), page="/admin/events/new")
    assert nan.status_code == 400 and texts.EVENT_FORM_ERRORS["bad_number"] in text(nan)
    half = post(client, "/admin/events", form(venue_longitude=""), page="/admin/events/new")
    assert half.status_code == 400 and texts.EVENT_FORM_ERRORS["half_point"] in text(half)
    created = post(client, "/admin/events", form(association_id=str(world["上海校友会"])), page="/admin/events/new")
    assert created.status_code == 302
    [event] = _events(console_app)
    assert (event.status, event.capacity, event.association_id) == ("draft", 2, world["上海校友会"])
    assert event.starts_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") == _when(20)
    page = f"/admin/events/{event.id}"
    assert post(client, f"{page}/publish", page=page).status_code == 302
    shown = text(client.get(page + "?done=published"))
    assert E["published"].format(title="上海校友新年酒会") in shown and f"/admin/events/{event.id}/checkin" in shown

    rt = console_app.extensions["xiaoyou"]
    with rt.db.session(write=True) as s:
        for who in (Registrant(world["张伟"]), Registrant(world["李娜"]), Registrant(None, oa_openid="o_guest")):
            registration.register(s, event.id, who, channel="bot", answers={"q1": "2"})
    masked = text(client.get(page))
    assert "张" + texts.MASK in masked and "张伟" not in masked and E["unknown_person"] in masked
    assert "参加人数：2" in masked
    refused = post(client, f"{page}/reveal", {"reason": " "}, page=page)
    assert refused.status_code == 400 and E["reveal_reason_required"] in text(refused)
    revealed = post(client, f"{page}/reveal", {"reason": "核对名单"}, page=page)
    assert revealed.status_code == 200 and "张伟" in text(revealed) and "李娜" in text(revealed)

    export = client.get(f"{page}/attendance.xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert sheet is not None
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0] == list(texts.EVENT_EXPORT_HEADER)
    assert [(r[1], r[2]) for r in rows[1:]] == [
        ("张伟", "报名成功"),
        ("李娜", "报名成功"),
        (E["unknown_person"], "候补中"),
    ]
    with rt.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert "events.reveal" in actions and "events.export" in actions and "event.publish" in actions
        first = s.scalars(select(EventRegistration).order_by(EventRegistration.id)).first()
        assert first is not None
        first_id = first.id

    cancelled = post(client, f"{page}/registrations/{first_id}/cancel", page=page)
    assert cancelled.status_code == 302
    with rt.db.session() as s:
        statuses = [r.status for r in s.scalars(select(EventRegistration).order_by(EventRegistration.id))]
        assert statuses == ["cancelled", "confirmed", "confirmed"]  # the guest moved up
        assert s.scalar(select(func.count()).select_from(OutboundMessage)) == 1  # and is told

    edited = post(client, f"{page}/edit", form(association_id=str(world["上海校友会"]), capacity="1"), page=page)
    assert edited.status_code == 400
    assert texts.EVENT_FORM_ERRORS["capacity_below_confirmed"].format(confirmed=2) in text(edited)

    assert post(client, f"{page}/cancel", {"confirm": "1"}, page=page).status_code == 302
    assert E["cancelled"].format(title="上海校友新年酒会", count=2) in text(client.get(page + "?done=cancelled:2"))
    with rt.db.session() as s:
        # The guest is told (李娜's identity is bound to no openid: nothing can reach her, nothing is queued).
        told = s.scalars(select(OutboundMessage.idempotency_key).order_by(OutboundMessage.id)).all()
        assert [k.split(":")[1] for k in told] == ["promoted", "cancelled"]

    listing = text(client.get("/admin/events"))
    assert "上海校友新年酒会" in listing and 'id="chart-attendance-caption"' in listing


def test_a_branch_admin_sees_only_their_associations_events(console_app: Flask, signed_in: Any, world: Any) -> None:
    rt = console_app.extensions["xiaoyou"]
    client, branch = signed_in("branch_admin")
    with rt.db.session() as s:
        s.add(AssociationAdmin(association_id=world["上海校友会"], staff_account_id=branch.id, appointed_by="t"))
        ours = make_event(s, title="上海活动", association_id=world["上海校友会"]).id
        theirs = make_event(s, title="北京活动", association_id=world["北京校友会"]).id
        office = make_event(s, title="总会活动").id
    listing = text(client.get("/admin/events"))
    assert "上海活动" in listing and "北京活动" not in listing and "总会活动" not in listing
    assert client.get(f"/admin/events/{ours}").status_code == 200
    for other in (theirs, office):
        assert client.get(f"/admin/events/{other}").status_code == 403
        assert client.get(f"/admin/events/{other}/attendance.xlsx").status_code == 403
        assert post(client, f"/admin/events/{other}/cancel", {"confirm": "1"}, page="/admin/events").status_code == 403
    refused = post(client, "/admin/events", form(association_id=str(world["北京校友会"])), page="/admin/events/new")
    assert refused.status_code == 403
    office_refused = post(client, "/admin/events", form(association_id=""), page="/admin/events/new")
    assert office_refused.status_code == 400  # the office's own events are not theirs to create: pick one
    assert texts.EVENT_FORM_ERRORS["association_required"] in text(office_refused)
    assert post(client, "/admin/events", form(association_id=str(world["上海校友会"])),
                page="/admin/events/new").status_code == 302  # fmt: skip
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 4
        assert s.get(Event, theirs).status == "published"

    viewer, _ = signed_in("viewer")
    assert viewer.get("/admin/events").status_code == 200
    assert viewer.get("/admin/events/new").status_code == 403
    assert "events.export" not in text(viewer.get(f"/admin/events/{ours}"))  # no export link for a viewer
    assert 'id="event-export"' not in text(viewer.get(f"/admin/events/{ours}"))
