"""The console in a real browser: Debian's chromium driven by Playwright (sync API) against the app served on a
loopback port. No test downloads a browser: ``executable_path`` points at /usr/bin/chromium (``make test`` installs
it with apt-get when missing). A failing test saves a screenshot under its pytest tmp dir and prints the path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright

from services.staff import totp
from tests.admin.conftest import CALL_FAILED, PASSWORD, Member

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    violations: list[str] = []
    opened.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield opened
    if request.node.stash.get(CALL_FAILED, False):
        shot = tmp_path / f"{request.node.name}.png"
        opened.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the failing page: {shot}")
    context.close()
    assert violations == [], violations  # nothing on a console page breaks the CSP (no inline script or style)


@pytest.fixture
def console(console_app: Flask, live_server: Any) -> str:
    server = live_server(console_app)
    return f"{server.url}/admin"


def _sign_in(page: Page, console: str, member: Member, code: str) -> None:
    page.goto(f"{console}/login")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console}/login/code")
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")


def test_first_login_enrols_then_password_and_code_sign_in(
    page: Page, console: str, console_app: Flask, make_member: Any, keyring: Any
) -> None:
    member = make_member("admin", enrolled=False)
    page.goto(f"{console}/")
    page.wait_for_url(f"{console}/login")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console}/login/enrol")
    qr = page.locator("img.qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the QR code loaded from our own route
    with console_app.extensions["xiaoyou"].db.session() as session:
        secret = totp.enrolment_secret(session, keyring, member.id)
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == secret
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    codes = page.locator("#recovery-codes li")
    codes.first.wait_for()
    assert codes.count() == 10
    page.click("text=我已保存，进入工作台")
    page.wait_for_url(f"{console}/")
    assert page.locator("#dashboard-tiles .tile").count() == 4  # an admin's home is the dashboard
    assert page.locator("nav.nav a").count() >= 4  # home, staff, audit log, settings

    page.click("button:has-text('退出登录')")
    page.wait_for_url(f"{console}/login?notice=out")
    assert "您已退出登录" in page.inner_text("main")
    member.secret = secret
    _sign_in(page, console, member, pyotp.TOTP(secret).at(time.time(), counter_offset=1))  # now's code was used
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=工作人员")
    page.wait_for_url(f"{console}/staff")
    assert member.username in page.inner_text("#staff-table")


def test_the_lockout_message_after_repeated_wrong_passwords(page: Page, console: str, make_member: Any) -> None:
    member = make_member("officer")
    page.goto(f"{console}/login")
    for _ in range(3):  # admin.failures_per_account in these tests
        page.fill("input[name=username]", member.username)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert page.inner_text("#login-error") == "用户名或密码错误。"
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert "登录失败次数过多" in page.inner_text("#login-error")


def test_a_viewer_cannot_open_the_staff_page(page: Page, console: str, make_member: Any) -> None:
    viewer = make_member("viewer")
    _sign_in(page, console, viewer, viewer.code())
    page.wait_for_url(f"{console}/")
    assert page.locator("nav >> text=工作人员").count() == 0
    response = page.goto(f"{console}/staff")
    assert response is not None and response.status == 403
    assert "您的角色没有访问此页面的权限" in page.inner_text("#error-message")
