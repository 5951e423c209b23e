"""A class liaison's coverage page in a real browser (chromium, as in test_browser.py): the liaison signs in, finds
their cohort on the home page, opens it and reads its numbers; the overview lists their cohort alone. The cohort
page's group QR image loads in the browser (the console's own route, under its Content-Security-Policy)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.admin import test_browser, test_classes

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, card_settings, card_app = (
    test_classes.console_settings,
    test_classes.card_settings,
    test_classes.card_app,
)
emulator, card_settings_factory = test_classes.emulator, test_classes.card_settings_factory
api, db, alumni, mp_user, world = (
    test_classes.api,
    test_classes.db,
    test_classes.alumni,
    test_classes.mp_user,
    test_classes.world,
)


def test_a_liaison_signs_in_and_reads_their_cohorts_coverage(page: Page, console: str, world: Any) -> None:
    liaison = world["liaison"]
    sign_in(page, console, liaison, liaison.code())
    page.wait_for_url(f"{console}/")
    cohort = world[test_classes.ONE]
    page.click(f"#my-cohorts a[href='/admin/classes/{cohort}']")
    page.wait_for_url(f"{console}/classes/{cohort}")
    assert page.inner_text("#cohort-title") == test_classes.ONE
    numbers = {key: page.inner_text(f"#n-{key}") for key in ("roster", "joined", "verified", "percent")}
    assert numbers == {"roster": "2", "joined": "2", "verified": "0", "percent": "100.0"}
    assert page.locator("#group-form").is_visible() and page.locator("#appoint-form").count() == 0

    page.click("nav >> text=班级群")
    page.wait_for_url(f"{console}/classes")
    rows = page.locator("#coverage-table tbody tr")
    assert rows.count() == 1 and test_classes.ONE in rows.first.inner_text()


def test_the_cohort_page_shows_the_registered_group_qr_image(
    page: Page, console: str, console_app: Any, world: Any
) -> None:
    """The <img> loads through the console's own route under its Content-Security-Policy, as a browser shows it."""
    cohort = world[test_classes.ONE]
    image = test_classes._register_group(console_app, cohort)
    liaison = world["liaison"]
    sign_in(page, console, liaison, liaison.code())
    page.wait_for_url(f"{console}/")
    with page.expect_response(f"{console}/classes/{cohort}/group/qr") as served:
        page.goto(f"{console}/classes/{cohort}")
    assert served.value.status == 200 and served.value.body() == image
    qr = page.locator("#group-qr img")
    qr.wait_for()
    page.wait_for_function("document.querySelector('#group-qr img').complete")
    assert qr.evaluate("img => img.naturalWidth") > 0 and qr.is_visible()
    assert "入群二维码有效期至" in page.inner_text("#cohort-group")
