"""Answering an inquiry in a real browser (Debian's chromium, as in test_browser.py): an officer signs in, opens the
help desk from the navigation, finds the unassigned inquiry, takes it, writes the answer and sends it; the page shows
the reply as delivered and the alumna's WeChat (the emulator) has it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page

from core import texts
from emulator.testing import RunningEmulator
from tests.admin import test_browser, test_inquiries

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, emulator = test_inquiries.console_settings, test_inquiries.emulator


def test_an_officer_answers_an_inquiry_from_the_inbox(
    page: Page, console: str, console_app: Flask, make_member: Any, emulator: RunningEmulator
) -> None:
    inquiry_id = test_inquiries.chat_inquiry(console_app, "browser-1")
    test_inquiries.open_window(console_app, emulator)
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")

    page.click(f"nav >> text={texts.CONSOLE['nav_inquiries']}")
    page.wait_for_url(f"{console}/inquiries")
    page.click("#tab-unassigned")
    page.click(f"#inquiry-{inquiry_id} a >> nth=0")
    page.wait_for_url(f"{console}/inquiries/{inquiry_id}")
    assert "校友卡怎么补办？browser-1" in page.inner_text("#inquiry-transcript")

    page.select_option("#assign-form select[name=assignee]", label=f"测试{officer.username}（{officer.username}）")
    page.click("#assign-form button[type=submit]")
    page.wait_for_url(f"{console}/inquiries/{inquiry_id}?done=assign")
    assert page.inner_text("#inquiry-assignee") == f"测试{officer.username}"

    page.fill("#reply-form textarea[name=body]", "您好，请携带身份证到校友办补办校友卡。")
    page.click("#reply-send")
    page.wait_for_url(f"{console}/inquiries/{inquiry_id}?done=reply")
    delivery = page.locator("#inquiry-transcript .event-reply .delivery")
    assert delivery.inner_text() == texts.INQUIRY_DELIVERY_NAMES["sent"]
    sent = [d["message"]["text"]["content"] for d in emulator.deliveries(test_inquiries.ALICE, "custom")]
    assert sent == [texts.INQUIRY_ANSWER_HEADER.format(number=inquiry_id) + "您好，请携带身份证到校友办补办校友卡。"]

    page.click(f"a >> text={texts.CONSOLE['inquiries_title']}")
    page.wait_for_url(f"{console}/inquiries")
    assert texts.CONSOLE["inquiry_answered"] in page.inner_text(f"#inquiry-{inquiry_id}")
