"""The console's knowledge-base pages (issue 12): the list with search, category and state filters and paging; the
add and edit form; enable and disable; the .xlsx import (a refused file or its refused rows shown, row by row) and
export; and the "test a question" box, which shows the matcher's verdict and the scores of the best entries.

Views are guarded by ``require("knowledge.view")`` (list, export, test) or ``require("knowledge.manage")`` (every
change), parse the form or query, and call ``services.inquiries.knowledge`` / ``matcher``. An upload larger than the
import's cap is refused before its body is read (413), like roster imports.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import runtime
from admin.guard import current_staff, require
from admin.pages import Page
from admin.params import whole_number
from core import texts
from core.app import size_text
from core.errors import ValidationFailed
from models.inquiry import CATEGORIES
from services import staff as staff_service
from services.inquiries import knowledge, matcher

T = texts.CONSOLE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORT_ENDPOINT = "admin.knowledge_import"
FORM_OVERHEAD = 64 * 1024
PAGE_SIZE = 50
TEST_MAX_CHARS = 500
STATES = {"": None, "enabled": True, "disabled": False}
NOTICES = {"saved": "knowledge_saved", "enabled": "knowledge_enabled_ok", "disabled": "knowledge_disabled_ok"}


def _actor() -> str:
    return f"staff:{current_staff().username}"


def _may_manage() -> bool:
    return staff_service.allows(current_staff().roles, "knowledge.manage")


@bp.before_app_request
def _cap_knowledge_upload() -> tuple[str, int] | None:
    """Refuse an oversized import before anything parses it (the blueprint's CSRF check reads the form first)."""
    if request.endpoint != IMPORT_ENDPOINT:
        return None
    limit = knowledge.MAX_IMPORT_BYTES + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > limit:
        message = texts.KNOWLEDGE_IMPORT_ERRORS["too_large"].format(limit=size_text(knowledge.MAX_IMPORT_BYTES))
        return render_template("admin/error.html", message=message, status=413), 413
    request.max_content_length = limit
    return None


def _query() -> dict[str, Any]:
    """The list's filters from the query string (``ValidationFailed`` for a value that is not one of them)."""
    category = request.args.get("category", "").strip()
    state = request.args.get("state", "").strip()
    page = whole_number(request.args.get("page", "1").strip() or "1", at_least=1, at_most=100_000)
    if (category and category not in CATEGORIES) or state not in STATES or page is None:
        raise ValidationFailed("bad knowledge query", user_message=T["knowledge_bad_query"])
    return {"q": request.args.get("q", "").strip()[:100], "category": category, "state": state, "page": page}


def _list_page(*, status: int = 200, **extra: Any) -> Page:
    context: dict[str, Any] = {
        "rows": [],
        "more": None,
        "back": None,
        "total": 0,
        "filters": {"q": "", "category": "", "state": "", "page": 1},
        "categories": CATEGORIES,
        "names": texts.INQUIRY_CATEGORY_NAMES,
        "may_manage": _may_manage(),
        "error": None,
        "notice": T.get(NOTICES.get(request.args.get("done", ""), ""), None),
        "import_limit": size_text(knowledge.MAX_IMPORT_BYTES),
        "import_rows": knowledge.MAX_IMPORT_ROWS,
        "problems": [],
        "test_text": "",
        "verdict": None,
        "best": [],
        "thresholds": runtime().settings.inquiries,
    }
    context.update(extra)
    try:
        filters = _query()
    except ValidationFailed as exc:
        context["error"] = exc.user_message
        return render_template("knowledge/list.html", **context), exc.status
    offset = (filters["page"] - 1) * PAGE_SIZE
    with runtime().db.session() as session:
        rows, more, total = knowledge.search(
            session,
            text=filters["q"],
            category=filters["category"] or None,
            enabled=STATES[filters["state"]],
            offset=offset,
            limit=PAGE_SIZE,
        )
    links = {k: v for k, v in filters.items() if v and k != "page"}
    context.update(
        rows=rows,
        total=total,
        filters=filters,
        more=url_for("admin.knowledge_list", **links, page=filters["page"] + 1) if more else None,
        back=url_for("admin.knowledge_list", **links, page=filters["page"] - 1) if filters["page"] > 1 else None,
    )
    return (
        (render_template("knowledge/list.html", **context), status)
        if status != 200
        else render_template("knowledge/list.html", **context)
    )


@bp.get("/knowledge")
@require("knowledge.view")
def knowledge_list() -> Page:
    return _list_page()


# --- add and edit -------------------------------------------------------------------------------------------------


def _form_page(entry_id: int | None, values: dict[str, Any], *, errors: dict[str, str] | None = None,
               status: int = 200) -> Page:  # fmt: skip
    page = render_template(
        "knowledge/form.html",
        entry_id=entry_id,
        values=values,
        errors=errors or {},
        categories=CATEGORIES,
        names=texts.INQUIRY_CATEGORY_NAMES,
        limits={"question": knowledge.QUESTION_MAX_CHARS, "answer": knowledge.ANSWER_MAX_CHARS},
    )
    return (page, status) if status != 200 else page


def _draft() -> knowledge.Draft:
    form = request.form
    return knowledge.Draft(
        question=form.get("question", ""),
        answer=form.get("answer", ""),
        keywords=form.get("keywords", ""),
        category=form.get("category", ""),
        enabled=form.get("enabled") == "1",
    )


def _values(draft: knowledge.Draft) -> dict[str, Any]:
    return {"question": draft.question, "answer": draft.answer, "keywords": draft.keywords,
            "category": draft.category, "enabled": draft.enabled}  # fmt: skip


@bp.get("/knowledge/new")
@require("knowledge.manage")
def knowledge_new() -> Page:
    return _form_page(None, {"question": "", "answer": "", "keywords": "", "category": "other", "enabled": True})


@bp.post("/knowledge/new")
@require("knowledge.manage")
def knowledge_create() -> Page | Redirect:
    draft = _draft()
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            knowledge.create(session, rt.redis, draft, actor=_actor())
    except ValidationFailed as exc:
        errors = {p.field or "question": p.message for p in exc.fields}
        return _form_page(None, _values(draft), errors=errors, status=exc.status)
    return redirect(url_for("admin.knowledge_list", done="saved"))


@bp.get("/knowledge/<int:entry_id>")
@require("knowledge.manage")
def knowledge_edit(entry_id: int) -> Page:
    with runtime().db.session() as session:
        entry = knowledge.get(session, entry_id)
        values = {"question": entry.question, "answer": entry.answer, "keywords": entry.keywords,
                  "category": entry.category, "enabled": entry.enabled}  # fmt: skip
    return _form_page(entry_id, values)


@bp.post("/knowledge/<int:entry_id>")
@require("knowledge.manage")
def knowledge_update(entry_id: int) -> Page | Redirect:
    draft = _draft()
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            knowledge.edit(session, rt.redis, entry_id, draft, actor=_actor())
    except ValidationFailed as exc:
        errors = {p.field or "question": p.message for p in exc.fields}
        return _form_page(entry_id, _values(draft), errors=errors, status=exc.status)
    return redirect(url_for("admin.knowledge_list", done="saved"))


@bp.post("/knowledge/<int:entry_id>/enabled")
@require("knowledge.manage")
def knowledge_set_enabled(entry_id: int) -> Redirect:
    enabled = request.form.get("enabled") == "1"
    rt = runtime()
    with rt.db.session(write=True) as session:
        knowledge.set_enabled(session, rt.redis, entry_id, enabled, actor=_actor())
    return redirect(url_for("admin.knowledge_list", done="enabled" if enabled else "disabled"))


# --- import and export --------------------------------------------------------------------------------------------


@bp.post("/knowledge/import")
@require("knowledge.manage")
def knowledge_import() -> Page:
    upload = request.files.get("file")
    data = upload.read(knowledge.MAX_IMPORT_BYTES + 1) if upload is not None else b""
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            done = knowledge.import_xlsx(session, rt.redis, data, actor=_actor())
    except knowledge.RowsRefused as exc:
        return _list_page(status=exc.status, error=exc.user_message, problems=list(exc.problems))
    except ValidationFailed as exc:
        return _list_page(status=exc.status, error=exc.user_message)
    notice = T["knowledge_import_done"].format(created=done.created, updated=done.updated)
    return _list_page(notice=notice)


@bp.get("/knowledge/export.xlsx")
@require("knowledge.view")
def knowledge_export() -> Response:
    out = io.BytesIO()
    with runtime().db.session() as session:
        knowledge.export_xlsx(session, out, actor=_actor())
    content = out.getvalue()
    response = Response(content, mimetype=XLSX, direct_passthrough=True)
    response.headers["Content-Disposition"] = 'attachment; filename="knowledge-base.xlsx"'
    response.headers["Content-Length"] = str(len(content))
    return response


# --- test a question ----------------------------------------------------------------------------------------------


@bp.post("/knowledge/test")
@require("knowledge.view")
def knowledge_test() -> Page:
    text = request.form.get("text", "")
    if len(text) > TEST_MAX_CHARS:
        message = T["knowledge_test_too_long"].format(max_chars=TEST_MAX_CHARS)
        return _list_page(status=400, error=message, test_text=text[:TEST_MAX_CHARS])
    rt = runtime()
    with rt.db.session() as session:
        found = matcher.verdict(session, rt.redis, rt.settings.inquiries, text)
        best = matcher.scores(session, rt.redis, text, limit=5)
    return _list_page(test_text=text, verdict=found, best=best)
