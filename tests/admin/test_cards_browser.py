"""A card approval in a real browser (chromium, as in test_browser.py): an officer signs in, opens the review queue,
sees the evidence image, finds the applicant in the databank, approves, and the decision reaches the applicant's
mini-program at the emulator as a subscribe message."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.admin import test_browser, test_cards
from tests.card.conftest import TEMPLATE

# The browser (test_browser.py) and the console wired to the emulator with applicants (test_cards.py).
browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, card_settings, card_app = test_cards.console_settings, test_cards.card_settings, test_cards.card_app
emulator, card_settings_factory = test_cards.emulator, test_cards.card_settings_factory
api, db, alumni, mp_user = test_cards.api, test_cards.db, test_cards.alumni, test_cards.mp_user
waiting_application = test_cards.waiting_application


def test_an_officer_approves_an_application_and_the_applicant_is_told(
    page: Page,
    console: str,
    make_member: Any,
    mp_user: Any,
    alumni: dict[str, int],
    emulator: Any,
) -> None:
    user = mp_user(1)
    app_id = waiting_application(user)
    emulator.control("POST", "/consents", {"openid": user.openid, "template_id": TEMPLATE})
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=卡片审核")
    page.wait_for_url(f"{console}/cards/review")
    item = page.locator(f"#application-{app_id}")
    assert "王****" in item.inner_text()
    image = item.locator("ul.evidence img")
    image.wait_for()
    page.wait_for_function("img => img.complete", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") == 2  # the stored photo, served by the guarded route

    item.locator("text=查找对应的校友").click()
    page.wait_for_url(f"{console}/cards/applications/{app_id}")
    page.fill("#find-person input[name=q]", "王芳")
    page.click("#find-person button[type=submit]")
    page.locator("#found-people >> text=批准：就是此人").click()
    page.wait_for_url(f"{console}/cards/review?done=approved&app={app_id}&told=subscribe")
    assert f"申请 {app_id} 已批准" in page.inner_text("#review-notice")
    assert page.locator(f"#application-{app_id}").count() == 0  # it left the queue

    sent = emulator.deliveries(openid=user.openid, channel="subscribe")
    assert len(sent) == 1 and sent[0]["message"]["template_id"] == TEMPLATE
    assert user.get("/card").json["holder_name"] == "王芳"
