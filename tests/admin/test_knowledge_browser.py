"""The knowledge base in a real browser (chromium, as in test_browser.py): an officer signs in, follows the
navigation to 知识库, adds an entry through the form, and tests a question in the "test a question" box: the page
shows the confident verdict and the entry's score."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.admin import test_browser

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in


def test_an_officer_adds_an_entry_and_tests_a_question(page: Page, console: str, make_member: Any) -> None:
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav a[href='/admin/knowledge']")
    page.wait_for_url(f"{console}/knowledge")
    assert "没有符合条件的条目。" in page.inner_text("#knowledge-table")

    page.click("#knowledge-add")
    page.wait_for_url(f"{console}/knowledge/new")
    page.fill("input[name=question]", "如何申请电子校友卡")
    page.fill("textarea[name=answer]", "打开校友会小程序，进入「校友卡」提交申请。")
    page.fill("input[name=keywords]", "校友卡 电子校友卡 办卡 办理")
    page.select_option("select[name=category]", "card")
    page.click("#knowledge-save")
    page.wait_for_url(f"{console}/knowledge?done=saved")
    assert page.inner_text("#knowledge-notice") == "条目已保存。"
    assert "如何申请电子校友卡" in page.inner_text("#knowledge-table")

    page.fill("#knowledge-test-text", "您好，如何申请电子校友卡？")
    page.click("#knowledge-test button[type=submit]")
    page.wait_for_selector("#knowledge-verdict")
    assert page.get_attribute("#knowledge-verdict", "data-kind") == "confident"
    first = page.locator("#knowledge-scores tbody tr").first
    assert first.locator("td").nth(0).inner_text() == "如何申请电子校友卡"
    assert float(first.locator("td").nth(2).inner_text()) >= 82

    page.fill("#knowledge-test-text", "今天食堂有什么好吃的")
    page.click("#knowledge-test button[type=submit]")
    page.wait_for_selector("#knowledge-verdict[data-kind=none]")
    assert "没有匹配，转给校友办" in page.inner_text("#knowledge-verdict")
