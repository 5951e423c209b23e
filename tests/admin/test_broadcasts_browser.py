"""A broadcast in a real browser (chromium, as in test_browser.py), from compose through approval to a finished
delivery report: an officer composes a text broadcast, reads its preview and plan, confirms it (the audience is over
the approval threshold); a broadcaster, signed in in a second browser context, finds it in the approval queue and
approves it; the scheduler's two steps run (``delivery.start_due`` writes the recipients, ``delivery.send_pass``
sends them through the WeChat emulator); the progress page shows it finished and the report counts every recipient
sent - each of whom the emulator delivered the text to."""

from __future__ import annotations

from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page

from emulator.testing import RunningEmulator
from services.broadcasts import delivery
from tests.admin import test_broadcasts, test_browser
from wechat.gateway import build_gateway

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, emulator = test_broadcasts.console_settings, test_broadcasts.emulator
FANS = ("o_fan_000", "o_fan_001", "o_fan_002")


def test_compose_approve_send_and_read_the_report(
    page: Page, browser: Browser, console: str, console_app: Flask, make_member: Any, emulator: RunningEmulator
) -> None:
    test_broadcasts.followers(console_app, len(FANS))
    emulator.add_followers(*FANS)
    officer, boss = make_member("officer"), make_member("broadcaster")

    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=广播")
    page.wait_for_url(f"{console}/broadcasts")
    page.click("#broadcast-new")
    page.fill("input[name=title]", "元旦问候")
    page.fill("textarea[name=text]", "新年快乐，校友们！")
    page.check("input[name=ignore_quiet_hours]")  # whatever the hour the test runs at
    page.click("#broadcast-save")
    page.wait_for_selector("#broadcast-notice")
    assert page.inner_text("#preview-mass .bubble") == "新年快乐，校友们！"
    assert page.inner_text("#plan-audience") == "3" and page.inner_text("#plan-reachable") == "3"
    assert "确认后需要另一位同事审批" in page.inner_text("#broadcast-plan")
    page.click("#broadcast-confirm button")
    page.wait_for_selector("#broadcast-status[data-status=awaiting_approval]")
    broadcast_url = page.url.split("?")[0]
    assert page.locator("#broadcast-approve").count() == 0  # the officer cannot approve

    second = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    try:
        approver = second.new_page()
        approver.set_default_timeout(10_000)
        sign_in(approver, console, boss, boss.code())
        approver.wait_for_url(f"{console}/")
        approver.click("nav >> text=广播审批")
        approver.wait_for_url(f"{console}/broadcasts/approvals")
        approver.click("#approval-table a >> text=审批")
        approver.wait_for_url(broadcast_url)
        approver.click("#broadcast-approve button")
        approver.wait_for_selector("#broadcast-status[data-status=scheduled]")
        assert "已批准" in approver.inner_text("#broadcast-notice")

        # The scheduler's job: start the due broadcast, then one sender pass.
        rt = console_app.extensions["xiaoyou"]
        with rt.db.session() as session:
            started = delivery.start_due(session, rt.settings)
        assert len(started) == 1
        gateway = build_gateway(rt.settings, rt.redis)
        delivery.send_pass(lambda: rt.db.session(write=True), gateway, rt.settings)

        approver.click("#broadcast-progress-link")
        approver.wait_for_selector("#progress-status[data-status=finished]")
        assert approver.inner_text("#n-sent") == "3" and approver.inner_text("#n-percent") == "100.0"
        approver.click("#progress-report")
        approver.wait_for_selector("#report-summary")
        assert approver.inner_text("#r-sent") == "3" and approver.inner_text("#r-failed") == "0"
        assert approver.inner_text("#r-pending") == "0"
    finally:
        second.close()
    got = {d["openid"] for d in emulator.deliveries(channel="mass")}
    assert got == set(FANS)
    assert all(d["message"]["text"]["content"] == "新年快乐，校友们！" for d in emulator.deliveries(channel="mass"))
