"""The console's roster imports (admin/imports.py): upload, the job's page and its polled progress fragment, the run
by the scheduler's real ``databank.imports`` job, the .xlsx error report, rollback, and who may do what."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from core.settings import Settings
from jobs import JOBS, JobContext
from models import AuditEntry, Employment, ImportJob, Person
from services.databank import contacts
from services.databank.keys import Keyring
from tests.admin.conftest import csrf_token, text
from tests.databank.conftest import ENCRYPTION_KEYS, HMAC_KEYS, row, write_csv

LIMIT = 64 * 1024


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def console_settings(settings_factory: Any, upload_dir: Path) -> Settings:
    settings: Settings = settings_factory(
        privacy={"encryption_keys": ENCRYPTION_KEYS, "hmac_keys": HMAC_KEYS},
        admin={"failures_per_account": 3, "failures_per_ip": 8, "audit_page_size": 10},
        databank={"import_chunk_rows": 3, "upload_dir": str(upload_dir), "upload_max_bytes": LIMIT},
    )
    return settings


def run_scheduler_pass(app: Flask) -> Any:
    """One run of the scheduler's real ``databank.imports`` job, as ``python -m jobs`` runs it."""
    (spec,) = [spec for spec in JOBS if spec.id == "databank.imports"]
    return spec.func(JobContext(app.extensions["xiaoyou"]))


def upload(client: FlaskClient, content: bytes, filename: str, **form: str) -> Any:
    data = {
        "csrf_token": csrf_token(client, "/admin/imports"),
        "source": form.get("source", "registrar"),
        "encoding": form.get("encoding", "utf-8-sig"),
        "file": (io.BytesIO(content), filename),
    }
    return client.post("/admin/imports", data=data, content_type="multipart/form-data")


def form_post(client: FlaskClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf_token(client, "/admin/imports")})


def count(app: Flask, model: Any) -> int:
    with app.extensions["xiaoyou"].db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def good_roster(tmp_path: Path) -> bytes:
    return write_csv(tmp_path / "good.csv", [row(), row("李娜", "2015002"), row("王芳", "2015003")]).read_bytes()


def bad_roster(tmp_path: Path) -> bytes:
    rows = [row(), row("李娜", "2015002", 毕业年份="明年"), row("王芳", "2015001")]
    return write_csv(tmp_path / "bad.csv", rows).read_bytes()


def job_id_of(response: Any) -> int:
    assert response.status_code == 302, text(response)
    found = re.fullmatch(r"/admin/imports/(\d+)", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def test_an_officer_uploads_and_the_scheduler_job_imports_it(
    console_app: Flask, signed_in: Any, tmp_path: Path
) -> None:
    officer, member = signed_in("officer")
    job_id = job_id_of(upload(officer, good_roster(tmp_path), "2019届.csv"))
    page = text(officer.get(f"/admin/imports/{job_id}"))
    assert "2019届.csv" in page and "排队中" in page
    fragment = text(officer.get(f"/admin/imports/{job_id}/progress"))
    assert 'hx-trigger="every 1s"' in fragment and f'hx-get="/admin/imports/{job_id}/progress"' in fragment
    assert count(console_app, Person) == 0  # the request only queued it

    report = run_scheduler_pass(console_app)
    assert (report.ran, report.outcome) == (job_id, "completed")
    fragment = text(officer.get(f"/admin/imports/{job_id}/progress"))
    assert "hx-trigger" not in fragment  # done: the polling stops
    assert 'max="3" value="3"' in fragment and "导入完成：共 3 行，新增 3" in fragment
    assert "撤销此批次" in fragment
    listing = text(officer.get("/admin/imports"))
    assert "2019届.csv" in listing and "已完成" in listing and f"staff:{member.username}" in listing
    assert count(console_app, Person) == 3


def test_a_queued_import_can_be_cancelled_and_the_runner_skips_it(
    console_app: Flask, signed_in: Any, tmp_path: Path
) -> None:
    officer, member = signed_in("officer")
    first = job_id_of(upload(officer, good_roster(tmp_path), "first.csv"))
    second = job_id_of(upload(officer, good_roster(tmp_path), "second.csv"))
    page = text(officer.get(f"/admin/imports/{first}"))
    assert f'action="/admin/imports/{first}/cancel"' in page and "取消此任务" in page
    viewer, _ = signed_in("viewer")
    assert f"/admin/imports/{first}/cancel" not in text(viewer.get(f"/admin/imports/{first}"))
    assert form_post(viewer, f"/admin/imports/{first}/cancel", {}).status_code == 403

    cancelled = form_post(officer, f"/admin/imports/{first}/cancel", {})
    assert cancelled.status_code == 302 and cancelled.headers["Location"] == f"/admin/imports/{first}"
    fragment = text(officer.get(f"/admin/imports/{first}/progress"))
    assert "hx-trigger" not in fragment and "已取消" in fragment and f"staff:{member.username} 取消" in fragment
    report = run_scheduler_pass(console_app)  # the runner passes over it to the next queued job
    assert (report.ran, report.outcome) == (second, "completed")
    assert count(console_app, Person) == 3

    for job_id, status in ((first, "已取消"), (second, "已完成")):  # too late: refused with the status, nothing changes
        refused = form_post(officer, f"/admin/imports/{job_id}/cancel", {})
        assert refused.status_code == 409
        assert f"任务已是“{status}”状态，不能再取消" in text(refused)
    assert form_post(officer, "/admin/imports/999999/cancel", {}).status_code == 404
    with console_app.extensions["xiaoyou"].db.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "import_cancelled")).all()
        assert [(a.actor, a.detail) for a in audited] == [(f"staff:{member.username}", {"job_id": first})]


def test_a_rejected_roster_offers_its_error_report_as_xlsx(console_app: Flask, signed_in: Any, tmp_path: Path) -> None:
    officer, member = signed_in("officer")
    job_id = job_id_of(upload(officer, bad_roster(tmp_path), "bad.csv"))
    assert run_scheduler_pass(console_app).outcome == "rejected"
    fragment = text(officer.get(f"/admin/imports/{job_id}/progress"))
    assert "文件有 2 处错误，整个文件都没有导入" in fragment and "撤销此批次" not in fragment
    link = re.search(r'href="(/admin/imports/batches/(\d+)/errors\.xlsx)"', fragment)
    assert link, fragment
    report = officer.get(link.group(1))
    assert report.status_code == 200 and report.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in report.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(report.data), read_only=True).worksheets[0]
    rows = [[cell.value for cell in r] for r in sheet.iter_rows()]
    assert [r[0] for r in rows[1:]] == ["3", "4"] and "学号 2015001" in rows[2][3]
    with console_app.extensions["xiaoyou"].db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.import_errors")).one()
    assert entry.actor == f"staff:{member.username}" and entry.detail["batch_id"] == int(link.group(2))


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "roster.csv"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00", "roster.xlsx"),
        (b"MZ\x90\x00", "setup.exe"),
    ],
)
def test_a_file_that_is_not_a_spreadsheet_gets_400_and_nothing_is_queued(
    console_app: Flask, signed_in: Any, upload_dir: Path, content: bytes, filename: str
) -> None:
    officer, _ = signed_in("officer")
    response = upload(officer, content, filename)
    assert response.status_code == 400
    assert 'id="imports-error"' in text(response)
    assert count(console_app, ImportJob) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_an_upload_without_a_file_gets_400(signed_in: Any) -> None:
    officer, _ = signed_in("officer")
    response = form_post(officer, "/admin/imports", {"source": "registrar", "encoding": "utf-8-sig"})
    assert response.status_code == 400 and "请选择要上传的名单文件" in text(response)


def test_an_oversized_upload_gets_413_and_nothing_is_stored(
    console_app: Flask, signed_in: Any, upload_dir: Path
) -> None:
    officer, _ = signed_in("officer")
    body_too_big = upload(officer, b"a,b\n" + b"x" * (LIMIT * 3), "big.csv")  # refused before the body is read
    assert body_too_big.status_code == 413
    assert "文件超过 64 KB 的上限" in text(body_too_big) and 'id="error-message"' in text(body_too_big)
    assert body_too_big.headers["Content-Security-Policy"].startswith("default-src 'self'")
    file_too_big = upload(officer, b"a,b\n" + b"x" * LIMIT, "big.csv")  # the body fits its cap, the file does not
    assert file_too_big.status_code == 413 and "文件超过 64 KB 的上限" in text(file_too_big)
    assert count(console_app, ImportJob) == 0
    assert not upload_dir.exists() or list(upload_dir.iterdir()) == []


def test_a_viewer_sees_imports_but_cannot_upload_download_or_roll_back(
    console_app: Flask, signed_in: Any, tmp_path: Path
) -> None:
    officer, _ = signed_in("officer")
    job_id = job_id_of(upload(officer, bad_roster(tmp_path), "bad.csv"))
    run_scheduler_pass(console_app)
    viewer, _ = signed_in("viewer")
    listing = text(viewer.get("/admin/imports"))
    assert "bad.csv" in listing and 'id="import-upload"' not in listing and "errors.xlsx" not in listing
    assert viewer.get(f"/admin/imports/{job_id}").status_code == 200
    refused = upload(viewer, good_roster(tmp_path), "good.csv")
    assert refused.status_code == 403 and "您的角色没有访问此页面的权限" in text(refused)
    with console_app.extensions["xiaoyou"].db.session() as session:
        batch_id = session.scalars(select(ImportJob.batch_id)).one()
    assert viewer.get(f"/admin/imports/batches/{batch_id}/errors.xlsx").status_code == 403
    assert form_post(viewer, f"/admin/imports/batches/{batch_id}/rollback", {"confirm": "yes"}).status_code == 403
    assert count(console_app, ImportJob) == 1


def test_rollback_needs_the_confirmation_and_is_refused_clearly_when_not_allowed(
    console_app: Flask, signed_in: Any, tmp_path: Path
) -> None:
    officer, member = signed_in("officer")
    job_id = job_id_of(upload(officer, good_roster(tmp_path), "good.csv"))
    run_scheduler_pass(console_app)
    with console_app.extensions["xiaoyou"].db.session() as session:
        batch_id = session.scalars(select(ImportJob.batch_id).where(ImportJob.id == job_id)).one()
    url = f"/admin/imports/batches/{batch_id}/rollback"
    unconfirmed = form_post(officer, url, {})
    assert unconfirmed.status_code == 400 and "请先勾选确认" in text(unconfirmed)
    assert count(console_app, Person) == 3
    done = form_post(officer, url, {"confirm": "yes"})
    assert done.status_code == 302
    notice = text(officer.get(done.headers["Location"]))
    assert f"批次 {batch_id} 已撤销：删除 3 位校友" in notice
    assert count(console_app, Person) == 0
    with console_app.extensions["xiaoyou"].db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.rollback")).one()
    assert entry.actor == f"staff:{member.username}"
    again = form_post(officer, url, {"confirm": "yes"})
    assert again.status_code == 409 and "只有已完成的导入或更正可以撤销" in text(again)
    assert "此批次已于" in text(officer.get(f"/admin/imports/{job_id}/progress"))
    assert form_post(officer, "/admin/imports/batches/999999/rollback", {"confirm": "yes"}).status_code == 404
    assert officer.get("/admin/imports/999999").status_code == 404


def test_a_correction_is_listed_and_rolled_back_like_an_import(
    console_app: Flask, signed_in: Any, tmp_path: Path
) -> None:
    officer, member = signed_in("officer")
    job_id_of(upload(officer, write_csv(tmp_path / "r.csv", [row(工作单位="腾讯")]).read_bytes(), "r.csv"))
    run_scheduler_pass(console_app)
    rt = console_app.extensions["xiaoyou"]
    keyring = Keyring.from_settings(rt.settings.privacy)
    with rt.db.session(write=True) as session:
        person_id = session.scalars(select(Person.id)).one()
        wrong, later = (
            contacts.apply(
                session,
                keyring,
                person_id,
                kind=kind,
                value=value,
                source="liaison",
                actor="liaison:王老师",
                label=label,
            )
            for kind, value, label in (("employer", "华为", "report 1"), ("city", "北京", "report 2"))
        )
    listing = text(officer.get("/admin/imports"))
    corrections = listing.split('id="correction-batches"')[1]
    assert f'id="batch-{wrong}"' in corrections and "report 1" in corrections and "联络人提供" in corrections
    assert f'href="/admin/alumni/{person_id}"' in corrections
    assert "删除它新增的联系方式或工作记录" in corrections and f"/admin/imports/batches/{wrong}/rollback" in corrections

    viewer, _ = signed_in("viewer")
    assert "/rollback" not in text(viewer.get("/admin/imports")).split('id="correction-batches"')[1]
    url = f"/admin/imports/batches/{wrong}/rollback"
    assert form_post(viewer, url, {"confirm": "yes"}).status_code == 403
    unconfirmed = form_post(officer, url, {})
    assert unconfirmed.status_code == 400 and "请先勾选确认" in text(unconfirmed)
    refused = form_post(officer, url, {"confirm": "yes"})  # the later correction changed the same employment
    assert refused.status_code == 409 and "之后的导入、更正、合并或绑定用到了这一批次的数据" in text(refused)

    for batch_id in (later, wrong):
        done = form_post(officer, f"/admin/imports/batches/{batch_id}/rollback", {"confirm": "yes"})
        assert done.status_code == 302, text(done)
        notice = text(officer.get(done.headers["Location"]))
        assert f"更正批次 {batch_id} 已撤销：恢复 1 条记录，删除 0 条新增记录。" in notice
    with rt.db.session() as session:
        job = session.scalars(select(Employment)).one()
        assert (job.employer, job.city, job.provenance) == ("腾讯", None, {})
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "databank.rollback")).all()
        assert [(e.actor, e.person_id, e.detail["kind"]) for e in entries] == [
            (f"staff:{member.username}", person_id, "correction")
        ] * 2
    again = form_post(officer, url, {"confirm": "yes"})
    assert again.status_code == 409 and "已撤销" in text(again)


def test_the_imports_pages_carry_no_inline_script_or_style(console_app: Flask, signed_in: Any, tmp_path: Path) -> None:
    admin, _ = signed_in("admin")
    job_id = job_id_of(upload(admin, good_roster(tmp_path), "good.csv"))
    for url in ("/admin/imports", f"/admin/imports/{job_id}", f"/admin/imports/{job_id}/progress"):
        page = text(admin.get(url))
        assert "<script>" not in page and "style=" not in page and " on" + "click=" not in page
    assert 'href="/admin/imports"' in text(admin.get("/admin/"))
