"""The chat simulator in a real browser (chromium, as in test_browser.py): an officer signs in, opens 对话模拟 from the
navigation, types 帮助 and sees the bot's help reply appended to the conversation (htmx, no reload); a tap on 关注
gets the welcome; after a reload the conversation is still there."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from core import texts
from tests.admin import test_browser, test_wechat

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, emulator = test_wechat.console_settings, test_wechat.emulator


def test_an_officer_types_help_and_sees_the_bots_reply(page: Page, console: str, make_member: Any) -> None:
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=对话模拟")
    page.wait_for_url(f"{console}/wechat/chat")
    assert "还没有对话" in page.inner_text("main")

    page.fill("#chat-form input[name=content]", "帮助")
    page.press("#chat-form input[name=content]", "Enter")
    reply = page.locator("#chat-log li.chat-bot")
    reply.first.wait_for()
    assert page.url == f"{console}/wechat/chat"  # appended in place by htmx, not a new page
    assert reply.first.locator(".chat-text").inner_text() == texts.HELP
    assert page.locator("#chat-log li.chat-you .chat-text").first.inner_text() == "帮助"
    assert page.input_value("#chat-form input[name=content]") == ""  # ready for the next message
    assert page.locator("#chat-none").count() == 0

    page.click("#chat-events button[value=subscribe]")
    page.locator("#chat-log li.chat-bot").nth(1).wait_for()
    assert page.locator("#chat-log li.chat-bot").nth(1).locator(".chat-text").inner_text() == texts.WELCOME

    page.reload()
    assert page.locator("#chat-log li").count() == 4  # you, bot, you, bot: kept across pages
