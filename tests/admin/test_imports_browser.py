"""A roster import in a real browser (chromium, as in test_browser.py), with the scheduler's real ``databank.imports``
job running in a background thread as ``python -m jobs`` would: an officer uploads a roster with errors, watches the
progress bar reach its end, downloads the .xlsx error report and finds the errors in it, then uploads a good roster
and sees it completed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook
from playwright.sync_api import Page

from jobs import JOBS, JobContext
from tests.admin import test_browser, test_imports
from tests.databank.conftest import row, write_csv

browser, page, console, sign_in = test_browser.browser, test_browser.page, test_browser.console, test_browser._sign_in
console_settings, upload_dir = test_imports.console_settings, test_imports.upload_dir


@pytest.fixture
def scheduler(console_app: Flask) -> Iterator[list[Any]]:
    """The real JobSpec function, run every 0.2 s in a thread of its own (the scheduler's executor); its reports."""
    (spec,) = [spec for spec in JOBS if spec.id == "databank.imports"]
    context = JobContext(console_app.extensions["xiaoyou"])
    stop = threading.Event()
    reports: list[Any] = []
    failures: list[BaseException] = []

    def loop() -> None:
        while not stop.wait(0.2):
            try:
                report = spec.func(context)
            except BaseException as exc:
                failures.append(exc)
                return
            if report.ran is not None:
                reports.append(report)

    thread = threading.Thread(target=loop, name="scheduler", daemon=True)
    thread.start()
    yield reports
    stop.set()
    thread.join(30)
    assert failures == []


def test_an_officer_imports_a_roster_with_errors_then_a_good_one(
    page: Page, console: str, make_member: Any, scheduler: list[Any], tmp_path: Path
) -> None:
    rows = [row(), row("李娜", "2015002", 毕业年份="明年"), row("王芳", "2015001"), row("陈强", "2015004")]
    bad = write_csv(tmp_path / "2019届有错.csv", rows)
    good = write_csv(tmp_path / "2019届.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003")])
    officer = make_member("officer")
    sign_in(page, console, officer, officer.code())
    page.wait_for_url(f"{console}/")
    page.click("nav >> text=名单导入")
    page.wait_for_url(f"{console}/imports")

    page.set_input_files("#import-upload input[name=file]", str(bad))
    page.select_option("#import-upload select[name=source]", "registrar")
    page.click("#import-upload button[type=submit]")
    page.wait_for_url(f"{console}/imports/*")
    page.wait_for_selector("#import-progress[data-status=rejected]")  # htmx swapped the polled fragment in
    bar = page.locator("#import-bar")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "4"
    assert "文件有 2 处错误，整个文件都没有导入" in page.inner_text("#import-outcome")
    with page.expect_download() as waiting:
        page.click("#import-progress >> text=下载错误报告（.xlsx）")
    download = waiting.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".xlsx"
    sheet = load_workbook(saved, read_only=True).worksheets[0]
    report = [[cell.value for cell in r] for r in sheet.iter_rows()]
    assert [r[0] for r in report[1:]] == ["3", "4"]
    assert report[1][2] == "year" and report[2][2] == "duplicate_row"

    page.click("text=返回名单导入")
    page.wait_for_url(f"{console}/imports")
    page.set_input_files("#import-upload input[name=file]", str(good))
    page.click("#import-upload button[type=submit]")
    page.wait_for_url(f"{console}/imports/*")
    page.wait_for_selector("#import-progress[data-status=completed]")
    assert page.locator("#import-bar").get_attribute("value") == "3"
    assert "导入完成：共 3 行，新增 3" in page.inner_text("#import-outcome")
    assert [r.outcome for r in scheduler] == ["rejected", "completed"]  # the scheduler's job ran both
    page.click("text=返回名单导入")
    assert "2019届.csv" in page.inner_text("#import-jobs")
