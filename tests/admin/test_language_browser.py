"""The console in English, in a real browser (chromium, as in test_browser.py): the switch in the header turns every
page into English and back, a wrong password is refused in English, and an officer works through English pages."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from core import i18n, texts
from tests.admin import test_browser

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in


def english(read: Any) -> Any:
    with i18n.use("en"):
        return read()


def test_the_switch_turns_the_console_english_and_back(page: Page, console: str, make_member: Any) -> None:
    officer = make_member("officer")
    page.goto(f"{console}/login")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("#language-switch")  # "English"
    page.wait_for_url(f"{console}/login")
    assert page.get_attribute("html", "lang") == "en"
    assert english(lambda: texts.CONSOLE["login_title"]) in page.inner_text("main")

    page.fill("input[name=username]", officer.username)
    page.fill("input[name=password]", "not the password")
    page.click("main button[type=submit]")
    assert page.inner_text("#login-error") == english(lambda: texts.CONSOLE["login_failed"])

    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    nav = page.inner_text("nav.nav")
    for title in ("nav_home", "nav_imports", "nav_inquiries", "nav_events", "nav_associations"):
        assert english(lambda t=title: texts.CONSOLE[t]) in nav, title
    page.click(f"nav >> text={english(lambda: texts.CONSOLE['nav_events'])}")
    page.wait_for_url(f"{console}/events")
    assert page.get_attribute("html", "lang") == "en"

    page.click("#language-switch")  # "中文": back on the same page, in Chinese
    page.wait_for_url(f"{console}/events")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert texts.CONSOLE["nav_events"] in page.inner_text("nav.nav")
