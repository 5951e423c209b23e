"""The console's class-group pages (issue 11's liaison tools), every one within the caller's scope: the coverage
overview (sorted, paged, cohorts without a liaison, an .xlsx export), a cohort (its numbers, its group and join QR
image, its liaisons, its invite QR, nominations with their evidence as audited downloads), its roster (names masked
unless revealed with a reason, audited; vouching for a member), contact-change reports, and card applications waiting
for a liaison's vouch.

Each view is guarded by ``require(permission)`` (``classes.view``, ``classes.manage``, ``classes.reveal``,
``classes.appoint``), parses its form or query, and calls ``services.classes``. The scope is
``services.classes.liaisons.scope`` of the signed-in account: None for an office role, a class liaison's appointed
cohorts otherwise; a cohort, membership, report or application outside it is a 404 exactly as one that does not
exist. A QR or evidence upload bigger than its limit is refused before its body is read (413), like roster imports.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import segno
from flask import Response, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as Redirect

from admin.blueprint import bp
from admin.context import gateway, keyring, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id, whole_number
from core import texts
from core.app import size_text
from core.errors import NotFound, ValidationFailed, WeChatAPIError, WeChatUnavailable, XiaoyouError
from models import ClassCohort
from services import staff as staff_service
from services.classes import (
    cohorts,
    coverage,
    export,
    groups,
    invites,
    liaisons,
    membership,
    nominations,
    reports,
    vouching,
)
from services.databank import audit
from services.databank.keys import mask
from services.staff.accounts import account_by_username
from services.staff.policy import SCOPED_ROLES

T = texts.CONSOLE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}  # evidence, by its sniffed type
FORM_OVERHEAD = 64 * 1024  # the form's other fields and the multipart framing, on top of the files
GROUP_ENDPOINT, NOMINATE_ENDPOINT = "admin.class_group_register", "admin.class_nominate"
EXPORT_COLUMNS = ("classes_id", "classes_cohort", "classes_roster", "classes_joined", "classes_verified",
                  "classes_percent", "classes_liaison")  # fmt: skip


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _scope(session: Session) -> frozenset[int] | None:
    me = current_staff()
    return liaisons.scope(session, me.id, me.roles)


def _cohort(session: Session, cohort_id: int) -> tuple[ClassCohort, frozenset[int] | None]:
    """The cohort within the caller's scope (``NotFound`` otherwise), and the scope."""
    scope = _scope(session)
    liaisons.ensure_in_scope(cohort_id, scope)
    cohort = session.get(ClassCohort, cohort_id)
    if cohort is None:
        raise NotFound(f"no cohort {cohort_id}")
    return cohort, scope


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


def _page_size() -> int:
    return runtime().settings.admin.audit_page_size


def _upload_limit(endpoint: str | None) -> int | None:
    settings = runtime().settings
    if endpoint == GROUP_ENDPOINT:
        return settings.classes.qr_max_bytes
    if endpoint == NOMINATE_ENDPOINT:
        return settings.card.evidence_max_bytes * settings.card.evidence_max_files
    return None


def _too_large(limit: int) -> tuple[str, int]:
    message = T["classes_too_large"].format(limit=size_text(limit))
    return render_template("admin/error.html", message=message, status=413), 413


@bp.before_app_request
def _cap_upload_body() -> tuple[str, int] | None:
    """Refuse an oversized upload before anything parses it (the blueprint's CSRF check reads the form first)."""
    limit = _upload_limit(request.endpoint)
    if limit is None:
        return None
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        return _too_large(limit)
    request.max_content_length = limit + FORM_OVERHEAD  # a body without a length: werkzeug stops it at the cap
    return None


@bp.context_processor
def _class_names() -> dict[str, Any]:
    return {"PLATFORMS": texts.CLASS_GROUP_PLATFORMS, "KIND_NAMES": texts.CONTACT_CHANGE_KINDS}


def my_cohorts() -> list[coverage.Coverage]:
    """A class liaison's own cohorts with their numbers (the home page links them); none for an office role."""
    with runtime().db.session() as session:
        scope = _scope(session)
        if scope is None:
            return []
        rows, _more = coverage.overview(session, cohorts=scope, sort="label", limit=_page_size())
    return rows


# --- the coverage overview --------------------------------------------------------------------------------------


def _overview_query() -> tuple[str, bool, int]:
    sort = request.args.get("sort", "coverage")
    page = whole_number(request.args.get("page", "1").strip() or "1", at_least=1, at_most=100_000)
    if sort not in coverage.SORTS or page is None:
        raise ValidationFailed("bad coverage query", user_message=T["classes_bad_query"])
    return sort, request.args.get("without_liaison") == "1", page


@bp.get("/classes")
@require("classes.view")
def classes_coverage() -> Page:
    context: dict[str, Any] = {"sorts": coverage.SORTS, "rows": [], "more": None, "back": None}
    try:
        sort, orphans, page = _overview_query()
    except ValidationFailed as exc:
        context.update(sort="coverage", orphans=False, error=exc.user_message, scoped=False)
        return render_template("admin/classes_coverage.html", **context), exc.status
    size = _page_size()
    with runtime().db.session() as session:
        scope = _scope(session)
        rows, more = coverage.overview(
            session, cohorts=scope, sort=sort, without_liaison=orphans, offset=(page - 1) * size, limit=size
        )
    links: dict[str, Any] = {"sort": sort, **({"without_liaison": 1} if orphans else {})}
    context.update(
        rows=rows,
        sort=sort,
        orphans=orphans,
        error=None,
        scoped=scope is not None,
        more=url_for("admin.classes_coverage", **links, page=page + 1) if more else None,
        back=url_for("admin.classes_coverage", **links, page=page - 1) if page > 1 else None,
    )
    return render_template("admin/classes_coverage.html", **context)


@bp.get("/classes/export.xlsx")
@require("classes.view")
def classes_export() -> Response:
    header = [T[k] for k in EXPORT_COLUMNS]
    out = io.BytesIO()
    with runtime().db.session() as session:
        export.coverage_xlsx(
            session, out, cohorts=_scope(session), header=header, liaison_words=(T["classes_yes"], T["classes_no"])
        )
    content = out.getvalue()
    response = Response(content, mimetype=XLSX, direct_passthrough=True)
    response.headers["Content-Disposition"] = 'attachment; filename="class-coverage.xlsx"'
    response.headers["Content-Length"] = str(len(content))
    return response


# --- a cohort ---------------------------------------------------------------------------------------------------


def _cohort_page(cohort_id: int, *, error: str | None = None, status: int = 200, notice: str | None = None) -> Page:
    rt = runtime()
    now = datetime.now(UTC)
    with rt.db.session() as session:
        cohort, scope = _cohort(session, cohort_id)
        numbers = coverage.of_cohort(session, cohort_id)
        group = groups.current(session, cohort_id)
        serving = liaisons.current(session, cohort_id)
        nominated = nominations.list(session, cohort_id, cohorts=scope)
        waiting, _more = reports.pending(session, keyring(), cohorts=frozenset({cohort_id}), limit=1)
        context: dict[str, Any] = {
            "cohort": cohort,
            "numbers": numbers or coverage.Coverage(cohort.id, cohort.label, cohort.roster_size, 0, 0, bool(serving)),
            "group": group,
            "group_qr": url_for("admin.class_group_qr", cohort_id=cohort_id) if group and group.qr_image else None,
            "group_usable": groups.usable_qr(group, now),
            "expiring": bool(
                group
                and group.qr_expires_at
                and now < group.qr_expires_at <= now + timedelta(days=rt.settings.classes.reminder_days_before)
            ),
            "liaisons": serving,
            "nominations": nominated,
            "has_reports": bool(waiting),
        }
    invite = (
        Markup(segno.make(cohort.invite_url, error="m").svg_inline(scale=4))  # noqa: S704 - segno draws paths only
        if cohort.invite_url
        else None
    )
    done = request.args.get("done", "") if request.method == "GET" else ""
    page = render_template(
        "admin/classes_cohort.html",
        invite=invite,
        error=error,
        notice=notice or T.get(f"classes_done_{done}"),
        can_manage=_may("classes.manage"),
        can_appoint=_may("classes.appoint"),
        can_reveal=_may("classes.reveal"),
        beijing=beijing,
        size_text=size_text,
        limit=size_text(rt.settings.classes.qr_max_bytes),
        **context,
    )
    return _with_status(page, status)


@bp.get("/classes/<int:cohort_id>")
@require("classes.view")
def class_cohort(cohort_id: int) -> Page:
    return _cohort_page(cohort_id)


@bp.get("/classes/<int:cohort_id>/group/qr")
@require("classes.view")
def class_group_qr(cohort_id: int) -> Response:
    """The current group's join QR image as registered, expired or not (the page says which), for the cohort page's
    <img>; a 404 outside the caller's scope or without one."""
    with runtime().db.session() as session:
        _cohort(session, cohort_id)
        image, media_type = groups.qr_image(session, cohort_id)
    response = Response(image, mimetype=media_type)
    response.headers["Cache-Control"] = "private, no-store"  # replaced within 7 days; a liaison's cohort only
    response.headers["Content-Length"] = str(len(image))
    return response


def _day(value: str, field: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{field}: not a date", user_message=T["classes_bad_date"]) from None


def _count(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    count = whole_number(value, at_most=999_999_999)
    if count is None:
        raise ValidationFailed("not a count", user_message=T["classes_bad_count"])
    return count


Act = Callable[[Session, frozenset[int] | None], Page | None]


def _act_on_cohort(cohort_id: int, act: Act, *, done: str, refused: type[XiaoyouError] = XiaoyouError) -> Page:
    """A cohort form's POST: ``act(session, scope)`` in one write unit on a cohort within the caller's scope, then
    back to the cohort page with the ``done`` notice. ``act`` may return a response to send instead (nothing it did
    is kept only if it raised). A ``refused`` error re-renders the cohort page with its message and status; a
    cohort that does not exist or is outside the scope stays a 404."""
    try:
        with runtime().db.session(write=True) as session:
            _, scope = _cohort(session, cohort_id)
            instead = act(session, scope)
            if instead is not None:
                return instead
    except NotFound:
        raise
    except refused as exc:
        return _cohort_page(cohort_id, error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.class_cohort", cohort_id=cohort_id, done=done))


@bp.post("/classes/<int:cohort_id>/group")
@require("classes.manage")
def class_group_register(cohort_id: int) -> Page:
    settings = runtime().settings.classes
    upload = request.files.get("qr")
    content = upload.read(settings.qr_max_bytes + 1) if upload is not None else b""

    def act(session: Session, _scope: frozenset[int] | None) -> Page | None:
        if len(content) > settings.qr_max_bytes:
            return _too_large(settings.qr_max_bytes)
        expires = _day(request.form.get("expires", ""), "expires")
        groups.register(
            session,
            cohort_id,
            settings=settings,
            platform=request.form.get("platform", "wechat")[:8],
            name=request.form.get("name", "")[:200],
            owner=request.form.get("owner", "")[:200],
            qr=content,
            # the end of that day in Beijing (16:00 UTC), as the CLI reads it
            expires_at=datetime.combine(expires, day_time(16), UTC) if expires else None,
            member_count=_count(request.form.get("members", "")),
            actor=current_staff().actor,
        )
        return None

    return _act_on_cohort(cohort_id, act, done="group", refused=ValidationFailed)


@bp.post("/classes/<int:cohort_id>/invite")
@require("classes.manage")
def class_invite(cohort_id: int) -> Page:
    rt = runtime()
    try:
        with rt.db.session(write=True) as session:
            _cohort(session, cohort_id)
            invites.invite_url(session, gateway().official, cohort_id)
    except WeChatUnavailable:
        return _cohort_page(cohort_id, error=T["classes_wechat_unreachable"], status=503)
    except WeChatAPIError as exc:
        message = T["classes_wechat_refused"].format(errcode=exc.errcode, errmsg=exc.errmsg)
        return _cohort_page(cohort_id, error=message, status=502)
    return redirect(url_for("admin.class_cohort", cohort_id=cohort_id, done="invite"))


@bp.post("/classes/<int:cohort_id>/liaisons")
@require("classes.appoint")
def class_appoint(cohort_id: int) -> Page:
    form = request.form

    def act(session: Session, _scope: frozenset[int] | None) -> None:
        username = form.get("staff", "").strip()[:64]
        account = account_by_username(session, username) if username else None
        if username and account is None:
            raise ValidationFailed("no such account", user_message=T["classes_no_account"])
        start = _day(form.get("term_start", ""), "term_start") or datetime.now(UTC).date()
        liaisons.appoint(
            session,
            keyring(),
            cohort_id,
            name=form.get("name", "")[:200],
            role=form.get("role", "primary")[:8],
            term_start=start,
            term_end=_day(form.get("term_end", ""), "term_end"),
            letter_date=_day(form.get("letter_date", ""), "letter_date"),
            language=form.get("language", "zh")[:2],
            contact=form.get("contact", "")[:200],
            staff_account_id=account.id if account else None,
            actor=current_staff().actor,
        )

    return _act_on_cohort(cohort_id, act, done="appointed")


@bp.post("/classes/<int:cohort_id>/edit")
@require("classes.appoint")
def class_edit(cohort_id: int) -> Page:
    form = request.form

    def act(session: Session, _scope: frozenset[int] | None) -> None:
        year_text = form.get("grad_year", "").strip()
        grad_year = whole_number(year_text) if year_text else None
        if year_text and grad_year is None:
            raise ValidationFailed("grad_year", user_message=texts.COHORT_EDIT_ERRORS["grad_year"])
        cohorts.edit(
            session,
            cohort_id,
            label=form.get("label", "")[:400],
            major=form.get("major", "")[:200],
            class_name=form.get("class_name", "")[:200],
            grad_year=grad_year,
            actor=current_staff().actor,
        )

    return _act_on_cohort(cohort_id, act, done="edited")


@bp.post("/classes/liaisons/<int:liaison_id>/end")
@require("classes.appoint")
def class_liaison_end(liaison_id: int) -> Redirect:
    with runtime().db.session(write=True) as session:
        ended = liaisons.end(session, liaison_id, actor=current_staff().actor)
        cohort_id = ended.cohort_id
    return redirect(url_for("admin.class_cohort", cohort_id=cohort_id, done="ended"))


@bp.post("/classes/<int:cohort_id>/nominations")
@require("classes.manage")
def class_nominate(cohort_id: int) -> Page:
    card = runtime().settings.card
    files = [f for f in request.files.getlist("evidence")[: card.evidence_max_files + 1] if f.filename]
    person = request.form.get("person_id", "").strip()

    def act(session: Session, scope: frozenset[int] | None) -> None:
        person_id = record_id(person)
        if person_id is None:
            raise ValidationFailed("no person", user_message=texts.CLASS_NOMINATION_ERRORS["person"])
        nominations.nominate(
            session,
            cohort_id,
            person_id,
            request.form.get("citation", "")[: nominations.MAX_CITATION + 1],
            [f.read(card.evidence_max_bytes + 1) for f in files],
            actor=current_staff().actor,
            cohorts=scope,
            max_bytes=card.evidence_max_bytes,
            max_files=card.evidence_max_files,
        )

    return _act_on_cohort(cohort_id, act, done="nominated", refused=ValidationFailed)


@bp.get("/classes/nominations/<int:nomination_id>/evidence/<int:evidence_id>")
@require("classes.reveal")
def class_nomination_evidence(nomination_id: int, evidence_id: int) -> Response:
    """A nomination's evidence file as a download, within the caller's scope (a 404 outside it, like the roster);
    evidence may hold personal data, so it takes ``classes.reveal`` like clear names, and every read is audited."""
    with runtime().db.session(write=True) as session:
        file = nominations.evidence(
            session, nomination_id, evidence_id, actor=current_staff().actor, cohorts=_scope(session)
        )
    extension = EXTENSIONS.get(file.media_type, "bin")
    response = Response(file.content, mimetype=file.media_type)
    name = f"nomination-{file.nomination_id}-evidence-{file.evidence_id}.{extension}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Length"] = str(len(file.content))
    return response


# --- the roster -------------------------------------------------------------------------------------------------


def _roster_page(cohort_id: int, *, clear: bool, error: str | None = None, status: int = 200) -> Page:
    after_text = request.values.get("after", "").strip()
    not_joined = request.values.get("not_joined") == "1"
    after = whole_number(after_text) if after_text else 0
    if after is None:
        raise ValidationFailed("bad after", user_message=T["classes_bad_query"])
    size = _page_size()
    with runtime().db.session() as session:
        cohort, _scope_ids = _cohort(session, cohort_id)
        people, more = coverage.roster(session, cohort, after_person_id=after, limit=size, not_joined=not_joined)
        waiting = vouching.members_waiting(session, cohort_id, cohorts=_scope_ids, limit=size) if not after else []
    rows = [
        {
            "person_id": c.person_id,
            "name": c.name if clear else mask("name", c.name),
            "student_no": c.student_no if clear else mask("student_no", c.student_no or ""),
            "joined": c.joined,
            "verified": c.verified,
            "flagged": c.flagged,
        }
        for c in people
    ]
    members = [
        {
            "id": m.membership_id,
            "name": (m.name if clear else mask("name", m.name)) if m.name is not None else None,
            "channel": m.channel,
            "flagged": m.flagged,
            "at": beijing(m.created_at),
        }
        for m in waiting
    ]
    links: dict[str, Any] = {"not_joined": 1} if not_joined else {}
    page = render_template(
        "admin/classes_roster.html",
        cohort=cohort,
        rows=rows,
        members=members,
        clear=clear,
        not_joined=not_joined,
        after=after_text,
        more=url_for("admin.class_roster", cohort_id=cohort_id, **links, after=people[-1].person_id) if more else None,
        first=url_for("admin.class_roster", cohort_id=cohort_id, **links) if after else None,
        can_reveal=_may("classes.reveal"),
        can_manage=_may("classes.manage"),
        error=error,
        notice=T["classes_vouched_ok"] if request.args.get("done") == "vouched" else None,
    )
    return _with_status(page, status)


@bp.get("/classes/<int:cohort_id>/roster")
@require("classes.view")
def class_roster(cohort_id: int) -> Page:
    return _roster_page(cohort_id, clear=False)


@bp.post("/classes/<int:cohort_id>/roster/reveal")
@require("classes.reveal")
def class_roster_reveal(cohort_id: int) -> Page:
    """The same roster page with names in clear, for this response only; audited with the reason first."""
    reason = request.form.get("reason", "").strip()[:200]
    with runtime().db.session(write=True) as session:
        _cohort(session, cohort_id)
        if reason:
            audit.record(
                session, actor=current_staff().actor, action="class.roster_reveal", cohort_id=cohort_id, reason=reason
            )
    if not reason:
        return _roster_page(cohort_id, clear=False, error=T["classes_reveal_reason"], status=400)
    return _roster_page(cohort_id, clear=True)


@bp.post("/classes/memberships/<int:membership_id>/vouch")
@require("classes.manage")
def class_vouch(membership_id: int) -> Redirect:
    with runtime().db.session(write=True) as session:
        member = membership.vouch(session, membership_id, actor=current_staff().actor, cohort_ids=_scope(session))
        cohort_id = member.cohort_id
    return redirect(url_for("admin.class_roster", cohort_id=cohort_id, done="vouched"))


# --- contact-change reports -------------------------------------------------------------------------------------


def _reports_page(*, error: str | None = None, status: int = 200) -> Page:
    cohort_text = request.args.get("cohort", "").strip()
    after_text = request.args.get("after", "").strip()
    cohort_id, after_id = (whole_number(v) if v else 0 for v in (cohort_text, after_text))
    if cohort_id is None or after_id is None:
        raise ValidationFailed("bad reports query", user_message=T["classes_bad_query"])
    clear = _may("classes.reveal")
    size = _page_size()
    with runtime().db.session(write=clear) as session:
        scope = _scope(session)
        label = None
        if cohort_text:
            cohort, _ = _cohort(session, cohort_id)
            scope, label = frozenset({cohort.id}), cohort.label
        found, more = reports.pending(session, keyring(), cohorts=scope, after_id=after_id, limit=size)
        if clear and found:  # reading contacts in clear is audited (ids only)
            audit.record(
                session,
                actor=current_staff().actor,
                action="class.reports_view",
                report_ids=[r.id for r in found],
            )
    links: dict[str, Any] = {"cohort": cohort_text} if cohort_text else {}
    page = render_template(
        "admin/classes_reports.html",
        rows=found,
        clear=clear,
        cohort_label=label,
        mask_name=lambda value: mask("name", value),
        can_manage=_may("classes.manage"),
        more=url_for("admin.class_reports", **links, after=found[-1].id) if more else None,
        error=error,
        notice=T[f"classes_report_{request.args.get('done')}"]
        if request.args.get("done") in ("applied", "rejected")
        else None,
        beijing=beijing,
    )
    return _with_status(page, status)


@bp.get("/classes/reports")
@require("classes.view")
def class_reports() -> Page:
    return _reports_page()


def _decide_report(report_id: int, *, apply: bool) -> Page:
    me = current_staff()
    try:
        with runtime().db.session(write=True) as session:
            reports.decide(
                session,
                keyring(),
                report_id,
                apply=apply,
                actor=me.actor,
                as_liaison=not any(role not in SCOPED_ROLES for role in me.roles),
                cohorts=_scope(session),
            )
    except NotFound:
        raise
    except XiaoyouError as exc:
        return _reports_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.class_reports", done="applied" if apply else "rejected"))


@bp.post("/classes/reports/<int:report_id>/confirm")
@require("classes.manage")
def class_report_confirm(report_id: int) -> Page:
    return _decide_report(report_id, apply=True)


@bp.post("/classes/reports/<int:report_id>/reject")
@require("classes.manage")
def class_report_reject(report_id: int) -> Page:
    return _decide_report(report_id, apply=False)


# --- card applications waiting for a liaison's vouch -----------------------------------------------------------


def _vouching_page(*, error: str | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        scope = _scope(session)
        found = vouching.waiting(session, cohorts=scope, limit=_page_size())
    done, app_id = request.args.get("done", ""), request.args.get("app", "")
    notice = None
    if done in ("approved", "rejected") and record_id(app_id) is not None:
        notice = T[f"review_{done}_ok"].format(id=record_id(app_id))
    page = render_template(
        "admin/classes_vouching.html",
        rows=found,
        scoped=scope is not None,
        can_manage=_may("classes.manage"),
        error=error,
        notice=notice,
        beijing=beijing,
    )
    return _with_status(page, status)


@bp.get("/classes/vouching")
@require("classes.view")
def class_vouching() -> Page:
    return _vouching_page()


@bp.post("/classes/vouching/<int:application_id>/approve")
@require("classes.manage")
def class_vouching_approve(application_id: int) -> Page:
    person = request.form.get("person_id", "").strip()
    try:
        if person and record_id(person) is None:
            raise ValidationFailed("not an id", user_message=T["invalid_id"])
        with runtime().db.session(write=True) as session:
            vouching.approve(
                session,
                runtime().settings.card,
                application_id,
                actor=current_staff().actor,
                cohorts=_scope(session),
                person_id=record_id(person) if person else None,
            )
    except NotFound:
        raise
    except XiaoyouError as exc:
        return _vouching_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.class_vouching", done="approved", app=application_id))


@bp.post("/classes/vouching/<int:application_id>/reject")
@require("classes.manage")
def class_vouching_reject(application_id: int) -> Page:
    try:
        with runtime().db.session(write=True) as session:
            vouching.reject(
                session,
                application_id,
                actor=current_staff().actor,
                reason=request.form.get("reason", "")[:255],
                cohorts=_scope(session),
            )
    except NotFound:
        raise
    except XiaoyouError as exc:
        return _vouching_page(error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.class_vouching", done="rejected", app=application_id))
