"""The check-in desk in a real browser (chromium, as in tests/admin/test_browser.py): an officer opens an event's
desk; a card scanned at the door through the real verify endpoint arrives in the live list and the counts without a
reload (the page polls its JSON feed); then the officer finds a registrant by name and checks them in by hand."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.admin import test_browser
from tests.card.conftest import CLAIM_ZHANG
from tests.events import test_checkin
from tests.events.test_checkin import code, event_with, holder, registration_of, scoped_scanner, verify

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
emulator, card_settings_factory, console_settings = (
    test_checkin.emulator, test_checkin.card_settings_factory, test_checkin.console_settings,
)  # fmt: skip
api, db, alumni, mp_user = test_checkin.api, test_checkin.db, test_checkin.alumni, test_checkin.mp_user
card_app, card_settings, console_app = test_checkin.card_app, test_checkin.card_settings, test_checkin.console_app
keyring, make_member = test_checkin.keyring, test_checkin.make_member


def test_a_check_in_at_the_door_arrives_on_the_desk(
    page: Page, console: str, make_member: Any, api: Any, db: Any, mp_user: Any, alumni: dict[str, int]
) -> None:
    zhang = holder(mp_user, 1, CLAIM_ZHANG)
    event_id = event_with(db, people=(alumni["张晓明"], alumni["李娜"]), title="返校日")
    door = scoped_scanner(db, event_id)
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.goto(f"{console}/events/{event_id}/checkin")
    assert "返校日" in page.inner_text("h1")
    expect(page.locator("#count-confirmed")).to_have_text("2")
    expect(page.locator("#count-checked-in")).to_have_text("0")
    expect(page.locator("#checkin-latest tbody")).to_contain_text("还没有人签到")
    assert page.locator("#checkin-qr-image svg").count() == 1  # the door's QR, made at the emulator

    # The door scans 张晓明's card: the desk shows it without a reload.
    answer = verify(api, door, code(zhang))
    assert answer.json["checkin"]["outcome"] == "checked_in"
    zhang_reg = registration_of(db, event_id, alumni["张晓明"])
    arrived = page.locator(f'#checkin-latest tr[data-registration="{zhang_reg.id}"]')
    expect(arrived).to_contain_text("张****")
    expect(arrived).to_contain_text("刷校友卡")
    expect(page.locator("#count-checked-in")).to_have_text("1")
    expect(page.locator("#count-remaining")).to_have_text("1")
    assert "张晓明" not in page.inner_text("#checkin-latest")  # masked

    # 李娜 has no card with her: the officer finds her and checks her in by hand.
    page.fill("#search-registrant input[name=q]", "李娜")
    page.click("#search-registrant button[type=submit]")
    li_reg = registration_of(db, event_id, alumni["李娜"])
    row = page.locator(f"#found-{li_reg.id}")
    expect(row).to_contain_text("李****")
    row.locator("button:has-text('签到')").click()
    expect(page.locator("#checkin-notice")).to_contain_text(f"报名 {li_reg.id}：签到成功")
    expect(page.locator(f'#checkin-latest tr[data-registration="{li_reg.id}"]')).to_contain_text("签到台手动")
    expect(page.locator("#count-checked-in")).to_have_text("2")
    expect(page.locator("#count-remaining")).to_have_text("0")
    page.click("#back-to-event")
    page.wait_for_url(f"{console}/events/{event_id}")
