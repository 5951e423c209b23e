"""The event pages in a real browser (chromium, as in tests/admin/test_browser.py): an officer signs in, reaches
活动 from the navigation, creates an event through the form (a wrong time first: the field's message), publishes it,
and after an alumnus registers sees the registration (masked) and the waitlist on the event's page."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page

from core import texts
from services.events import registration
from services.events.registration import Registrant
from tests.admin import test_browser
from tests.events import test_console

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_app, console_settings, keyring, make_member, world = (
    test_console.console_app,
    test_console.console_settings,
    test_console.keyring,
    test_console.make_member,
    test_console.world,
)
E = texts.EVENT_CONSOLE


def test_an_officer_creates_and_publishes_an_event_and_sees_its_registrations(
    page: Page, console: str, console_app: Flask, make_member: Any, world: Any
) -> None:
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click(f"nav >> text={texts.CONSOLE['nav_events']}")
    page.wait_for_url(f"{console}/events")
    assert E["no_events"] in page.inner_text("#event-table")
    page.click("#event-new")
    values = test_console.form(association_id=str(world["上海校友会"]), capacity="1")
    for name in ("title", "starts_at", "venue", "venue_latitude", "venue_longitude", "capacity"):
        page.fill(f"#event-form [name={name}]", values[name])
    page.select_option("#event-form [name=association_id]", values["association_id"])
    page.fill("#event-form [name=questions]", "*参加人数：1/2")
    page.fill("#event-form [name=ends_at]", "昨天")
    page.click("#event-save")
    assert page.inner_text("[data-field=ends_at]") == texts.EVENT_FORM_ERRORS["bad_time"]
    assert page.input_value("#event-form [name=title]") == values["title"]  # what was typed is kept
    page.fill("#event-form [name=ends_at]", "")
    page.click("#event-save")
    page.wait_for_url(f"{console}/events/*")
    event_id = int(page.url.split("/")[-1].split("?")[0])
    assert page.inner_text("#event-status") == texts.EVENT_STATUS_NAMES["draft"]
    page.click("#event-publish button")
    assert page.inner_text("#event-notice") == E["published"].format(title=values["title"])
    assert page.inner_text("#event-status") == texts.EVENT_STATUS_NAMES["published"]

    rt = console_app.extensions["xiaoyou"]
    with rt.db.session(write=True) as s:
        registration.register(s, event_id, Registrant(world["张伟"]), channel="miniprogram", answers={"q1": "2"})
        registration.register(s, event_id, Registrant(world["李娜"]), channel="bot", answers={"q1": "1"})
    page.reload()
    confirmed = page.inner_text("#event-registrations")
    assert "张" + texts.MASK in confirmed and "张伟" not in confirmed and "参加人数：2" in confirmed
    assert "李" + texts.MASK in page.inner_text("#event-waitlist")
    assert page.inner_text("#event-places") == "1 / 1"
    assert page.get_attribute("#event-checkin", "href") == f"/admin/events/{event_id}/checkin"

    page.fill("#event-reveal input[name=reason]", "核对到场名单")
    page.click("#event-reveal button")
    assert "张伟" in page.inner_text("#event-registrations")
    assert page.inner_text("#event-revealed") == E["revealed"]

    page.click(f"text={E['back']}")
    page.wait_for_url(f"{console}/events")
    assert values["title"] in page.inner_text(f"#event-{event_id}")
    assert page.locator("#chart-attendance").count() == 1
