"""The console's Alumni pages: search, a person (masked until revealed; data-subject requests), duplicates and
merges.

Each view is guarded by ``require(permission)`` (``alumni.view``, ``alumni.reveal``, ``alumni.manage``,
``alumni.subject``), parses its form or query, calls one service of ``services/databank`` and renders a template;
the rules (what is masked for whom, what is audited, what may be merged, undone, corrected or erased) live in the
services. A reader without ``alumni.reveal`` (the viewer) gets every name masked and no reveal control. Revealing a
contact is a POST with a reason: from htmx (``HX-Request``) the answer is that contact's cell alone, otherwise the
whole page. A refusal by a service is the page's message with the service's status; a malformed query or form is a
400, never a 500. Restrict, lift, anonymise and delete each need the person's id typed as confirmation.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from admin.blueprint import bp
from admin.context import keyring, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id, whole_number
from core import texts
from core.errors import NotFound, ValidationFailed, XiaoyouError
from models.databank import SOURCES
from models.person import LEVELS
from services import staff as staff_service
from services.databank import dossier, merge, privacy

T = texts.CONSOLE
DUPLICATES_LIMIT = 50
FILTERS = ("q", "year", "college", "major", "class", "city")
EDUCATION_FIELD = re.compile(r"^edu-(\d{1,18})-([a-z_]{1,16})$")


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _clear() -> bool:
    """Whether this reader sees names in clear (else ``keys.mask``): the reveal permission decides."""
    return _may("alumni.reveal")


def _page_size() -> int:
    return runtime().settings.admin.audit_page_size


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


@bp.context_processor
def _alumni_names() -> dict[str, Any]:
    return {"beijing": beijing, "SOURCES": SOURCES, "LEVELS": LEVELS}


# --- search -----------------------------------------------------------------------------------------------------


def _search_query(args: Any) -> dict[str, Any]:
    """The service's filters from the query string; ``ValidationFailed`` (400) for a malformed year or page."""
    year_text, page_text = args.get("year", "").strip(), args.get("page", "").strip()
    year = whole_number(year_text, at_least=1900, at_most=2100) if year_text else None
    page = record_id(page_text) if page_text else 1
    if year_text and year is None:
        raise ValidationFailed(f"year {year_text[:20]!r}", user_message=T["alumni_bad_year"])
    if page is None:
        raise ValidationFailed(f"page {page_text[:20]!r}", user_message=T["alumni_bad_page"])
    return {
        "q": args.get("q", "").strip()[:64],
        "year": year,
        "college": args.get("college", "").strip()[:64] or None,
        "major": args.get("major", "").strip()[:64] or None,
        "class_name": args.get("class", "").strip()[:64] or None,
        "city": args.get("city", "").strip()[:64] or None,
        "page": page,
    }


def _search_notice() -> str | None:
    deleted = record_id(request.args.get("deleted", ""))
    return T["alumni_deleted_ok"].format(id=deleted) if deleted is not None else None


@bp.get("/alumni")
@require("alumni.view")
def alumni_search() -> Page:
    filters = {k: request.args.get(k, "")[:64] for k in FILTERS}
    clear = _clear()
    context: dict[str, Any] = {"filters": filters, "found": None, "more": None, "back": None, "error": None}
    context.update(notice=_search_notice(), can_reveal=clear)
    if not any(v.strip() for v in filters.values()) and not request.args.get("page"):
        return render_template("admin/alumni_search.html", **context)  # the empty form
    rt = runtime()
    try:
        query = _search_query(request.args)
        with rt.db.session() as session:
            found = dossier.find(
                session,
                rt.settings.databank,
                clear=clear,
                per_page=_page_size(),
                include_restricted=_may("alumni.manage"),  # to find them is how a request to lift it is served
                **query,
            )
    except ValidationFailed as exc:
        return render_template("admin/alumni_search.html", **{**context, "error": exc.user_message}), exc.status
    links: dict[str, Any] = {k: v for k, v in filters.items() if v}
    context["found"] = found
    context["more"] = url_for("admin.alumni_search", **links, page=found.page + 1) if found.has_next else None
    context["back"] = url_for("admin.alumni_search", **links, page=found.page - 1) if found.page > 1 else None
    return render_template("admin/alumni_search.html", **context)


# --- a person ---------------------------------------------------------------------------------------------------

PERSON_NOTICES = {
    "corrected": "alumni_corrected_ok",
    "restricted": "alumni_restricted_ok",
    "unrestricted": "alumni_unrestricted_ok",
    "anonymised": "alumni_anonymised_ok",
}


def _person_page(
    person_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    revealed: dict[int, str] | None = None,
    audit_view: bool = True,
) -> Page:
    """The person's page; opening it is audited (``person.view``) unless the caller audited the read itself."""
    rt = runtime()
    with rt.db.session(write=audit_view) as session:
        record = dossier.open_person(
            session,
            keyring(),
            person_id,
            actor=current_staff().actor,
            clear=_clear(),
            history_limit=_page_size() if _may("audit.view") else None,
            undo_days=rt.settings.databank.merge_undo_days,
            audit_view=audit_view,
        )
    notice_key = PERSON_NOTICES.get(request.args.get("done", "")) if request.method == "GET" else None
    page = render_template(
        "admin/alumni_person.html",
        record=record,
        person=record.view,
        revealed=revealed or {},
        can_reveal=_may("alumni.reveal"),
        can_manage=_may("alumni.manage"),
        can_subject=_may("alumni.subject"),
        error=error,
        notice=T[notice_key] if notice_key else None,
    )
    return _with_status(page, status)


@bp.get("/alumni/<int:person_id>")
@require("alumni.view")
def alumni_person(person_id: int) -> Page:
    return _person_page(person_id)


def _contact_cell(person_id: int, contact_id: int, *, value: str | None = None, error: str | None = None) -> str:
    """One contact's cell (the htmx answer to a reveal): its clear ``value`` when revealed, else masked."""
    with runtime().db.session() as session:
        contact = privacy.contact_view(session, keyring(), contact_id, person_id=person_id)
    revealed = {contact_id: value} if value is not None else {}
    return render_template(
        "admin/alumni_contact.html",
        person_id=person_id,
        contact=contact,
        revealed=revealed,
        can_reveal=True,
        error=error,
    )


@bp.post("/alumni/<int:person_id>/contacts/<int:contact_id>/reveal")
@require("alumni.reveal")
def alumni_reveal(person_id: int, contact_id: int) -> Page:
    """One contact's clear value (the service audits it, with the reason), in its cell or on the whole page."""
    reason = request.form.get("reason", "")[:200]
    htmx = request.headers.get("HX-Request") == "true"
    try:
        with runtime().db.session(write=True) as session:
            value = privacy.reveal_contact(
                session, keyring(), contact_id, actor=current_staff().actor, reason=reason, person_id=person_id
            )
    except ValidationFailed as exc:
        if htmx:
            return _contact_cell(person_id, contact_id, error=exc.user_message), exc.status
        return _person_page(person_id, error=exc.user_message, status=exc.status, audit_view=False)
    if htmx:
        return _contact_cell(person_id, contact_id, value=value)
    # The reveal is the audited read of this response: the page around it is not audited again.
    return _person_page(person_id, revealed={contact_id: value}, audit_view=False)


# --- data-subject requests --------------------------------------------------------------------------------------


def _confirmed(person_id: int) -> None:
    """An action that needs the person's id typed as confirmation: ``ValidationFailed`` (400) unless it was."""
    if request.form.get("confirm", "").strip() != str(person_id):
        raise ValidationFailed("confirmation did not match", user_message=T["alumni_confirm_mismatch"])


def _subject_action(person_id: int, done: str, act: Any, *, confirm: bool = True) -> Page:
    """Run ``act(session, actor)`` in one unit of work; then back to the person's page (a refusal: on it)."""
    try:
        if confirm:
            _confirmed(person_id)
        with runtime().db.session(write=True) as session:
            act(session, current_staff().actor)
    except NotFound:
        raise
    except XiaoyouError as exc:
        return _person_page(person_id, error=exc.user_message, status=exc.status)
    if done == "deleted":
        return redirect(url_for("admin.alumni_search", deleted=person_id))
    return redirect(url_for("admin.alumni_person", person_id=person_id, done=done))


@bp.post("/alumni/<int:person_id>/export")
@require("alumni.subject")
def alumni_export(person_id: int) -> Response:
    """Everything held about the person as a JSON download (the service audits the export)."""
    with runtime().db.session(write=True) as session:
        document = privacy.subject_export_document(session, keyring(), person_id, actor=current_staff().actor)
    response = Response(document.encode("utf-8"), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="person-{person_id}.json"'
    return response


def _corrections(form: Any) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """The correction form as text, by field: the person's, and each education record's (``edu-<id>-<field>``)."""
    person = {f: form[f] for f in privacy.PERSON_CORRECTABLE if f in form}
    education: dict[int, dict[str, str]] = {}
    for key in list(form.keys())[:200]:
        found = EDUCATION_FIELD.match(key)
        if found and found.group(2) in privacy.EDUCATION_CORRECTABLE:
            education.setdefault(int(found.group(1)), {})[found.group(2)] = form[key]
    return person, education


@bp.post("/alumni/<int:person_id>/correct")
@require("alumni.manage")
def alumni_correct(person_id: int) -> Page:
    person, education = _corrections(request.form)
    source = request.form.get("source", "self_reported")
    return _subject_action(
        person_id,
        "corrected",
        lambda session, actor: privacy.correct_from_text(
            session, person_id, actor=actor, person=person, education=education, source=source, blank_keeps=True
        ),
        confirm=False,
    )


@bp.post("/alumni/<int:person_id>/restrict")
@require("alumni.manage")
def alumni_restrict(person_id: int) -> Page:
    return _subject_action(
        person_id,
        "restricted",
        lambda session, actor: privacy.restrict(session, person_id, restricted=True, actor=actor),
    )


@bp.post("/alumni/<int:person_id>/unrestrict")
@require("alumni.manage")
def alumni_unrestrict(person_id: int) -> Page:
    return _subject_action(
        person_id,
        "unrestricted",
        lambda session, actor: privacy.restrict(session, person_id, restricted=False, actor=actor),
    )


@bp.post("/alumni/<int:person_id>/anonymise")
@require("alumni.subject")
def alumni_anonymise(person_id: int) -> Page:
    return _subject_action(
        person_id,
        "anonymised",
        lambda session, actor: privacy.anonymise(session, keyring(), person_id, actor=actor),
    )


@bp.post("/alumni/<int:person_id>/delete")
@require("alumni.subject")
def alumni_delete(person_id: int) -> Page:
    return _subject_action(
        person_id, "deleted", lambda session, actor: privacy.delete_person(session, person_id, actor=actor)
    )


# --- duplicates and merges --------------------------------------------------------------------------------------


def _duplicates_notice() -> str | None:
    done, merge_id = request.args.get("done", ""), record_id(request.args.get("merge", ""))
    if done not in ("merged", "unmerged") or merge_id is None:
        return None
    days = runtime().settings.databank.merge_undo_days
    return T[f"alumni_{done}_ok"].format(id=merge_id, days=days)


def _duplicates_page(*, error: str | None = None, status: int = 200) -> Page:
    rt = runtime()
    undo_days = rt.settings.databank.merge_undo_days
    with rt.db.session() as session:
        found = dossier.duplicates(session, clear=_clear(), limit=DUPLICATES_LIMIT, undo_days=undo_days)
    page = render_template(
        "admin/alumni_duplicates.html",
        found=found,
        can_manage=_may("alumni.manage"),
        undo_days=undo_days,
        notice=_duplicates_notice() if error is None else None,
        error=error,
    )
    return _with_status(page, status)


@bp.get("/alumni/duplicates")
@require("alumni.view")
def alumni_duplicates() -> Page:
    return _duplicates_page()


@bp.get("/alumni/compare/<int:first_id>/<int:second_id>")
@require("alumni.view")
def alumni_compare(first_id: int, second_id: int) -> Page:
    """Two people side by side (each read audited), and for a manager the merge form."""
    with runtime().db.session(write=True) as session:
        first, second, reasons = dossier.compare(
            session, keyring(), first_id, second_id, actor=current_staff().actor, clear=_clear()
        )
    return render_template(
        "admin/alumni_compare.html",
        first=first,
        second=second,
        reasons=reasons,
        can_manage=_may("alumni.manage"),
        undo_days=runtime().settings.databank.merge_undo_days,
    )


def _form_id(name: str) -> int:
    found = record_id(request.form.get(name, ""))
    if found is None:
        raise ValidationFailed(f"{name}: not an id", user_message=T["alumni_merge_choose"])
    return found


@bp.post("/alumni/merge")
@require("alumni.manage")
def alumni_merge() -> Page:
    """Fold one of a pair into the other, the one the officer chose to keep; the form must be confirmed."""
    try:
        first, second, keep = _form_id("first_id"), _form_id("second_id"), _form_id("keep_id")
        if keep not in (first, second):
            raise ValidationFailed("keep is neither of the pair", user_message=T["alumni_merge_choose"])
        if request.form.get("confirm") != "yes":
            raise ValidationFailed("merge not confirmed", user_message=T["alumni_merge_unconfirmed"])
        other = second if keep == first else first
        with runtime().db.session(write=True) as session:
            merge_id = merge.merge(session, keep, other, actor=current_staff().actor).id
    except XiaoyouError as exc:
        return _duplicates_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.alumni_duplicates", done="merged", merge=merge_id))


@bp.post("/alumni/merges/<int:merge_id>/undo")
@require("alumni.manage")
def alumni_unmerge(merge_id: int) -> Page:
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            merge.undo_merge(
                session, merge_id, actor=current_staff().actor, undo_days=rt.settings.databank.merge_undo_days
            )
    except XiaoyouError as exc:
        return _duplicates_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.alumni_duplicates", done="unmerged", merge=merge_id))
