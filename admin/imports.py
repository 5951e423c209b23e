"""The console's roster imports: the upload form and the recent jobs and batches, one job's progress (a fragment htmx
polls every second until the job is done) and outcome, cancelling a queued job, the error report as .xlsx, and a
batch's rollback. The page also lists recent correction batches, which roll back the same way.

Each view is guarded by ``require(permission)`` (``imports.view``; ``imports.run`` to upload, download a report or
roll back), parses its form and calls ``services.databank.import_jobs``. The import never runs in the request: the
upload is checked, stored and queued, and the scheduler process (``python -m jobs``, ``databank.imports``) runs it.

An upload bigger than ``databank.upload_max_bytes`` is refused before its body is read: the upload route's body cap
is set by a hook that runs ahead of the blueprint's CSRF check (which parses the form), so werkzeug answers 413.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import whole_number
from core import texts
from core.app import size_text
from core.errors import Conflict, ValidationFailed
from models.databank import CORRECTION, SOURCES
from services import staff as staff_service
from services.databank import import_jobs

T = texts.CONSOLE
UPLOAD_ENDPOINT = "admin.import_upload"
FORM_OVERHEAD = 64 * 1024  # the form's other fields and the multipart framing, on top of the file itself


@bp.before_app_request
def _cap_upload_body() -> None:
    """Cap the upload's body before anything parses it (the blueprint's CSRF check reads the form first)."""
    if request.endpoint == UPLOAD_ENDPOINT:
        request.max_content_length = runtime().settings.databank.upload_max_bytes + FORM_OVERHEAD


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    message = T["error_413"]
    if request.endpoint == UPLOAD_ENDPOINT:
        message = T["imports_too_large"].format(limit=size_text(runtime().settings.databank.upload_max_bytes))
    return render_template("admin/error.html", message=message, status=413), 413


def _may_run() -> bool:
    return staff_service.allows(current_staff().roles, "imports.run")


def _names() -> dict[str, Any]:
    return {
        "beijing": beijing,
        "sources": SOURCES,
        "encodings": import_jobs.ENCODINGS,
        "can_run": _may_run(),
    }


def _rollback_notice() -> str | None:
    batch, people, restored, rows = (
        whole_number(request.args.get(k, "")) for k in ("rolled_back", "people", "restored", "rows")
    )
    if batch is None or people is None or restored is None:
        return None
    if request.args.get("kind") == CORRECTION and rows is not None:
        return T["imports_correction_rollback_ok"].format(batch=batch, restored=restored, rows=rows)
    return T["imports_rollback_ok"].format(batch=batch, people=people, restored=restored)


def _imports_page(*, error: str | None = None, form: dict[str, str] | None = None, status: int = 200) -> Page:
    rt = runtime()
    with rt.db.session() as session:
        jobs = import_jobs.recent_jobs(session)
        batches = import_jobs.recent_batches(session)
        corrections = import_jobs.recent_corrections(session)
    page = render_template(
        "admin/imports.html",
        jobs=jobs,
        batches=batches,
        corrections=corrections,
        can_open_person=staff_service.allows(current_staff().roles, "alumni.view"),
        error=error,
        notice=None if error else _rollback_notice(),
        form=form or {"source": "registrar", "encoding": "utf-8-sig"},
        limit=size_text(rt.settings.databank.upload_max_bytes),
        **_names(),
    )
    return (page, status) if status != 200 else page


@bp.get("/imports")
@require("imports.view")
def imports() -> Page:
    return _imports_page()


@bp.post("/imports")
@require("imports.run")
def import_upload() -> Page:
    form = {"source": request.form.get("source", "")[:32], "encoding": request.form.get("encoding", "")[:32]}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _imports_page(error=T["imports_no_file"], form=form, status=400)
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            job_id = import_jobs.submit(
                session,
                rt.settings,
                upload.stream,
                filename=upload.filename,
                source=form["source"],
                encoding=form["encoding"],
                actor=current_staff().actor,
            )
    except ValidationFailed as exc:  # UploadTooLarge too: 413
        return _imports_page(error=exc.user_message, form=form, status=exc.status)
    return redirect(url_for("admin.import_job", job_id=job_id))


def _job_context(job_id: int) -> dict[str, Any]:
    rt = runtime()
    with rt.db.session() as session:
        job = import_jobs.job_status(session, rt.redis, job_id)
        ahead = import_jobs.queued_ahead(session, job_id) if job.status == "queued" else 0
    return {"job": job, "ahead": ahead, **_names()}


@bp.get("/imports/<int:job_id>")
@require("imports.view")
def import_job(job_id: int) -> Page:
    return render_template("admin/import_job.html", error=None, **_job_context(job_id))


@bp.get("/imports/<int:job_id>/progress")
@require("imports.view")
def import_progress(job_id: int) -> Page:
    """The progress fragment: it carries htmx's poll while the job runs, and drops it once the job is done."""
    return render_template("admin/import_progress.html", **_job_context(job_id))


@bp.post("/imports/<int:job_id>/cancel")
@require("imports.run")
def import_cancel(job_id: int) -> Page | Redirect:
    """Take a queued job off the queue; one the runner has started is refused with its status (409)."""
    try:
        with runtime().db.session(write=True) as session:
            import_jobs.cancel(session, job_id, actor=current_staff().actor)
    except Conflict as exc:
        return render_template("admin/import_job.html", error=exc.user_message, **_job_context(job_id)), exc.status
    return redirect(url_for("admin.import_job", job_id=job_id))


@bp.get("/imports/batches/<int:batch_id>/errors.xlsx")
@require("imports.run")
def import_errors(batch_id: int) -> Response:
    with runtime().db.session(write=True) as session:
        content, filename = import_jobs.error_report_xlsx(session, batch_id, actor=current_staff().actor)
    response = Response(
        content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", direct_passthrough=True
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Length"] = str(len(content))
    return response


@bp.post("/imports/batches/<int:batch_id>/rollback")
@require("imports.run")
def import_rollback(batch_id: int) -> Page | Redirect:
    confirmed = request.form.get("confirm") == "yes"
    try:
        with runtime().db.session(write=True) as session:
            kind = import_jobs.batch_kind(session, batch_id)
            counts = import_jobs.rollback(session, batch_id, actor=current_staff().actor, confirmed=confirmed)
    except (ValidationFailed, Conflict) as exc:
        return _imports_page(error=exc.user_message, status=exc.status)
    return redirect(
        url_for(
            "admin.imports",
            rolled_back=batch_id,
            kind=kind,
            people=counts["people_deleted"],
            restored=counts["records_restored"],
            rows=counts["rows_deleted"],
        )
    )
