"""The console's help-desk pages (issue 12): the inbox (tabs mine, unassigned, overdue, escalated and all, with
counts, a category and status filter, the SLA due time, and a banner of the signed-in member's own near and overdue
inquiries: the console's side of the SLA reminders), an inquiry (its transcript in order with each reply's delivery
state, its media fetched through the gateway, and the forms of every step), logging a phone, letter, e-mail or
in-person inquiry (with a databank search to link the person), the monthly report with its chart, and linking one's
own WeChat (a one-time QR) so that reminders reach it.

Each view is guarded by ``require(permission)`` (``inquiries.view``, ``inquiries.handle``, ``inquiries.instruct``,
``inquiries.report``; linking one's WeChat: ``console.home``), parses its form or query and calls
``services.inquiries`` (``desk``, and ``delivery`` for replies and media). A refused step re-renders the inquiry page
with the service's message and status; an unknown inquiry is a 404. Revealing a logged requester's sealed name and
contact, and viewing a user's image or voice, are audited by the services.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import segno
from flask import Response, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response as Redirect

from admin import charts
from admin.blueprint import bp
from admin.context import gateway, keyring, runtime
from admin.guard import current_staff, require
from admin.pages import Page, beijing
from admin.params import record_id
from core import texts
from core.errors import NotFound, ValidationFailed, WeChatAPIError, WeChatUnavailable, XiaoyouError
from models.inquiry import CATEGORIES, PRIORITIES
from services import staff as staff_service
from services.databank import search
from services.databank.keys import mask
from services.inquiries import delivery, desk
from services.staff import wechat_link

T = texts.CONSOLE
REPORT_MONTHS = 12
_FORM_KEY = re.compile(r"^[0-9a-f]{32}$")
STEPS = ("assign", "category", "priority", "note", "escalate", "instruct", "close", "reopen", "reply", "logged")


def _may(permission: str) -> bool:
    return staff_service.allows(current_staff().roles, permission)


def _with_status(page: str, status: int) -> Page:
    return (page, status) if status != 200 else page


@bp.context_processor
def _inquiry_names() -> dict[str, Any]:
    return {
        "CATEGORY_NAMES": texts.INQUIRY_CATEGORY_NAMES,
        "PRIORITY_NAMES": texts.INQUIRY_PRIORITY_NAMES,
        "CHANNEL_NAMES": texts.INQUIRY_CHANNEL_NAMES,
        "INQUIRY_STATUS_NAMES": texts.INQUIRY_STATUS_NAMES,
    }


# --- the inbox ----------------------------------------------------------------------------------------------------


@bp.get("/inquiries")
@require("inquiries.view")
def inquiries_inbox() -> Page:
    rt = runtime()
    me = current_staff()
    can_handle = _may("inquiries.handle")
    tab = request.args.get("tab", "mine" if can_handle else "all")
    category = request.args.get("category", "").strip() or None
    status = request.args.get("status", "").strip() or None
    after = request.args.get("after", "").strip()[:80] or None
    error, status_code = None, 200
    with rt.db.session() as session:
        counts = desk.counts(session, rt.settings, me=me.id)
        try:
            page = desk.inbox(
                session,
                tab=tab,
                me=me.id,
                category=category,
                status=status,
                after=after,
                limit=rt.settings.admin.audit_page_size,  # 50 by default: a page staff can read
            )
        except ValidationFailed as exc:
            page, error, status_code = desk.InboxPage([], None), exc.user_message, exc.status
        linked = wechat_link.linked(session, me.id)
    filters: dict[str, Any] = {k: v for k, v in (("category", category), ("status", status)) if v}
    html = render_template(
        "inquiries/inbox.html",
        tabs=desk.TABS,
        tab=tab,
        counts=counts,
        page=page,
        category=category or "",
        status=status or "",
        categories=CATEGORIES,
        more=url_for("admin.inquiries_inbox", tab=tab, **filters, after=page.after) if page.after else None,
        first=url_for("admin.inquiries_inbox", tab=tab, **filters) if after else None,
        filters=filters,
        error=error,
        can_handle=can_handle,
        linked=linked,
        remind_hours=rt.settings.inquiries.remind_before_hours,
        beijing=beijing,
    )
    return _with_status(html, status_code)


# --- one inquiry --------------------------------------------------------------------------------------------------


def _inquiry_page(
    inquiry_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    requester: desk.Requester | None = None,
) -> Page:
    rt = runtime()
    with rt.db.session() as session:
        shown = desk.view(session, inquiry_id)
        handlers = desk.handlers(session) if _may("inquiries.handle") else []
    done = request.args.get("done", "") if request.method == "GET" else ""
    html = render_template(
        "inquiries/inquiry.html",
        shown=shown,
        inquiry=shown.inquiry,
        handlers=handlers,
        categories=CATEGORIES,
        priorities=PRIORITIES,
        can_handle=_may("inquiries.handle"),
        can_instruct=_may("inquiries.instruct"),
        requester=requester,
        error=error,
        notice=T.get(f"inquiry_done_{done}") if done in STEPS else None,
        event_names=texts.INQUIRY_EVENT_NAMES,
        delivery_name=_delivery_name,
        beijing=beijing,
        max_chars=desk.MAX_NOTE,
    )
    return _with_status(html, status)


def _delivery_name(state: str | None) -> str:
    if not state:
        return ""
    if state.startswith("failed:"):
        return texts.INQUIRY_DELIVERY_NAMES["failed"].format(code=state.removeprefix("failed:"))
    if state.startswith("notice_failed:"):
        return texts.INQUIRY_DELIVERY_NAMES["notice_failed"].format(code=state.removeprefix("notice_failed:"))
    return texts.INQUIRY_DELIVERY_NAMES.get(state, state)


@bp.get("/inquiries/<int:inquiry_id>")
@require("inquiries.view")
def inquiry_page(inquiry_id: int) -> Page:
    return _inquiry_page(inquiry_id)


@bp.get("/inquiries/<int:inquiry_id>/media/<int:event_id>")
@require("inquiries.view")
def inquiry_media(inquiry_id: int, event_id: int) -> Page | Response:
    """A user's image or voice message, fetched from WeChat now (audited); WeChat keeps it 3 days, after which the
    page says the media expired (410)."""
    rt = runtime()
    with rt.db.session(write=True) as session:
        desk.media_event(session, inquiry_id, event_id, actor=current_staff().actor)
    try:
        with rt.db.session() as session:
            content, media_type = delivery.fetch_media(session, gateway().official, inquiry_id, event_id)
    except delivery.MediaExpired as exc:
        return _inquiry_page(inquiry_id, error=exc.user_message, status=exc.status)
    except WeChatUnavailable:
        return _inquiry_page(inquiry_id, error=T["inquiry_wechat_unreachable"], status=503)
    except WeChatAPIError as exc:
        message = T["inquiry_wechat_refused"].format(errcode=exc.errcode, errmsg=exc.errmsg)
        return _inquiry_page(inquiry_id, error=message, status=502)
    safe = media_type if media_type.split("/")[0] in ("image", "audio", "voice") else "application/octet-stream"
    response = Response(content, mimetype=safe)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Length"] = str(len(content))
    return response


def _step(inquiry_id: int, done: str, act: Any) -> Page:
    """A form of the inquiry page: ``act(session)`` in one write unit, then back to the page with the ``done``
    notice; a refused step re-renders the page with its message and status (an unknown inquiry stays a 404)."""
    try:
        with runtime().db.session(write=True) as session:
            act(session)
    except NotFound:
        raise
    except XiaoyouError as exc:
        return _inquiry_page(inquiry_id, error=exc.user_message, status=exc.status)
    return redirect(url_for("admin.inquiry_page", inquiry_id=inquiry_id, done=done))


def _field(name: str, limit: int) -> str:
    return request.form.get(name, "")[: limit + 1]


@bp.post("/inquiries/<int:inquiry_id>/reply")
@require("inquiries.handle")
def inquiry_reply(inquiry_id: int) -> Page:
    rt = runtime()
    body = request.form.get("body", "")[: delivery.RECORD_MAX_CHARS * 4]
    event_id: list[int] = []

    def act(session: Any) -> None:
        event = delivery.reply(session, rt.settings, inquiry_id, body, actor=current_staff().actor)
        event_id.append(event.id)

    answer = _step(inquiry_id, "reply", act)
    if event_id:  # committed: send now, so the page shows how it went (what cannot go now is the outbox job's)
        gw = gateway()
        try:
            delivery.send_now(
                lambda: rt.db.session(write=True),
                delivery.Senders(gw.official, gw.official, gw.miniprogram),
                rt.settings,
                event_id[0],
            )
        except XiaoyouError as exc:  # e.g. no access token: the row stays queued for the outbox job
            return _inquiry_page(inquiry_id, error=T["inquiry_reply_queued"].format(reason=exc.code), status=200)
    return answer


@bp.post("/inquiries/<int:inquiry_id>/assign")
@require("inquiries.handle")
def inquiry_assign(inquiry_id: int) -> Page:
    value = request.form.get("assignee", "").strip()

    def act(session: Any) -> None:
        if value == "me":
            target: int | None = current_staff().id
        elif value == "":
            target = None
        else:
            target = record_id(value)
            if target is None:
                raise ValidationFailed("bad assignee", user_message=texts.INQUIRY_ERRORS["no_account"])
        desk.assign(session, inquiry_id, assignee_id=target, actor=current_staff().actor)

    return _step(inquiry_id, "assign", act)


@bp.post("/inquiries/<int:inquiry_id>/category")
@require("inquiries.handle")
def inquiry_category(inquiry_id: int) -> Page:
    category = request.form.get("category", "")[:32]
    return _step(
        inquiry_id,
        "category",
        lambda s: desk.set_category(s, runtime().settings, inquiry_id, category=category, actor=current_staff().actor),
    )


@bp.post("/inquiries/<int:inquiry_id>/priority")
@require("inquiries.handle")
def inquiry_priority(inquiry_id: int) -> Page:
    priority = request.form.get("priority", "")[:16]
    return _step(
        inquiry_id,
        "priority",
        lambda s: desk.set_priority(s, inquiry_id, priority=priority, actor=current_staff().actor),
    )


@bp.post("/inquiries/<int:inquiry_id>/note")
@require("inquiries.handle")
def inquiry_note(inquiry_id: int) -> Page:
    body = _field("body", desk.MAX_NOTE)
    return _step(inquiry_id, "note", lambda s: desk.note(s, inquiry_id, body=body, actor=current_staff().actor))


@bp.post("/inquiries/<int:inquiry_id>/escalate")
@require("inquiries.handle")
def inquiry_escalate(inquiry_id: int) -> Page:
    body = _field("body", desk.MAX_NOTE)
    return _step(inquiry_id, "escalate", lambda s: desk.escalate(s, inquiry_id, body=body, actor=current_staff().actor))


@bp.post("/inquiries/<int:inquiry_id>/instruct")
@require("inquiries.instruct")
def inquiry_instruct(inquiry_id: int) -> Page:
    body = _field("body", desk.MAX_NOTE)
    return _step(inquiry_id, "instruct", lambda s: desk.instruct(s, inquiry_id, body=body, actor=current_staff().actor))


@bp.post("/inquiries/<int:inquiry_id>/close")
@require("inquiries.handle")
def inquiry_close(inquiry_id: int) -> Page:
    resolution = _field("resolution", desk.MAX_NOTE)
    return _step(
        inquiry_id,
        "close",
        lambda s: desk.close(s, inquiry_id, resolution=resolution, actor=current_staff().actor),
    )


@bp.post("/inquiries/<int:inquiry_id>/reopen")
@require("inquiries.handle")
def inquiry_reopen(inquiry_id: int) -> Page:
    reason = _field("reason", desk.MAX_NOTE)
    return _step(inquiry_id, "reopen", lambda s: desk.reopen(s, inquiry_id, reason=reason, actor=current_staff().actor))


@bp.post("/inquiries/<int:inquiry_id>/requester")
@require("inquiries.handle")
def inquiry_requester(inquiry_id: int) -> Page:
    """The logged requester's name and contact in clear, for this response only (audited)."""
    with runtime().db.session(write=True) as session:
        found = desk.requester(session, keyring(), inquiry_id, actor=current_staff().actor)
    if found is None:
        return _inquiry_page(inquiry_id, error=T["inquiry_no_requester"], status=404)
    return _inquiry_page(inquiry_id, requester=found)


# --- logging a phone, letter, e-mail or in-person inquiry -----------------------------------------------------------


def _log_page(*, error: str | None = None, status: int = 200, form: dict[str, str] | None = None) -> Page:
    rt = runtime()
    values = dict(form or {})
    q = request.args.get("q", "").strip()[:64]
    found: list[search.PersonSummary] | None = None
    search_error = None
    person = record_id(values.get("person_id", "") or request.args.get("person_id", ""))
    chosen = None
    with rt.db.session() as session:
        if q:
            try:
                found = search.search(session, rt.settings.databank, q=q, per_page=10).items
            except ValidationFailed as exc:
                search_error = exc.user_message
        if person is not None:
            summaries = search.summaries(session, [person])
            chosen = summaries[0] if summaries else None
    html = render_template(
        "inquiries/log.html",
        q=q,
        found=found,
        search_error=search_error,
        chosen=chosen,
        form=values,
        form_key=values.get("form_key") or uuid.uuid4().hex,
        channels=desk.STAFF_CHANNELS,
        categories=CATEGORIES,
        priorities=PRIORITIES,
        error=error,
        max_chars=desk.MAX_CHARS,
        mask_student_no=lambda value: mask("student_no", value),
    )
    return _with_status(html, status)


@bp.get("/inquiries/new")
@require("inquiries.handle")
def inquiry_log_form() -> Page:
    return _log_page()


@bp.post("/inquiries/new")
@require("inquiries.handle")
def inquiry_log() -> Page:
    form = {k: request.form.get(k, "")[:2000] for k in (
        "channel", "question", "person_id", "requester_name", "requester_contact", "category", "priority", "form_key"
    )}  # fmt: skip
    rt = runtime()
    try:
        person_text = form["person_id"].strip()
        person_id = record_id(person_text) if person_text else None
        if person_text and person_id is None:
            raise ValidationFailed("bad person", user_message=texts.INQUIRY_ERRORS["person"])
        key = form["form_key"].strip()
        with rt.db.session(write=True) as session:
            inquiry = desk.log_inquiry(
                session,
                rt.settings,
                keyring(),
                channel=form["channel"],
                question=form["question"][: desk.MAX_CHARS + 1],
                actor=current_staff().actor,
                person_id=person_id,
                requester_name=form["requester_name"][:65],
                requester_contact=form["requester_contact"][:129],
                category=form["category"] or "other",
                priority=form["priority"] or "normal",
                source_key=f"staff:{key}" if _FORM_KEY.match(key) else None,
            )
            inquiry_id = inquiry.id
    except XiaoyouError as exc:
        return _log_page(error=exc.user_message, status=exc.status, form=form)
    return redirect(url_for("admin.inquiry_page", inquiry_id=inquiry_id, done="logged"))


# --- the report -----------------------------------------------------------------------------------------------------


@bp.get("/inquiries/report")
@require("inquiries.report")
def inquiries_report() -> Page:
    today = datetime.now(UTC).date()
    months_back = today.year * 12 + today.month - 1 - (REPORT_MONTHS - 1)
    first = date(months_back // 12, months_back % 12 + 1, 1)
    with runtime().db.session() as session:
        rows = desk.report(session, since=first, until=today)
    months = desk.months(first, today)
    totals = {m: 0 for m in months}
    within = {m: 0 for m in months}
    table: dict[tuple[str, str], desk.MonthRow] = {}
    for row in rows:
        if row.month in totals:
            totals[row.month] += row.total
            within[row.month] += row.within_sla
        table[(row.month, row.category)] = row
    short = [m[2:].replace("-", "/") for m in months]
    volume = charts.bars(
        short,
        [totals[m] for m in months],
        [T["inquiry_report_point"].format(month=m, value=f"{totals[m]:,}") for m in months],
    )
    share = charts.bars(
        short,
        [round(100 * within[m] / totals[m]) if totals[m] else 0 for m in months],
        [
            T["inquiry_report_share_point"].format(
                month=m, share=round(100 * within[m] / totals[m]) if totals[m] else 0, within=within[m], total=totals[m]
            )
            for m in months
        ],
    )
    return render_template(
        "inquiries/report.html",
        months=list(reversed(months)),
        categories=CATEGORIES,
        table=table,
        totals=totals,
        within=within,
        volume_chart=volume,
        share_chart=share,
        month_count=len(months),
    )


# --- linking one's own WeChat -----------------------------------------------------------------------------------------


def _link_page(*, qr: str | None = None, error: str | None = None, status: int = 200) -> Page:
    with runtime().db.session() as session:
        linked = wechat_link.linked(session, current_staff().id)
    image = Markup(segno.make(qr, error="m").svg_inline(scale=4)) if qr else None  # noqa: S704 - paths only
    done = request.args.get("done", "")
    html = render_template(
        "inquiries/wechat.html",
        linked=linked,
        qr=image,
        minutes=wechat_link.TOKEN_TTL // 60,
        error=error,
        notice=T["inquiry_wechat_unlinked"] if done == "unlinked" else None,
    )
    return _with_status(html, status)


@bp.get("/inquiries/wechat")
@require("console.home")
def inquiry_wechat() -> Page:
    return _link_page()


@bp.post("/inquiries/wechat")
@require("console.home")
def inquiry_wechat_qr() -> Page:
    try:
        with runtime().db.session() as session:
            url = wechat_link.start(session, keyring(), gateway().official, current_staff().id)
    except WeChatUnavailable:
        return _link_page(error=T["inquiry_wechat_unreachable"], status=503)
    except WeChatAPIError as exc:
        return _link_page(error=T["inquiry_wechat_refused"].format(errcode=exc.errcode, errmsg=exc.errmsg), status=502)
    return _link_page(qr=url)


@bp.post("/inquiries/wechat/unlink")
@require("console.home")
def inquiry_wechat_unlink() -> Redirect:
    with runtime().db.session(write=True) as session:
        wechat_link.unlink(session, current_staff().id, actor=current_staff().actor)
    return redirect(url_for("admin.inquiry_wechat", done="unlinked"))
