"""Segments in a real browser (chromium, as in test_browser.py): a broadcaster signs in, follows the navigation to
推送人群, creates a segment through the form (a checkbox for the level, a text area for the college), and sees its
count and reach per channel, with the unreachable by reason."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Page

from tests.admin import test_browser
from tests.admin.test_segments import seed

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in


def test_a_broadcaster_creates_a_segment_and_sees_its_reach(page: Page, console: str, console_app: Flask,
                                                             make_member: Any) -> None:  # fmt: skip
    seed(console_app)
    broadcaster = make_member("broadcaster")
    sign_in(page, console, broadcaster, broadcaster.code())
    page.wait_for_url(f"{console}/")
    page.click("nav a[href='/admin/segments']")
    page.wait_for_url(f"{console}/segments")
    assert "还没有人群。" in page.inner_text("#segments-table")

    page.click("#segments-add")
    page.wait_for_url(f"{console}/segments/new")
    page.fill("input[name=name]", "2015届计算机")
    page.fill("input[name=grad_year_from]", "2015")
    page.fill("input[name=grad_year_to]", "2015")
    page.fill("textarea[name=colleges]", "計算機學院")
    page.check("#segment-levels input[value=bachelor]")
    page.click("#segment-try")  # the reach of the form before saving it
    page.wait_for_selector("#segment-reach")
    assert page.get_attribute("#segment-reach", "data-total") == "2"
    assert page.input_value("textarea[name=colleges]") == "計算機學院"  # the form comes back as typed

    page.click("#segment-save")
    page.wait_for_selector("#segments-notice")
    assert "人群「2015届计算机」已保存" in page.inner_text("#segments-notice")
    assert page.inner_text("#segment-total") == "人群内 2 人"
    assert "另有 1 人撤回了推送同意" in page.inner_text("#segment-withdrawn")
    mass = page.locator("#segment-reach-table tr[data-channel=mass]")
    assert mass.locator("td.reachable").inner_text() == "1"
    assert mass.locator("[data-reason=unsubscribed]").inner_text() == "已取消关注：1"
    custom = page.locator("#segment-reach-table tr[data-channel=custom]")
    assert custom.locator("td.reachable").inner_text() == "1"
    subscribe = page.locator("#segment-reach-table tr[data-channel=subscribe]")
    assert subscribe.locator("td.reachable").inner_text() == "0"
    assert subscribe.locator("[data-reason=no_subscribe_consent]").inner_text() == "订阅消息次数已用完：2"

    page.click("main a[href='/admin/segments']")
    page.wait_for_url(f"{console}/segments")
    assert "学历层次：本科" in page.inner_text("#segments-table")
