"""The Alumni pages in a real browser (chromium, as in test_browser.py): an officer searches, opens a person,
reveals a phone with a reason and sees it in place (htmx); a viewer opens the same person and sees masked data and
no reveal control."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select

from models import AuditEntry
from tests.admin import test_alumni, test_browser

# The browser (test_browser.py) and the alumni (test_alumni.py).
browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
people, contact_ids, PHONE = test_alumni.people, test_alumni.contact_ids, test_alumni.PHONE


def test_an_officer_reveals_a_phone_and_a_viewer_sees_only_masks(
    page: Page, console: str, console_app: Flask, make_member: Any, people: dict[str, int]
) -> None:
    pid = people["2015001"]
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=校友查询")
    page.wait_for_url(f"{console}/alumni")
    page.fill("#alumni-filter input[name=q]", "zhangxiaoming")
    page.click("#alumni-filter button[type=submit]")
    page.locator(f"#alumni-results a[href='/admin/alumni/{pid}']").first.click()
    page.wait_for_url(f"{console}/alumni/{pid}")
    assert "张晓明" in page.inner_text("#person-name")

    cell = page.locator(f"#contact-{contact_ids(console_app, pid)['phone']}")
    assert cell.inner_text().startswith("138****0001")
    cell.locator("input[name=reason]").fill("联系返校活动")
    cell.locator("button[type=submit]").click()
    page.locator("#person-contacts strong.revealed").wait_for()
    assert PHONE in page.inner_text("#person-contacts")
    assert page.url == f"{console}/alumni/{pid}"  # swapped in place: the page stayed
    with console_app.extensions["xiaoyou"].db.session() as session:
        reveals = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "contact.reveal")))
    assert [(e.person_id, e.detail["reason"]) for e in reveals] == [(pid, "联系返校活动")]

    page.click("button:has-text('退出登录')")
    viewer = make_member("viewer")
    sign_in(page, console, viewer, viewer.code())
    page.wait_for_url(f"{console}/")
    page.goto(f"{console}/alumni/{pid}")
    assert page.inner_text("#person-name").startswith("张****")
    body = page.inner_text("main")
    assert "张晓明" not in body and PHONE not in body and "138****0001" in body
    assert page.locator("form.reveal").count() == 0 and page.locator("#subject-requests").count() == 0
