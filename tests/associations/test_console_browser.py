"""A branch admin's association page in a real browser (chromium, as in tests/admin/test_browser.py): they sign in,
follow the nav to their association, see the request with the name masked, approve it, and the page says so; the
request moves to the members and the alumnus is told (a customer-service message queued in the outbox)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select

from core import texts
from models import OutboundMessage
from models.association import AssociationMember
from services.associations import admins
from tests.admin import test_browser
from tests.associations import test_console

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_app, console_settings, keyring, make_member, rds, signed_in, world = (
    test_console.console_app,
    test_console.console_settings,
    test_console.keyring,
    test_console.make_member,
    test_console.rds,
    test_console.signed_in,
    test_console.world,
)
T = texts.CONSOLE


def test_a_branch_admin_approves_a_join_request(
    page: Page, console: str, console_app: Flask, make_member: Any, world: dict[str, int]
) -> None:
    admin = make_member("branch_admin")
    with console_app.extensions["xiaoyou"].db.session() as s:
        admins.appoint(s, world["北京校友会"], admin.id, actor="staff:t")
        request = s.get(AssociationMember, world["request"])
        assert request is not None
        request.openid = "oZhangWei000000000000000001"
    sign_in(page, console, admin, admin.code())
    page.wait_for_url(f"{console}/")
    page.click(f"nav >> text={T['nav_associations']}")
    page.wait_for_url(f"{console}/associations")
    rows = page.locator("#associations-table tbody tr")
    assert rows.count() == 1 and "北京校友会" in rows.first.inner_text()
    page.click("#associations-table a")
    page.wait_for_url(f"{console}/associations/{world['北京校友会']}")
    request_row = page.locator(f"#request-{world['request']}")
    assert "张****" in request_row.inner_text() and page.inner_text("#n-requests") == "1"
    page.click(f"#approve-{world['request']}")
    page.wait_for_selector("#association-notice")
    assert page.inner_text("#association-notice") == T["associations_done_approved"]
    assert page.inner_text("#n-members") == "1" and page.inner_text("#n-requests") == "0"
    assert "张****" in page.inner_text("#association-members")
    with console_app.extensions["xiaoyou"].db.session() as s:
        told = s.scalars(select(OutboundMessage).where(OutboundMessage.openid == "oZhangWei000000000000000001")).one()
        contact = "-"
        assert json.loads(told.payload_json)["content"] == texts.ASSOCIATION_APPROVED.format(
            association="北京校友会", contact=contact
        )
