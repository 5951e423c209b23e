"""The outreach page in English, in a real browser (chromium, as in tests/admin/test_browser.py): an officer switches
the console to English, follows the nav to the outreach page, reads the responders by country (chart and table, in
English names) and is told in English when the years are missing."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from core import i18n, texts
from tests.admin import test_browser
from tests.outreach import test_console

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_app, console_settings, keyring, make_member, rds, answered = (
    test_console.console_app,
    test_console.console_settings,
    test_console.keyring,
    test_console.make_member,
    test_console.rds,
    test_console.answered,
)


def english(read: Any) -> Any:
    with i18n.use("en"):
        return read()


def test_an_officer_reads_the_outreach_report_in_english(
    page: Page, console: str, make_member: Any, answered: dict[str, int]
) -> None:
    officer = make_member("officer")
    page.goto(f"{console}/login")
    page.click("#language-switch")  # "English"
    page.wait_for_url(f"{console}/login")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click(f"nav >> text={english(lambda: texts.CONSOLE['nav_outreach'])}")
    page.wait_for_url(f"{console}/outreach")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#outreach-responders") == english(
        lambda: texts.CONSOLE["outreach_responders"].format(count=3)
    )
    assert page.locator("#chart-outreach g.bar").count() == 2  # United Kingdom, Canada
    table = page.inner_text("#outreach-table")
    assert "United Kingdom\t2019\t1" in table and "United Kingdom\t2017\t1" in table and "Canada\t2019\t1" in table
    page.fill("input[name=year_to]", "2019")
    page.click("#outreach-launch button[type=submit]")
    page.wait_for_selector("#outreach-error")
    assert page.inner_text("#outreach-error") == english(lambda: texts.OUTREACH_ERRORS["years"])
